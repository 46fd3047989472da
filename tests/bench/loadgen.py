#!/usr/bin/env python3
"""Serving-speed load generator for gemma-serve (or any OpenAI-compatible server with /tokenize).

Sends seeded, streamed /v1/completions requests at each of several concurrency levels in turn and
reports, per level: output tokens/s (aggregate), requests/s, TTFT p50/p99, inter-token latency
p50/p99 (gaps between streamed chunks), total time and errors, as a markdown table and,
optionally, JSON. Every request asks for exactly --output-len tokens (max_tokens with
"ignore_eos": true). With --ttft-prefix N it instead measures the time to first token of a
request whose N-token prefix another request has just sent (warm) against one whose prefix of the
same length is new (cold).

Needs only the project's venv (httpx2). Examples, from the repository root:

  .venv/bin/python tests/bench/loadgen.py --start --server-flags "--threads 2" \\
      --concurrency 1,4,16 --num-requests 32 --input-len 256 --output-len 128
  .venv/bin/python tests/bench/loadgen.py --base-url http://127.0.0.1:8080 --shared-prefix 192
  .venv/bin/python tests/bench/loadgen.py --start --ttft-prefix 1024
"""
import argparse
import asyncio
import json
import math
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import threading
import time

import httpx2 as httpx

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Common words, nearly all one token each (with their leading space) in Gemma's vocabulary, so a
# prompt of n words is about n tokens; make_text() trims or extends to the count /tokenize gives.
WORDS = ("the a river stone quiet morning light over across under city garden window old new "
         "small large green blue red north south road field house bridge tower market harbor "
         "ship sail wind rain snow summer winter evening night star moon sun cloud forest hill "
         "valley lake mountain village people child teacher music story letter book paper table "
         "chair door wall street train station clock minute hour year walks runs sings writes "
         "reads builds carries opens closes finds keeps brings slowly quickly often never always "
         "together alone because while after before water fire stone glass iron gold silver "
         "bread milk apple orange horse bird fish dog cat king queen soldier farmer doctor").split()


# --- the server -------------------------------------------------------------------------------

