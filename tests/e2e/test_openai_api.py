"""The API as a user of the official openai SDK sees it, on the real default model."""
import concurrent.futures

import httpx2 as httpx
import openai
import pytest

from conftest import metric

MSG = [{"role": "user", "content": "Write a sentence about the sea."}]


def collect(stream):
    """Reassembles a streamed chat completion: text per choice, finish reasons, usage, ids."""
    texts, reasons, ids, usage, roles = {}, {}, set(), None, {}
    for chunk in stream:
        ids.add(chunk.id)
        if chunk.usage is not None:
            assert chunk.choices == []
            usage = chunk.usage
        for c in chunk.choices:
            if c.delta.role:
                roles[c.index] = c.delta.role
            texts[c.index] = texts.get(c.index, "") + (c.delta.content or "")
            if c.finish_reason:
                assert c.index not in reasons, "a choice finished twice"
                reasons[c.index] = c.finish_reason
    return texts, reasons, ids, usage, roles


def test_stream_and_non_stream_give_the_same_text(client):
    full = client.chat.completions.create(model="", messages=MSG, max_tokens=24, temperature=0)
    assert full.object == "chat.completion"
    assert full.id.startswith("chatcmpl-")
    assert full.choices[0].message.role == "assistant"
    text = full.choices[0].message.content
    assert text
    stream = client.chat.completions.create(model="", messages=MSG, max_tokens=24,
                                            temperature=0, stream=True)
    texts, reasons, ids, usage, roles = collect(stream)
    assert texts[0] == text
    assert reasons[0] == full.choices[0].finish_reason
    assert len(ids) == 1, "every chunk carries the same id"
    assert roles == {0: "assistant"}
    assert usage is None, "no usage chunk unless asked for"


def test_include_usage_and_usage_agrees_with_tokenize(server, client):
    stream = client.chat.completions.create(
        model="", messages=MSG, max_tokens=8, temperature=0, stream=True,
        stream_options={"include_usage": True})
    _, reasons, _, usage, _ = collect(stream)
    assert usage is not None
    tok = httpx.post(server.url + "/tokenize", json={"messages": MSG}).json()
    assert usage.prompt_tokens == tok["count"] == len(tok["tokens"])
    assert usage.completion_tokens == 8 and reasons[0] == "length"
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_max_tokens_gives_length_and_max_completion_tokens_works(client):
    r = client.chat.completions.create(model="", messages=MSG, max_completion_tokens=5,
                                       temperature=0)
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 5


def test_stop_string_across_token_boundaries(client):
    prompt = "The capital of France is"
    base = client.completions.create(model="", prompt=prompt, max_tokens=16, temperature=0,
                                     logprobs=1)
    tokens = base.choices[0].logprobs.tokens
    text = base.choices[0].text
    assert "".join(tokens) == text
    # A stop string made of the end of one token and the start of the next two.
    i = next(i for i in range(1, len(tokens) - 2) if len(tokens[i]) >= 2 and tokens[i + 1])
    stop = tokens[i][-1:] + tokens[i + 1] + tokens[i + 2][:1]
    start = text.find(stop)
    assert start >= 0
    r = client.completions.create(model="", prompt=prompt, max_tokens=16, temperature=0,
                                  stop=[stop, "never-appears"])
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].text == text[:start]
    # The same through a stream: nothing of the stop string leaks out.
    s = client.completions.create(model="", prompt=prompt, max_tokens=16, temperature=0,
                                  stop=stop, stream=True)
    streamed = "".join(c.choices[0].text for c in s if c.choices)
    assert streamed == text[:start]


def test_n_choices_are_separate_sequences(client):
    r = client.chat.completions.create(model="", messages=MSG, n=3, max_tokens=12,
                                       temperature=1.0, seed=7, extra_body={"ignore_eos": True})
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert len({c.message.content for c in r.choices}) > 1, "choices differ at temperature 1"
    # Each choice generates its own 12 tokens; the prompt is counted once.
    assert all(c.finish_reason == "length" for c in r.choices)
    assert r.usage.completion_tokens == 36
    one = client.chat.completions.create(model="", messages=MSG, max_tokens=1)
    assert r.usage.prompt_tokens == one.usage.prompt_tokens
    s = client.chat.completions.create(model="", messages=MSG, n=3, max_tokens=12,
                                       temperature=1.0, seed=7, stream=True,
                                       extra_body={"ignore_eos": True})
    texts, reasons, _, _, roles = collect(s)
    assert texts == {c.index: c.message.content for c in r.choices}
    assert set(reasons) == {0, 1, 2} and roles == {0: "assistant", 1: "assistant", 2: "assistant"}


