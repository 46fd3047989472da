#!/usr/bin/env python3
"""The server end to end on the GPU: scripts/gpu-check.sh runs it on a lent GPU machine.

Starts `gemma-serve serve` twice on the tiny head-dim-256 model (tests/fixtures/
tiny_gemma3_d256.gguf; no real checkpoint fits in what travels to the device), once with
`--device cuda` and once with `--device cpu`, sends the same requests to both (greedy and seeded
completions, streamed and not, n=2, logprobs, a repetition penalty) and checks that every
request succeeds on the GPU, streams well-formed events, and that greedy completions agree with
the CPU's (the logits agree to a few 1e-3, so a near-tie may still flip a token: the agreement
is printed and must reach 3 of 4 prompts). Standard library only (the device has no openai SDK).

    python3 tests/gpu/serve_smoke.py BINARY [--devices cuda,cpu]

Prints one JSON line for the results table; exits non-zero on a failure.
"""
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "../fixtures/tiny_gemma3_d256.gguf")
PROMPTS = [[2, 17, 230, 41, 99], [2, 400, 401, 402], [2] + list(range(10, 60)), [2, 7]]


class Server:
    def __init__(self, binary, device):
        self.proc = subprocess.Popen(
            [binary, "serve", "--model", MODEL, "--port", "0", "--device", device,
             "--kv-cache-mb", "64"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines, self.port = [], None
        threading.Thread(target=self._read, daemon=True).start()
        for _ in range(600):
            if self.port and self._healthy():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"the {device} server did not come up:\n" + "".join(self.lines))

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            m = re.search(r"listening on http://[^:]+:(\d+)", line)
            if m and self.port is None:
                self.port = int(m.group(1))

    def _healthy(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                return r.status == 200
        except Exception:
            return False

    def post(self, body):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/v1/completions",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read().decode()
        if body.get("stream"):
            events = [line[6:] for line in raw.splitlines() if line.startswith("data: ")]
            assert events and events[-1] == "[DONE]", raw[-200:]
            return [json.loads(e) for e in events[:-1]]
        return json.loads(raw)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def greedy(server, prompt):
    out = server.post({"prompt": prompt, "max_tokens": 16, "temperature": 0, "logprobs": 2,
                       "ignore_eos": True})
    choice = out["choices"][0]
    assert out["usage"]["completion_tokens"] == 16, out["usage"]
    assert len(choice["logprobs"]["tokens"]) == 16
    assert all(lp <= 0 for lp in choice["logprobs"]["token_logprobs"])
    return choice["text"]


def exercise(server):
    """Everything but the greedy comparison: must simply work."""
    out = server.post({"prompt": PROMPTS[0], "max_tokens": 12, "temperature": 0.8, "seed": 5,
                       "n": 2, "ignore_eos": True})
    assert len(out["choices"]) == 2 and out["usage"]["completion_tokens"] == 24, out
    again = server.post({"prompt": PROMPTS[0], "max_tokens": 12, "temperature": 0.8, "seed": 5,
                         "n": 2, "ignore_eos": True})
    assert [c["text"] for c in again["choices"]] == [c["text"] for c in out["choices"]]
    chunks = server.post({"prompt": PROMPTS[1], "max_tokens": 10, "temperature": 0,
                          "stream": True, "ignore_eos": True,
                          "stream_options": {"include_usage": True}})
    assert chunks[-1]["usage"]["completion_tokens"] == 10, chunks[-1]
    text = "".join(c["choices"][0]["text"] for c in chunks if c["choices"])
    assert text == greedy_text_10(server), text
    server.post({"prompt": PROMPTS[2], "max_tokens": 8, "temperature": 0,
                 "repetition_penalty": 1.3, "ignore_eos": True})


def greedy_text_10(server):
    return server.post({"prompt": PROMPTS[1], "max_tokens": 10, "temperature": 0,
                        "ignore_eos": True})["choices"][0]["text"]


def main():
    binary = sys.argv[1]
    devices = (sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--devices"
               else "cuda,cpu").split(",")
    servers = {}
    try:
        for device in devices:
            servers[device] = Server(binary, device)
        texts = {d: [greedy(s, p) for p in PROMPTS] for d, s in servers.items()}
        for s in servers.values():
            exercise(s)
        first, second = devices
        same = sum(a == b for a, b in zip(texts[first], texts[second]))
        print(json.dumps({"name": "serve_smoke_greedy_agreement", "value": same,
                          "unit": f"of {len(PROMPTS)} prompts", "devices": devices}))
        if same < len(PROMPTS) - 1:
            print(f"greedy completions differ: {texts}", file=sys.stderr)
            return 1
        return 0
    finally:
        for s in servers.values():
            s.stop()


if __name__ == "__main__":
    sys.exit(main())