class StartedServer:
    """gemma-serve on a free port (like tests/e2e/conftest.py), stopped with SIGTERM."""

    def __init__(self, binary, model, flags):
        cmd = [binary, "serve", "--model", model, "--port", "0", *flags]
        print("starting:", " ".join(shlex.quote(c) for c in cmd), file=sys.stderr)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines = []
        self.port = None
        ready = threading.Event()

        def pump():
            for line in self.proc.stdout:
                self.lines.append(line)
                m = re.search(r"on http://[^\s:]+:(\d+)", line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(120) or not self.port:
            self.stop()
            raise SystemExit("the server did not start:\n" + "".join(self.lines[-30:]))
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit("the server exited:\n" + "".join(self.lines[-30:]))
            time.sleep(0.1)
        self.stop()
        raise SystemExit("the server never became healthy")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


# --- prompts ----------------------------------------------------------------------------------

class Prompts:
    def __init__(self, base_url, headers, model):
        # Connection: close: set-up and /metrics requests leave no idle connection beside the
        # measured ones (and none that would hold up the server's shutdown).
        self.http = httpx.Client(base_url=base_url, headers={**headers, "Connection": "close"},
                                 timeout=60)
        self.model = model
        self.max_model_len = None

    def tokenize(self, text):
        body = {"prompt": text}
        if self.model:
            body["model"] = self.model
        r = self.http.post("/tokenize", json=body)
        if r.status_code >= 400 or not r.json().get("tokens"):
            # llama-server's field names, for a same-run baseline against llama.cpp.
            r = self.http.post("/tokenize", json={"content": text, "add_special": True})
        r.raise_for_status()
        j = r.json()
        self.max_model_len = j.get("max_model_len", self.max_model_len)
        return j["tokens"]

    def make_text(self, rng, num_tokens, lead=""):
        """`lead` followed by seeded random words, tokenizing to num_tokens tokens (BOS and lead
        included; a few iterations against /tokenize, exact unless word boundaries prevent it)."""
        base = len(self.tokenize(lead)) if lead else 1  # BOS
        words = [rng.choice(WORDS) for _ in range(max(1, num_tokens - base))]
        sep = " " if lead else ""
        for _ in range(8):
            n = len(self.tokenize(lead + sep + " ".join(words)))
            if n == num_tokens:
                break
            if n < num_tokens:
                words += [rng.choice(WORDS) for _ in range(num_tokens - n)]
            elif len(words) > 1:
                del words[max(1, len(words) - (n - num_tokens)):]
            else:
                break
        return lead + sep + " ".join(words)

    def close(self):
        self.http.close()


def build_prompts(p, seed, label, count, input_len, shared_prefix):
    """count prompts of ~input_len tokens; with shared_prefix N each starts with the same N-token
    prefix (the same for every label) and goes on with its own words."""
    prefix = ""
    if shared_prefix:
        prefix = p.make_text(random.Random(f"{seed}-prefix"), shared_prefix)
    rng = random.Random(f"{seed}-{label}")
    out = []
    for _ in range(count):
        if prefix:
            out.append(p.make_text(rng, input_len, lead=prefix))
        else:
            out.append(p.make_text(rng, input_len))
    return prefix, out


def check_shared_prefix(p, prefix, prompts):
    """How many prompts really start with the prefix's tokens (a merge across the boundary would
    make a token-level prefix cache miss)."""
    pre = p.tokenize(prefix)
    return sum(p.tokenize(t)[:len(pre)] == pre for t in prompts)


# --- one streamed request ---------------------------------------------------------------------

async def stream_one(client, model, prompt, max_tokens, extra):
    """One streamed completion: its send time, chunk arrival times, token counts, error."""
    body = {"model": model or "", "prompt": prompt, "max_tokens": max_tokens, "stream": True,
            "stream_options": {"include_usage": True}, "ignore_eos": True, **extra}
    rec = {"start": time.perf_counter(), "chunks": [], "output_tokens": 0, "prompt_tokens": 0,
           "cached_tokens": None, "error": None, "end": None}
    try:
        async with client.stream("POST", "/v1/completions", json=body) as r:
            if r.status_code != 200:
                text = (await r.aread()).decode("utf-8", "replace")
                try:
                    msg = json.loads(text)["error"]
                    rec["error"] = f"{r.status_code} {msg.get('code') or msg.get('type')}"
                except (ValueError, KeyError, TypeError):
                    rec["error"] = f"{r.status_code} {text[:80]}"
                return rec
            async for line in r.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                t = time.perf_counter()
                j = json.loads(data)
                if "error" in j:
                    rec["error"] = "stream error: " + str(j["error"].get("message", ""))[:80]
                    break
                if any(c.get("text") for c in j.get("choices") or []):
                    rec["chunks"].append(t)
                u = j.get("usage")
                if u:
                    rec["output_tokens"] = u.get("completion_tokens", 0)
                    rec["prompt_tokens"] = u.get("prompt_tokens", 0)
                    rec["cached_tokens"] = (u.get("prompt_tokens_details") or {}).get(
                        "cached_tokens")
    except (httpx.HTTPError, ValueError) as e:
        rec["error"] = f"{type(e).__name__}: {e}"[:120]
    rec["end"] = time.perf_counter()
    if rec["error"] is None and not rec["chunks"]:
        rec["error"] = "no tokens"
    if rec["error"] is None and rec["output_tokens"] != max_tokens:
        rec["error"] = f"{rec['output_tokens']} tokens instead of {max_tokens}"
    return rec


# --- statistics -------------------------------------------------------------------------------

def percentile(values, q):
    """Linear interpolation between closest ranks (numpy's default); None when empty."""
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def ms(x):
    return None if x is None else round(x * 1000, 2)


def read_metrics(http):
    """gemma_serve counters (name -> value summed over labels), or {} when unreadable."""
    try:
        r = http.get("/metrics", timeout=10)
        if r.status_code != 200:
            return {}
    except httpx.HTTPError:
        return {}
    out = {}
    for line in r.text.splitlines():
        if line.startswith("gemma_serve:") and not line.startswith("#"):
            name = line.split("{", 1)[0].split(" ", 1)[0][len("gemma_serve:"):]
            try:
                out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
            except ValueError:
                pass
    return out


async def run_level(base_url, headers, model, prompts, concurrency, output_len, extra):
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits,
                                 timeout=httpx.Timeout(None)) as client:
        queue = list(enumerate(prompts))
        queue.reverse()
        results = [None] * len(prompts)

        async def worker():
            while queue:
                i, prompt = queue.pop()
                results[i] = await stream_one(client, model, prompt, output_len, extra)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(prompts)))))
        wall = time.perf_counter() - t0
    return results, wall