def test_seed_reproduces_sampling(client):
    def sample(seed):
        return client.chat.completions.create(model="", messages=MSG, max_tokens=16,
                                              temperature=1.0, top_p=0.95, seed=seed
                                              ).choices[0].message.content
    a, b, c = sample(1234), sample(1234), sample(999)
    assert a == b
    assert a != c


def test_logprobs_shape(client):
    r = client.chat.completions.create(model="", messages=MSG, max_tokens=6, temperature=0,
                                       logprobs=True, top_logprobs=3)
    content = r.choices[0].logprobs.content
    assert len(content) == 6
    assert "".join(t.token for t in content) == r.choices[0].message.content
    for t in content:
        assert t.logprob <= 0
        assert bytes(t.bytes).decode("utf-8", "replace") == t.token
        assert len(t.top_logprobs) == 3
        assert t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob >= t.top_logprobs[2].logprob
        # Greedy: the chosen token is the most likely one.
        assert t.top_logprobs[0].token == t.token
        assert abs(t.top_logprobs[0].logprob - t.logprob) < 1e-4
    s = client.chat.completions.create(model="", messages=MSG, max_tokens=6, temperature=0,
                                       logprobs=True, top_logprobs=2, stream=True)
    streamed = [t for c in s if c.choices and c.choices[0].logprobs
                for t in c.choices[0].logprobs.content]
    assert [t.token for t in streamed] == [t.token for t in content]


def test_completions_prompt_forms(server, client):
    ids = httpx.post(server.url + "/tokenize",
                     json={"prompt": "The capital of France is"}).json()["tokens"]
    by_text = client.completions.create(model="", prompt="The capital of France is",
                                        max_tokens=6, temperature=0)
    by_ids = client.completions.create(model="", prompt=ids, max_tokens=6, temperature=0)
    assert by_text.object == "text_completion"
    assert by_text.choices[0].text == by_ids.choices[0].text
    two = client.completions.create(model="", prompt=["The capital of France is", "1, 2, 3,"],
                                    max_tokens=6, temperature=0)
    assert [c.index for c in two.choices] == [0, 1]
    assert two.choices[0].text == by_text.choices[0].text
    echoed = client.completions.create(model="", prompt="The capital of France is",
                                       max_tokens=6, temperature=0, echo=True)
    assert echoed.choices[0].text == "The capital of France is" + by_text.choices[0].text
    detok = httpx.post(server.url + "/detokenize", json={"tokens": ids}).json()
    assert detok["prompt"].endswith("The capital of France is")


def test_models(server, client):
    models = client.models.list()
    assert len(models.data) >= 1
    name = models.data[0].id
    assert client.models.retrieve(name).id == name
    with pytest.raises(openai.NotFoundError) as e:
        client.models.retrieve("no-such-model")
    assert e.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="no-such-model", messages=MSG, max_tokens=2)
    assert e.value.body["code"] == "model_not_found"
    r = client.chat.completions.create(model=name, messages=MSG, max_tokens=2)
    assert r.model == name


def test_concurrent_requests_are_batched_and_each_greedy_output_matches(client):
    prompts = [f"Count from {i} upward:" for i in range(6)]

    def one(p):
        return client.completions.create(model="", prompt=p, max_tokens=10,
                                         temperature=0).choices[0].text

    alone = [one(p) for p in prompts]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        together = list(pool.map(one, prompts))
    assert together == alone


def test_health_version_metrics(server, client):
    client.completions.create(model="", prompt="Hello", max_tokens=3, temperature=0)
    assert httpx.get(server.url + "/health").json() == {"status": "ok"}
    assert "version" in httpx.get(server.url + "/version").json()
    text = httpx.get(server.url + "/metrics").text
    for name in ["num_requests_running", "num_requests_waiting", "kv_cache_usage_perc",
                 "prompt_tokens_total", "generation_tokens_total", "request_success_total",
                 "time_to_first_token_seconds_bucket", "inter_token_latency_seconds_bucket",
                 "e2e_request_latency_seconds_bucket", "request_queue_time_seconds_bucket"]:
        assert "gemma_serve:" + name in text, name
    assert metric(server, "generation_tokens_total") > 0
    assert metric(server, "request_success_total", 'finished_reason="length"') > 0
