"""The gemma-serve binary as a user runs it, on the real default model."""
import json
import os
import subprocess

import pytest

BIN = os.environ.get("GS_BIN", os.path.join(os.path.dirname(__file__), "../../build/server/gemma-serve"))
MODEL = os.environ.get("GS_MODEL_PATH") or open(
    os.path.join(os.path.dirname(__file__), "../../.model-path")).read().strip()
GOLDEN = os.path.join(os.path.dirname(__file__), "../golden")


def run(*args, stdin=None):
    return subprocess.run([BIN, *args, "--model", MODEL], input=stdin, capture_output=True,
                          text=True, timeout=300)


def test_tokenize_json_matches_llama_cpp():
    golden = json.load(open(os.path.join(GOLDEN, "tokenize.json"), encoding="utf-8"))
    for entry in golden["strings"][:20]:
        r = run("tokenize", "--prompt-file", "-", "--json", stdin=entry["text"])
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["tokens"] == entry["ids"]
        assert out["count"] == len(entry["ids"])


def test_generate_greedy_is_deterministic_and_reports_speed():
    args = ("generate", "--prompt", "The capital of France is", "--temperature", "0",
            "--max-tokens", "8", "--threads", "2")
    a, b = run(*args), run(*args)
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout
    assert a.stdout.strip().startswith("the capital of")
    assert "generation: 8 tokens" in a.stderr and "tokens/s" in a.stderr


def test_generate_sampling_follows_the_seed():
    def sample(seed):
        r = run("generate", "--chat", "Name a color.", "--temperature", "1.0", "--seed", str(seed),
                "--max-tokens", "12", "--ignore-eos")
        assert r.returncode == 0, r.stderr
        return r.stdout
    assert sample(1) == sample(1)
    assert len({sample(s) for s in (1, 2, 3)}) > 1


def test_info_reads_the_metadata():
    r = run("info")
    assert r.returncode == 0, r.stderr
    assert "gemma3" in r.stdout and "236 tensors" in r.stdout
    assert "global layers: 5 11 17" in r.stdout


def test_bench_json_has_both_tests():
    r = run("bench", "--n-prompt", "16", "--n-gen", "4", "--repetitions", "1", "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["test"] for row in rows] == ["pp16", "tg4"]
    assert all(row["avg_ts"] > 0 for row in rows)


@pytest.mark.parametrize("args", [
    ("generate", "--prompt", "x", "--temperature", "-1"),
    ("generate", "--prompt", "x", "--max-tokens", "lots"),
    ("generate", "--prompt", "x", "--no-such-flag", "1"),
    ("generate",),
    ("tokenize", "--prompt", "x", "--prompt-file", "y"),
])
def test_bad_flags_exit_2_with_a_message(args):
    r = run(*args)
    assert r.returncode == 2
    assert "gemma-serve" in r.stderr


def test_a_file_that_is_not_gguf_is_refused_cleanly(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 64)
    r = subprocess.run([BIN, "info", "--model", str(bad)], capture_output=True, text=True)
    assert r.returncode == 1
    assert "bad.gguf" in r.stderr