def summarize(concurrency, results, wall):
    ok = [r for r in results if r["error"] is None]
    errors = {}
    for r in results:
        if r["error"] is not None:
            errors[r["error"]] = errors.get(r["error"], 0) + 1
    ttft = [r["chunks"][0] - r["start"] for r in ok]
    itl = [b - a for r in ok for a, b in zip(r["chunks"], r["chunks"][1:])]
    tpot = [(r["end"] - r["chunks"][0]) / (r["output_tokens"] - 1)
            for r in ok if r["output_tokens"] > 1]
    e2e = [r["end"] - r["start"] for r in ok]
    out_tokens = sum(r["output_tokens"] for r in ok)
    row = {
        "concurrency": concurrency,
        "requests": len(results),
        "completed": len(ok),
        "errors": len(results) - len(ok),
        "error_kinds": errors,
        "total_time_s": round(wall, 3),
        "output_tokens": out_tokens,
        "prompt_tokens": sum(r["prompt_tokens"] for r in ok),
        "output_tok_s": round(out_tokens / wall, 2) if wall > 0 else None,
        "req_s": round(len(ok) / wall, 3) if wall > 0 else None,
        "ttft_ms_p50": ms(percentile(ttft, 50)),
        "ttft_ms_p99": ms(percentile(ttft, 99)),
        "itl_ms_p50": ms(percentile(itl, 50)),
        "itl_ms_p99": ms(percentile(itl, 99)),
        "tpot_ms_mean": ms(sum(tpot) / len(tpot)) if tpot else None,
        "e2e_ms_p50": ms(percentile(e2e, 50)),
        "chunks_per_request": round(sum(len(r["chunks"]) for r in ok) / len(ok), 2) if ok else 0,
        "cached_tokens": sum(r["cached_tokens"] or 0 for r in ok),
    }
    # Prompt tokens the server reports it took from its prefix cache (usage.prompt_tokens_details).
    row["cached_pct"] = (round(100 * row["cached_tokens"] / row["prompt_tokens"], 1)
                         if row["prompt_tokens"] else None)
    return row


def fmt(x):
    return "-" if x is None else (f"{x:.1f}" if isinstance(x, float) else str(x))


def print_table(rows):
    cols = [("concurrency", "conc"), ("completed", "ok"), ("errors", "errors"),
            ("output_tok_s", "out tok/s"), ("req_s", "req/s"), ("ttft_ms_p50", "TTFT p50 ms"),
            ("ttft_ms_p99", "TTFT p99 ms"), ("itl_ms_p50", "ITL p50 ms"),
            ("itl_ms_p99", "ITL p99 ms"), ("total_time_s", "total s"),
            ("cached_pct", "cached %"), ("preemptions", "preempt")]
    print("| " + " | ".join(h for _, h in cols) + " |")
    print("| " + " | ".join("---:" for _ in cols) + " |")
    for r in rows:
        cells = [f"{r[k]:.3f}" if k == "req_s" and r[k] is not None else
                 str(int(r[k])) if k == "preemptions" and r[k] is not None else fmt(r.get(k))
                 for k, _ in cols]
        print("| " + " | ".join(cells) + " |")
    for r in rows:
        if r["error_kinds"]:
            print(f"\nconcurrency {r['concurrency']} errors: {r['error_kinds']}")


# --- TTFT with a just-sent prefix -------------------------------------------------------------

