"""Continuous batching seen from outside: a request's output does not depend on what else runs
beside it (batch invariance), KV-pool exhaustion preempts and recomputes without changing any
output, and a request no pool could ever hold is refused at admission."""
import concurrent.futures
import random
import subprocess

import httpx2 as httpx
import openai
import pytest

from conftest import BIN, Server, metric

# Plain words, so prompts are ordinary text whatever their length.
WORDS = ("the a river stone quiet morning light over across under city garden window old new "
         "small large green blue red north south road field house bridge tower market "
         "harbor ship sail wind rain snow summer winter evening night star moon sun cloud "
         "forest hill valley lake mountain village people child teacher music story letter "
         "book paper table chair door wall street train station clock minute hour year "
         "walks runs sings writes reads builds carries opens closes finds keeps brings "
         "slowly quickly often never always together alone because while after before").split()


def passage_tokens(server, seed, num_words=1500):
    """The token ids of a long seeded passage (starting with BOS)."""
    rng = random.Random(seed)
    text = " ".join(rng.choice(WORDS) for _ in range(num_words))
    ids = httpx.post(server.url + "/tokenize", json={"prompt": text}, timeout=30).json()["tokens"]
    assert len(ids) > 1000
    return ids


def make_prompts(server, lengths, seed):
    """Token-id prompts of exactly the given lengths: BOS, then distinct slices of a passage."""
    ids = passage_tokens(server, seed)
    bos, body = ids[0], ids[1:]
    prompts = []
    for i, n in enumerate(lengths):
        start = (97 * i) % (len(body) - n)
        prompts.append([bos] + body[start:start + n - 1])
        assert len(prompts[-1]) == n
    return prompts


def complete(client, prompt, max_tokens, **kw):
    kw = {"extra_body": {"ignore_eos": True}, **kw}
    r = client.completions.create(model="", prompt=prompt, max_tokens=max_tokens, **kw)
    c = r.choices[0]
    return c.text, c.finish_reason, r.usage.completion_tokens


def alone_and_together(client, prompts, max_tokens, kws):
    """Each request run alone, one after the other, then all of them at once."""
    alone = [complete(client, p, max_tokens, **kw) for p, kw in zip(prompts, kws)]
    with concurrent.futures.ThreadPoolExecutor(len(prompts)) as pool:
        together = list(pool.map(lambda a: complete(client, a[0], max_tokens, **a[1]),
                                 zip(prompts, kws)))
    return alone, together


# 16 prompts from 5 to 200 tokens: prefill chunks of different sizes share steps with decodes.
LENGTHS = [5, 9, 14, 20, 27, 35, 44, 55, 68, 83, 100, 118, 138, 158, 180, 200]


@pytest.fixture(scope="module")
def uncached():
    """A server that computes every prompt in full (when it has a prefix cache, with it off), so
    that "together" really prefills the 16 prompts in shared steps rather than reusing the KV
    that "alone" left behind."""
    flags = ["--no-prefix-caching"] if "--no-prefix-caching" in subprocess.run(
        [BIN, "serve", "--help"], capture_output=True, text=True).stdout else []
    s = Server(*flags)
    s.api = s.client()
    yield s
    s.api.close()  # an idle keep-alive connection would hold up the shutdown
    assert s.stop() == 0, s.log()


def prefix_hits(server):
    try:
        return metric(server, "prefix_cache_hits_total")
    except KeyError:
        return None


def check_invariance(uncached, server, client, prompts, max_tokens, kws,
                     passes=("cold", "cached")):
    """Alone vs together on the uncached server; then together on the default server (which may
    cache prefixes): first cold, then with the prompts' blocks cached. All the same."""
    alone, together = alone_and_together(uncached.api, prompts, max_tokens, kws)
    assert all(a[1:] == ("length", max_tokens) for a in alone)
    for i, (a, t) in enumerate(zip(alone, together)):
        assert t == a, f"prompt {i} ({len(prompts[i])} tokens) differs when batched"
    hits = prefix_hits(server)
    for attempt in passes:
        with concurrent.futures.ThreadPoolExecutor(len(prompts)) as pool:
            again = list(pool.map(lambda a: complete(client, a[0], max_tokens, **a[1]),
                                  zip(prompts, kws)))
        for i, (a, t) in enumerate(zip(alone, again)):
            assert t == a, f"prompt {i} ({len(prompts[i])} tokens) differs batched, {attempt}"
    if hits is not None and "cached" in passes:
        assert prefix_hits(server) > hits, "the second pass found nothing in the prefix cache"
    return alone


def test_greedy_outputs_do_not_depend_on_the_batch(uncached, server, client):
    prompts = make_prompts(uncached, LENGTHS, seed=1)
    check_invariance(uncached, server, client, prompts, 24, [{"temperature": 0}] * 16)


def test_seeded_sampling_does_not_depend_on_the_batch(uncached, server, client):
    prompts = make_prompts(uncached, LENGTHS, seed=2)
    # Half of them with top_k as well: sampling parameters differ within the batch (and a full
    # sort of the candidates per token, which the others need, is slow).
    kws = [{"temperature": 0.9, "top_p": 0.95, "seed": 1000 + i,
            "extra_body": {"ignore_eos": True, **({"top_k": 64} if i % 2 else {})}}
           for i in range(16)]
    # (The cached pass is left to the greedy test: sampling is slow, see above.)
    alone = check_invariance(uncached, server, client, prompts, 16, kws, passes=("cold",))
    greedy = [complete(uncached.api, p, 16, temperature=0)[0] for p in prompts[:4]]
    assert greedy != [a[0] for a in alone[:4]], "temperature 0.9 should sample, not argmax"


