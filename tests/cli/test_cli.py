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
    assert "layer  5: global" in r.stdout and "layer 17: global" in r.stdout
    assert "layer  4: sliding" in r.stdout


def test_bench_json_has_both_tests():
    r = run("bench", "--n-prompt", "16", "--n-gen", "4", "--repetitions", "1", "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["test"] for row in rows] == ["pp16", "tg4"]
    assert all(row["avg_ts"] > 0 for row in rows)


SYNTHETIC_270M = os.path.join(os.path.dirname(__file__), "../../configs/models/gemma3-270m.json")


def run_synthetic(*args):
    return subprocess.run([BIN, "bench", "--synthetic", SYNTHETIC_270M, "--n-prompt", "16",
                           "--n-gen", "4", "--repetitions", "1", "--device", "cpu", *args],
                          capture_output=True, text=True, timeout=300)


def test_bench_synthetic_table_has_pp_and_tg_rows():
    r = run_synthetic()
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "| model | size | params | backend | threads | test | t/s |"
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    assert [row[5] for row in rows] == ["pp16", "tg4"]
    for row in rows:
        assert row[0] == "gemma3-270m" and row[3] == "cpu"
        assert float(row[2].split()[0]) > 250  # millions of parameters, as the real file has
        assert float(row[6].split()[0]) > 0
    assert "backend: cpu" in r.stderr


def test_bench_synthetic_json_names_the_backend_and_weight_type():
    r = run_synthetic("--json", "--weight-type", "q8_0", "--seed", "3")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["test"] for row in rows] == ["pp16", "tg4"]
    for row in rows:
        assert row["avg_ts"] > 0
        assert row["backend"].startswith("cpu")
        assert row["synthetic"] is True and row["weight_type"] == "q8_0"


def test_bench_concurrency_reports_throughput_and_latencies():
    r = run_synthetic("--concurrency", "4", "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 1
    row = rows[0]
    assert row["test"] == "c4_pp16_tg4" and row["concurrency"] == 4
    assert row["output_ts"] > 0 and row["ttft_ms"] > 0 and row["itl_ms"] > 0
    # The table form: one header, one separator, one row.
    t = run_synthetic("--concurrency", "4")
    assert t.returncode == 0, t.stderr
    lines = t.stdout.strip().splitlines()
    assert len(lines) == 3 and "output t/s" in lines[0] and "TTFT ms" in lines[0]


def test_bench_concurrency_works_on_the_real_model():
    r = run("bench", "--n-prompt", "8", "--n-gen", "3", "--repetitions", "1", "--concurrency", "2",
            "--json")
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)
    assert row["test"] == "c2_pp8_tg3" and row["output_ts"] > 0


@pytest.mark.parametrize("args,message", [
    (("--weight-type", "q3_k"), "unknown weight type"),
    (("--device", "tpu"), "unknown device"),
    (("--concurrency", "0"), "--concurrency"),
])
def test_bench_synthetic_bad_flags_exit_2(args, message):
    r = run_synthetic(*args)
    assert r.returncode == 2
    assert message in r.stderr


def test_bench_synthetic_bad_config_names_the_field(tmp_path):
    bad = tmp_path / "shape.json"
    bad.write_text(json.dumps({"num_layers": 2, "hidden": 64, "ffn_hidden": 128, "num_heads": 3,
                               "num_kv_heads": 2, "head_dim": 32, "num_vocab": 100,
                               "context_length": 128}))
    r = subprocess.run([BIN, "bench", "--synthetic", str(bad)], capture_output=True, text=True)
    assert r.returncode == 1
    assert "shape.json" in r.stderr and "num_kv_heads" in r.stderr
    bad.write_text(json.dumps({"num_layers": 2, "hiden": 64}))
    r = subprocess.run([BIN, "bench", "--synthetic", str(bad)], capture_output=True, text=True)
    assert r.returncode == 1 and "unknown field 'hiden'" in r.stderr


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


def test_device_cuda_without_a_gpu_fails_clearly_and_auto_falls_back():
    args = ("generate", "--prompt", "Hello", "--max-tokens", "2", "--temperature", "0")
    cuda = run(*args, "--device", "cuda")
    if cuda.returncode == 0:
        pytest.skip("this machine has a usable GPU")
    assert cuda.returncode == 1
    assert "cuda" in cuda.stderr.lower() or "device" in cuda.stderr.lower(), cuda.stderr
    auto = run(*args, "--device", "auto")
    assert auto.returncode == 0, auto.stderr
    assert auto.stderr.count("running on the CPU") == 1, auto.stderr
    assert "cpu, " in auto.stderr  # the speed line names the backend
    cpu = run(*args, "--device", "cpu")
    assert cpu.returncode == 0 and "running on the CPU" not in cpu.stderr
    assert cpu.stdout == auto.stdout
