"""Gemma 4 served: the tiny random Gemma 4 models (tests/fixtures/make_tiny_gemma4.py: a
12B-Unified-like stack with K=V global layers, an E2B-like one with per-layer embeddings and KV
sharing, a mixture of experts) through the real server. A request's output does not depend on
what else runs beside it, greedy or seeded, with prompts longer than the 8-token window."""
import os
import random

import pytest

from test_batching import alone_and_together

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")
LENGTHS = [1, 5, 9, 14, 20, 27, 35, 44, 55, 68, 83, 100]


@pytest.mark.parametrize("name", ["tiny_gemma4_unified", "tiny_gemma4_e2b", "tiny_gemma4_moe"])
def test_gemma4_outputs_do_not_depend_on_the_batch(start_server, name):
    server = start_server("--no-prefix-caching", model=os.path.join(FIXTURES, name + ".gguf"))
    client = server.client()
    rng = random.Random(name)
    # BOS, then ordinary tokens (ids from 23 up: past the control and marker tokens).
    prompts = [[2] + [rng.randrange(23, 512) for _ in range(n - 1)] for n in LENGTHS]
    kws = [{"temperature": 0}] * 6 + [{"temperature": 0.9, "seed": i} for i in range(6)]
    alone, together = alone_and_together(client, prompts, 16, kws)
    assert all(a[1:] == ("length", 16) for a in alone)
    for i, (a, t) in enumerate(zip(alone, together)):
        assert t == a, f"{name}: prompt {i} ({LENGTHS[i]} tokens) differs when batched"
    client.close()