# A pool far smaller than 16 concurrent ~170-token sequences. Gemma 3 270M keeps K and V (f16,
# one KV head of dim 256: 1 KiB per token per layer) for 3 global layers and 15 sliding-window
# (512) layers. With --max-num-batched-tokens 128 one sequence may need (512 + 128) / 16 + 2 = 42
# sliding blocks (16 tokens x 15 KiB each); the plan gives the sliding group that many, since
# half of 16 MiB affords only 34, and the rest, 16 MiB - 42 x 240 KiB, to the global layers: 131
# blocks of 16 tokens x 3 KiB, i.e. max_model_len 2096. 16 sequences of 154..184 tokens need
# 16 x 10..12 blocks of each group: ~4x the sliding group and more than the global one.
SMALL_POOL = ("--kv-cache-mb", "16", "--max-num-batched-tokens", "128")


def max_model_len(server):
    return httpx.post(server.url + "/tokenize", json={"prompt": "x"}).json()["max_model_len"]


def test_pool_exhaustion_preempts_and_every_request_completes_unchanged(start_server):
    s = start_server(*SMALL_POOL)
    client = s.client(timeout=300)
    lengths = [130 + 2 * i for i in range(16)]
    max_tokens = 24
    # Together they overflow even the global layers (max_model_len is their whole pool).
    assert sum(n + max_tokens for n in lengths) > max_model_len(s)
    prompts = make_prompts(s, lengths, seed=3)
    alone = [complete(client, p, max_tokens, temperature=0) for p in prompts]
    assert metric(s, "num_preemptions_total") == 0, "one sequence alone fits"
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        together = list(pool.map(lambda p: complete(client, p, max_tokens, temperature=0),
                                 prompts))
    assert metric(s, "num_preemptions_total") > 0, "the pool was never exhausted"
    for i, (a, t) in enumerate(zip(alone, together)):
        assert t[1:] == ("length", max_tokens), f"request {i}: {t[1:]}"
        assert t == a, f"request {i} changed by preemption and recomputation"
    # Everything was given back.
    assert metric(s, "kv_cache_usage_perc") == 0
    assert metric(s, "num_requests_running") == 0
    client.close()  # an idle keep-alive connection would hold up the shutdown
    assert s.stop() == 0, s.log()


# The smallest pool the plan accepts with --max-num-batched-tokens 16: 35 sliding blocks (one
# sequence's window) and, from what is left of 10 MiB, 38 global blocks: max_model_len 608.
TINY_POOL = ("--kv-cache-mb", "10", "--max-num-batched-tokens", "16")


def test_request_larger_than_the_pool_is_refused_at_admission(start_server):
    s = start_server(*TINY_POOL)
    client = s.client(timeout=120)
    limit = max_model_len(s)
    assert limit <= 1024, "the request at the limit would make this test slow"
    ids = passage_tokens(s, seed=4)
    assert len(ids) > limit
    # The prompt alone is too long.
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model="", prompt=ids[:limit], max_tokens=1)
    assert e.value.status_code == 400
    assert e.value.body["code"] == "context_length_exceeded"
    assert e.value.body["param"] == "prompt"
    # Prompt plus max_tokens one over the limit.
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model="", prompt=ids[:limit - 8], max_tokens=9)
    assert e.value.body["code"] == "context_length_exceeded"
    assert e.value.body["param"] == "max_tokens"
    # The same through chat and through a stream: refused before any SSE starts.
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model="", messages=[{"role": "user", "content": " ".join(WORDS * 10)}],
            max_tokens=limit)
    assert e.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model="", prompt=ids[:limit - 8], max_tokens=9, stream=True)
    assert e.value.body["code"] == "context_length_exceeded"
    # Exactly at the limit is admitted, and the whole pool holds it.
    assert complete(client, ids[:limit - 4], 4, temperature=0)[1:] == ("length", 4)
    # And the server keeps serving.
    assert httpx.get(s.url + "/health").status_code == 200
    assert complete(client, "The capital of France is", 5, temperature=0)[1:] == ("length", 5)
    assert metric(s, "num_requests_running") == 0
    client.close()
    assert s.stop() == 0, s.log()


def test_churn_cancels_at_random_points_leak_nothing(server):
    """Half of 24 concurrent streams hang up at random points (during prefill or decode): the
    others finish whole, and afterwards nothing runs and no KV block is held."""
    import json
    import socket
    import threading
    import time

    rng = random.Random(11)
    aborted_before = metric(server, "request_success_total", 'finished_reason="abort"')
    results = {}

    def one(i, cancel_after):
        body = json.dumps({"prompt": " ".join(rng.choice(WORDS) for _ in range(20 + 13 * i)),
                           "max_tokens": 40, "stream": True, "ignore_eos": True}).encode()
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        got = b""
        while cancel_after is None or got.count(b"data: ") < cancel_after:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
            if b"data: [DONE]" in got:
                break
        s.close()
        results[i] = got

    plan = [None if i % 2 else rng.randint(0, 20) for i in range(24)]
    threads = [threading.Thread(target=one, args=(i, c)) for i, c in enumerate(plan)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for i, cancel_after in enumerate(plan):
        if cancel_after is None:
            assert b'"finish_reason":"length"' in results[i] and b"data: [DONE]" in results[i], i
    deadline = time.time() + 3
    while time.time() < deadline and (metric(server, "num_requests_running") != 0 or
                                      metric(server, "kv_cache_usage_perc") != 0):
        time.sleep(0.05)
    assert metric(server, "num_requests_running") == 0
    assert metric(server, "num_requests_waiting") == 0
    assert metric(server, "kv_cache_usage_perc") == 0
    assert metric(server, "request_success_total", 'finished_reason="abort"') - aborted_before == 12
    assert httpx.get(server.url + "/health").status_code == 200