async def ttft_prefix(args, base_url, headers, p):
    """Per trial: a cold request (a new N-token prefix plus a suffix), then a priming request with
    another new prefix, then, once it has finished, the warm request: the primed prefix with a
    different suffix. Greedy, --ttft-output-len tokens each; only TTFT is compared."""
    n, suffix = args.ttft_prefix, args.ttft_suffix
    # Seeded, but also by the time: a rerun against the same server must not find its "cold"
    # prefixes cached from the previous run.
    nonce = time.time_ns()
    rng = random.Random(f"{args.seed}-ttft-{nonce}")
    trials = []
    async with httpx.AsyncClient(base_url=base_url, headers=headers,
                                 timeout=httpx.Timeout(None)) as client:
        async def ttft(text):
            r = await stream_one(client, args.model, text, args.ttft_output_len,
                                 {"temperature": 0})
            if r["error"]:
                raise SystemExit(f"request failed: {r['error']}")
            return r["chunks"][0] - r["start"], r["cached_tokens"]

        for i in range(args.ttft_trials):
            cold_prefix = p.make_text(rng, n)
            cold_t, cold_cached = await ttft(p.make_text(rng, n + suffix, lead=cold_prefix))
            warm_prefix = p.make_text(rng, n)
            prime_t, _ = await ttft(p.make_text(rng, n + suffix, lead=warm_prefix))
            warm_t, warm_cached = await ttft(p.make_text(rng, n + suffix, lead=warm_prefix))
            trials.append({"cold_ms": ms(cold_t), "prime_ms": ms(prime_t), "warm_ms": ms(warm_t),
                           "cold_cached_tokens": cold_cached, "warm_cached_tokens": warm_cached})
            print(f"trial {i}: cold {ms(cold_t)} ms, priming {ms(prime_t)} ms, "
                  f"warm {ms(warm_t)} ms (cached tokens: cold {cold_cached}, "
                  f"warm {warm_cached})", file=sys.stderr)
    cold = percentile([t["cold_ms"] for t in trials], 50)
    warm = percentile([t["warm_ms"] for t in trials], 50)
    return {"prefix_tokens": n, "suffix_tokens": suffix, "nonce": nonce, "trials": trials,
            "cold_ttft_ms_p50": cold, "warm_ttft_ms_p50": warm,
            "cold_over_warm": round(cold / warm, 3) if warm else None}


