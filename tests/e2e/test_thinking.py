"""Thinking through the official openai SDK: the switches (chat_template_kwargs.enable_thinking,
reasoning_effort) and their 400s, Gemma 3 untouched, and on a tiny Gemma 4 model the reasoning
round trip: the thought channel comes back as `reasoning_content`, never inside `content`, and
streamed and non-streamed answers agree.

A tiny random model emits random tokens, so the Gemma 4 tests make its output deterministic
(greedy, with logit_bias steering it among the channel markers and a few text tokens) and assert
structure: the raw text of the same generation (/v1/completions on the same prompt ids) split by
the rules api/reasoning_parser.h states gives exactly the reasoning and content the chat endpoint
returned, with no marker in either. The parser itself is tested byte by byte in
tests/unit/reasoning_parser_test.cpp.

The Gemma 4 tests skip when there is no tests/fixtures/tiny_gemma4_*.gguf or the server refuses
to load it."""
import glob
import os

import httpx2 as httpx
import openai
import pytest

from conftest import Server

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")
OPEN, CLOSE, LABEL = "<|channel>", "<channel|>", "thought\n"
MESSAGES = [{"role": "system", "content": "Think first."},
            {"role": "user", "content": "What is 2+2?"}]


def split_reference(text):
    """The split api/reasoning_parser.h specifies, on a whole text: outside a channel is content,
    inside is reasoning, markers are dropped and so is the label right after an open marker."""
    content, reasoning, inside, i = [], [], False, 0
    while i < len(text):
        if text.startswith(OPEN, i):
            i += len(OPEN)
            inside = True
            if text.startswith(LABEL, i):
                i += len(LABEL)
        elif text.startswith(CLOSE, i):
            i += len(CLOSE)
            inside = False
        else:
            (reasoning if inside else content).append(text[i])
            i += 1
    return "".join(content), "".join(reasoning)


# ---- The switches, on the default (Gemma 3) model ---------------------------------------------

@pytest.mark.parametrize("kwargs, param", [
    ({"reasoning_effort": "extreme"}, "reasoning_effort"),
    ({"reasoning_effort": 3}, "reasoning_effort"),
    ({"extra_body": {"chat_template_kwargs": {"enable_thinking": "yes"}}},
     "chat_template_kwargs.enable_thinking"),
    ({"extra_body": {"chat_template_kwargs": ["enable_thinking"]}}, "chat_template_kwargs"),
])
def test_bad_thinking_switches_are_400s_naming_the_param(client, kwargs, param):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="", messages=MESSAGES, max_tokens=1, **kwargs)
    assert e.value.status_code == 400
    assert e.value.body["param"] == param, e.value.body


def test_gemma3_ignores_thinking(server, client):
    # Gemma 3 has no thinking mode: the prompt and the answer are what they are without it.
    plain = httpx.post(server.url + "/tokenize", json={"messages": MESSAGES}, timeout=30).json()
    thinking = httpx.post(server.url + "/tokenize", timeout=30, json={
        "messages": MESSAGES, "chat_template_kwargs": {"enable_thinking": True}}).json()
    assert plain["tokens"] == thinking["tokens"]
    a = client.chat.completions.create(model="", messages=MESSAGES, max_tokens=8, temperature=0)
    b = client.chat.completions.create(model="", messages=MESSAGES, max_tokens=8, temperature=0,
                                       reasoning_effort="high")
    assert a.choices[0].message.content == b.choices[0].message.content
    assert getattr(b.choices[0].message, "reasoning_content", None) is None


# ---- The round trip on a tiny Gemma 4 model ---------------------------------------------------

def gemma4_fixture():
    paths = sorted(glob.glob(os.path.join(FIXTURES, "tiny_gemma4_*.gguf")))
    # The dense model first: the smallest forward pass.
    paths.sort(key=lambda p: "unified" not in os.path.basename(p))
    return paths[0] if paths else None


@pytest.fixture(scope="module")
def gemma4():
    path = gemma4_fixture()
    if path is None:
        pytest.skip("no tests/fixtures/tiny_gemma4_*.gguf")
    try:
        s = Server(model=path)
    except AssertionError as e:
        pytest.skip(f"the server refuses {os.path.basename(path)}: {str(e)[-400:]}")
    yield s
    assert s.stop() == 0, s.log()


def token_id(server, text):
    ids = httpx.post(server.url + "/tokenize", timeout=30,
                     json={"prompt": text, "add_special_tokens": False}).json()["tokens"]
    assert len(ids) == 1, (text, ids)
    return ids[0]


