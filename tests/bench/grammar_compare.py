#!/usr/bin/env python3
"""MaskBench with LLGuidance on exactly the tokens gemma-serve grammar-bench used.

    gemma-serve grammar-bench DIR --dump-tokens /tmp/tokens.jsonl [--every N]
    python tests/bench/grammar_compare.py DIR /tmp/tokens.jsonl [--every N]

Needs `pip install llguidance` (a virtual environment outside the repository). The vocabulary
(token bytes, end-of-generation ids) and every test instance's token ids come from the dump, so
both engines see the same Gemma tokenization. Each instance is walked token by token: the full
mask before each token (timed around compute_bitmask, Python call overhead included), a check that
the token is in it, then consume; at the end the grammar must accept. Prints the same summary as
grammar-bench (passing schemas, compile errors, validation / invalidation errors, TBM / TTFM).
"""
import argparse
import collections
import json
import os
import sys
import time

import llguidance


class DumpedTokenizer:
    """The gtokenizer interface llguidance.TokenizerWrapper expects."""

    def __init__(self, tokens, eos_ids):
        # Tokens without bytes (control tokens) become llguidance special tokens: 0xFF + name.
        self.tokens = [t if t else b"\xff<|special_%d|>" % i for i, t in enumerate(tokens)]
        self.special_token_ids = [i for i, t in enumerate(tokens) if not t]
        self.eos_token_id = eos_ids[0]
        self.bos_token_id = None
        self._by_bytes = {t: i for i, t in enumerate(tokens) if t}
        self._max_len = max(len(t) for t in tokens)

    def __call__(self, text):
        # Greedy longest match; only used by llguidance for grammar-internal tokenization.
        data = text if isinstance(text, bytes) else text.encode("utf-8")
        ids, pos = [], 0
        while pos < len(data):
            for n in range(min(self._max_len, len(data) - pos), 0, -1):
                tid = self._by_bytes.get(data[pos:pos + n])
                if tid is not None:
                    ids.append(tid)
                    pos += n
                    break
            else:
                pos += 1
        return ids


def pct(values, q):
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", help="MaskBench data directory")
    ap.add_argument("dump", help="file written by grammar-bench --dump-tokens")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--every", type=int, default=1, help="as given to grammar-bench")
    ap.add_argument("--own-tokenization", action="store_true",
                    help="tokenize each instance with LLGuidance's tokenize_str (greedy) instead "
                    "of using the dumped Gemma token ids (LLGuidance's masks leave out some "
                    "tokens of Gemma's SentencePiece tokenization that it would consume)")
    args = ap.parse_args()

    with open(args.dump) as f:
        vocab = json.loads(f.readline())
        dumped = {}
        for line in f:
            t = json.loads(line)
            dumped[(t["file"], t["test"])] = t["ids"]
    # The same files grammar-bench read: every Nth *.json in sorted order.
    names = sorted(n for n in os.listdir(args.dir) if n.endswith(".json"))[::args.every]
    tokens = [bytes.fromhex(h) for h in vocab["tokens"]]
    eos_ids = vocab["eos"]
    tokenizer = llguidance.LLTokenizer(
        llguidance.TokenizerWrapper(DumpedTokenizer(tokens, eos_ids)))

    num = collections.Counter()
    tbm, ttfm, compile_us = [], [], []
    for name in names:
        with open(os.path.join(args.dir, name)) as f:
            doc = json.load(f)
        schema = doc["schema"]
        cases = [{"test": i, "valid": t["valid"], "ids": dumped.get((name, i))}
                 for i, t in enumerate(doc.get("tests", []))]
        num["schemas"] += 1
        t0 = time.perf_counter()
        try:
            grammar = llguidance.LLMatcher.grammar_from_json_schema(schema)
            matcher = llguidance.LLMatcher(tokenizer, grammar)
            error = matcher.is_error()
        except Exception:  # an exception on a schema is a compile error too
            error = True
        compile_time = (time.perf_counter() - t0) * 1e6
        if error:
            num["compile_errors"] += 1
            continue
        compile_us.append(compile_time)
        passed, first = True, True
        for case in cases:
            m = llguidance.LLMatcher(tokenizer, grammar)
            accepted = True
            ids = case["ids"]
            if args.own_tokenization or ids is None:
                data = doc["tests"][case["test"]]["data"]
                ids = tokenizer.tokenize_str(json.dumps(data, ensure_ascii=False))
            for i in range(len(ids) + 1):
                s = time.perf_counter()
                mask = m.compute_bitmask()
                us = (time.perf_counter() - s) * 1e6
                tbm.append(us)
                if first:
                    ttfm.append(compile_time + us)
                    first = False
                if i == len(ids):
                    accepted = m.is_accepting()
                    break
                tid = ids[i]
                if not (mask[tid >> 3] >> (tid & 7)) & 1 or not m.consume_token(tid):
                    accepted = False
                    break
            num["tests"] += 1
            if accepted != case["valid"]:
                passed = False
                num["validation_errors" if case["valid"] else "invalidation_errors"] += 1
        num["passing"] += passed

    summary = {
        "engine": "llguidance " + getattr(llguidance, "__version__", "?"),
        **num,
        "tbm_us": {"mean": sum(tbm) / max(1, len(tbm)), "p50": pct(tbm, .5), "p99": pct(tbm, .99),
                   "count": len(tbm)},
        "ttfm_us": {"mean": sum(ttfm) / max(1, len(ttfm)), "p50": pct(ttfm, .5),
                    "p99": pct(ttfm, .99)},
        "compile_us": {"p50": pct(compile_us, .5), "p99": pct(compile_us, .99)},
    }
    if args.json:
        print(json.dumps(summary))
        return
    print("%s: schemas %d  passing %d  compile errors %d" %
          (summary["engine"], num["schemas"], num["passing"], num["compile_errors"]))
    print("tests %d  validation errors %d  invalidation errors %d" %
          (num["tests"], num["validation_errors"], num["invalidation_errors"]))
    for key in ("tbm_us", "ttfm_us"):
        v = summary[key]
        print("%-8s mean %8.1f  p50 %8.1f  p99 %9.1f us" % (key[:-3].upper(), v["mean"], v["p50"],
                                                           v["p99"]))
    print("compile  p50 %8.1f  p99 %9.1f us" % (summary["compile_us"]["p50"],
                                                summary["compile_us"]["p99"]))


if __name__ == "__main__":
    sys.exit(main())