# --- main -------------------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--base-url", help="a running server, e.g. http://127.0.0.1:8080")
    where.add_argument("--start", action="store_true",
                       help="start build/server/gemma-serve on a free port, stop it at the end")
    ap.add_argument("--server-flags", default="",
                    help='extra flags for --start, one string: "--threads 2 --max-num-seqs 64" '
                         '(one flag alone: --server-flags="--no-prefix-caching")')
    ap.add_argument("--binary", default=os.environ.get(
        "GS_BIN", os.path.join(ROOT, "build/server/gemma-serve")))
    ap.add_argument("--model-path", default=os.environ.get("GS_MODEL_PATH"),
                    help="GGUF for --start (default: $GS_MODEL_PATH or .model-path)")
    ap.add_argument("--model", default="", help='"model" field of requests (default: "")')
    ap.add_argument("--api-key", default=os.environ.get("GEMMA_SERVE_API_KEY"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--input-len", type=int, default=128, help="prompt tokens (BOS included)")
    ap.add_argument("--output-len", type=int, default=128, help="tokens generated per request")
    ap.add_argument("--num-requests", type=int, default=64, help="requests per concurrency level")
    ap.add_argument("--concurrency", default="1,4,16",
                    help="comma-separated levels, run in turn (default 1,4,16)")
    ap.add_argument("--shared-prefix", type=int, default=0, metavar="N",
                    help="every prompt starts with the same N-token prefix")
    ap.add_argument("--temperature", type=float, default=0.0,
                    help="0 (default): greedy; sampling adds the sampler's cost per token")
    ap.add_argument("--warmup", type=int, default=2, help="short requests sent first, unmeasured")
    ap.add_argument("--ttft-prefix", type=int, default=0, metavar="N",
                    help="instead of the load levels: TTFT with a just-sent N-token prefix "
                         "(warm) against a new one (cold)")
    ap.add_argument("--ttft-suffix", type=int, default=16, help="tokens after the prefix")
    ap.add_argument("--ttft-trials", type=int, default=5)
    ap.add_argument("--ttft-output-len", type=int, default=1)
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args(argv)
    try:
        args.levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    except ValueError:
        ap.error("--concurrency takes integers, e.g. 1,4,16,64")
    if not args.levels or min(args.levels) < 1:
        ap.error("--concurrency levels must be positive")
    if args.shared_prefix and args.shared_prefix >= args.input_len:
        ap.error("--shared-prefix must be shorter than --input-len")
    if args.input_len < 2 or args.output_len < 1:
        ap.error("--input-len >= 2 and --output-len >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    server = None
    if args.start:
        model = args.model_path or open(os.path.join(ROOT, ".model-path")).read().strip()
        server = StartedServer(args.binary, model, shlex.split(args.server_flags))
        base_url = server.url
    else:
        base_url = args.base_url.rstrip("/")
        if base_url.endswith("/v1"):
            base_url = base_url[:-3]
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    p = Prompts(base_url, headers, args.model)
    report = {"base_url": base_url, "args": {k: v for k, v in vars(args).items()
                                             if k not in ("api_key", "levels")}}
    try:
        warm_text = p.make_text(random.Random(f"{args.seed}-warmup"), 16)
        for _ in range(args.warmup):
            r = asyncio.run(run_level(base_url, headers, args.model, [warm_text], 1, 4,
                                      {"temperature": 0}))[0][0]
            if r["error"]:
                raise SystemExit(f"warm-up request failed: {r['error']}")
        report["max_model_len"] = p.max_model_len
        longest = (args.ttft_prefix + args.ttft_suffix + args.ttft_output_len if args.ttft_prefix
                   else args.input_len + args.output_len)
        if p.max_model_len and longest > p.max_model_len:
            raise SystemExit(f"requests of {longest} tokens exceed the server's max_model_len "
                             f"({p.max_model_len})")
        if args.ttft_prefix:
            res = asyncio.run(ttft_prefix(args, base_url, headers, p))
            report["ttft_prefix"] = res
            print(f"\nTTFT, {res['prefix_tokens']}-token prefix + {res['suffix_tokens']}-token "
                  f"suffix, median of {len(res['trials'])} trials:\n")
            print("| prefix | cold TTFT ms | warm TTFT ms | cold / warm |")
            print("| ---: | ---: | ---: | ---: |")
            print(f"| {res['prefix_tokens']} | {fmt(res['cold_ttft_ms_p50'])} | "
                  f"{fmt(res['warm_ttft_ms_p50'])} | {fmt(res['cold_over_warm'])} |")
        else:
            extra = {"temperature": args.temperature}
            if args.temperature > 0:
                extra["seed"] = args.seed
            http = httpx.Client(base_url=base_url, headers={**headers, "Connection": "close"})
            rows = []
            for li, c in enumerate(args.levels):
                prefix, prompts = build_prompts(p, args.seed, f"level{li}", args.num_requests,
                                                args.input_len, args.shared_prefix)
                lens = [len(p.tokenize(t)) for t in prompts]
                before = read_metrics(http)
                results, wall = asyncio.run(run_level(base_url, headers, args.model, prompts, c,
                                                      args.output_len, extra))
                after = read_metrics(http)
                row = summarize(c, results, wall)
                row["input_len_mean"] = round(sum(lens) / len(lens), 1)
                row["preemptions"] = (after.get("num_preemptions_total", 0) -
                                      before.get("num_preemptions_total", 0)) if after else None
                if prefix:
                    row["prefix_intact"] = check_shared_prefix(p, prefix, prompts)
                rows.append(row)
                print(f"concurrency {c}: {row['completed']}/{row['requests']} ok in "
                      f"{row['total_time_s']} s, {row['output_tok_s']} output tok/s",
                      file=sys.stderr)
            http.close()
            report["levels"] = rows
            r0 = rows[0]
            desc = (f"{args.num_requests} requests per level, ~{r0['input_len_mean']} prompt "
                    f"tokens (asked {args.input_len})")
            if args.shared_prefix:
                desc += (f", {args.shared_prefix} of them shared "
                         f"({r0.get('prefix_intact')}/{args.num_requests} token-exact)")
            desc += f", {args.output_len} output tokens, temperature {args.temperature}"
            print(f"\n{desc}\n")
            print_table(rows)
    finally:
        p.close()
        if server is not None:
            rc = server.stop()
            if rc != 0:
                print(f"the server exited with {rc}:\n" + "".join(server.lines[-20:]),
                      file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"\nwrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