def text_ids(server, text):
    return httpx.post(server.url + "/tokenize", timeout=30,
                      json={"prompt": text, "add_special_tokens": False}).json()["tokens"]


def test_gemma4_thinking_switch_changes_the_prompt(gemma4):
    def ids(**extra):
        return httpx.post(gemma4.url + "/tokenize", json={"messages": MESSAGES, **extra},
                          timeout=30).json()["tokens"]
    think = token_id(gemma4, "<|think|>")
    off, on = ids(), ids(chat_template_kwargs={"enable_thinking": True})
    assert think in on and think not in off
    assert ids(reasoning_effort="low") == on
    assert ids(reasoning_effort="none") == off
    # Thinking off primes an empty thought: the prompt ends with the closed channel.
    assert off[-1] == token_id(gemma4, CLOSE)


def steering(server, variant):
    """A logit_bias that restricts greedy decoding to a few tokens (which of them comes next is the
    model's choice), so that markers, labels and text interleave deterministically."""
    open_id, close_id = token_id(server, OPEN), token_id(server, CLOSE)
    words = text_ids(server, "thought\nHello") + text_ids(server, " 4")
    sets = {
        "markers_and_text": [open_id, close_id] + words,
        "open_only": [open_id],
        "no_close": [open_id] + words,
        "none": [],
    }
    return {str(i): 60 for i in sets[variant]}


def chat_both_ways(client, bias, max_tokens, **extra):
    kwargs = dict(model="", messages=MESSAGES, max_tokens=max_tokens, temperature=0,
                  logit_bias=bias, **extra)
    r = client.chat.completions.create(**kwargs)
    message = r.choices[0].message
    whole = (message.content or "", getattr(message, "reasoning_content", None) or "",
             r.choices[0].finish_reason)
    content, reasoning, finish = [], [], None
    for chunk in client.chat.completions.create(stream=True, **kwargs):
        for choice in chunk.choices:
            content.append(choice.delta.content or "")
            reasoning.append(getattr(choice.delta, "reasoning_content", None) or "")
            finish = choice.finish_reason or finish
    return whole, ("".join(content), "".join(reasoning), finish)


@pytest.mark.parametrize("variant", ["markers_and_text", "open_only", "no_close", "none"])
@pytest.mark.parametrize("thinking", [True, False])
def test_gemma4_reasoning_round_trip(gemma4, variant, thinking):
    client = gemma4.client()
    bias = steering(gemma4, variant)
    max_tokens = 40
    extra = {"extra_body": {"chat_template_kwargs": {"enable_thinking": thinking}}}
    whole, streamed = chat_both_ways(client, bias, max_tokens, **extra)
    assert whole == streamed  # streamed and non-streamed agree, field by field

    # The same generation as raw text: the prompt's ids through /v1/completions.
    prompt = httpx.post(gemma4.url + "/tokenize", timeout=30, json={
        "messages": MESSAGES, "chat_template_kwargs": {"enable_thinking": thinking}}).json()
    raw = client.completions.create(model="", prompt=prompt["tokens"], max_tokens=max_tokens,
                                    temperature=0, logit_bias=bias)
    raw_text = raw.choices[0].text
    content, reasoning, finish = whole
    assert (content, reasoning) == split_reference(raw_text), raw_text
    assert finish == raw.choices[0].finish_reason
    for marker in (OPEN, CLOSE):
        assert marker not in content and marker not in reasoning
    if variant == "open_only":
        # Every token opens a channel: nothing but markers, so nothing comes back.
        assert raw_text == OPEN * max_tokens and content == "" and reasoning == ""
    if variant == "no_close" and OPEN in raw_text:
        # A thought that never closes (max_tokens ran out): all of it after the marker is reasoning.
        assert content == split_reference(raw_text.split(OPEN, 1)[0])[0]


@pytest.mark.parametrize("end", ["<turn|>", "<|tool_response>", "<eos>"])
def test_gemma4_stops_at_every_end_of_turn_token(gemma4, end):
    # "<|tool_response>" too: the model opens a tool response to hand the turn back for a result.
    client = gemma4.client()
    bias = {str(token_id(gemma4, end)): 100}
    for api in ("chat", "completions"):
        if api == "chat":
            r = client.chat.completions.create(model="", messages=MESSAGES, max_tokens=5,
                                               temperature=0, logit_bias=bias)
            text = r.choices[0].message.content
        else:
            r = client.completions.create(model="", prompt="Hi", max_tokens=5, temperature=0,
                                          logit_bias=bias)
            text = r.choices[0].text
        assert r.choices[0].finish_reason == "stop", (api, r)
        assert r.usage.completion_tokens == 1 and text == "", (api, r)
