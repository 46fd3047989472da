"""Function calling through the official openai SDK: `tools`, `tool_choice` and
`parallel_tool_calls` accepted and validated (400s naming the field), tool calls and tool results
in the history rendered (Gemma 3's convention, docs/tools.md; Gemma 4's template), and the
answer's wire format, streamed and not.

The default model is a small Gemma 3 base model and a tiny Gemma 4 fixture is random: neither can
be made to write a well-formed call with a static logit_bias, so the answer side is checked for
structure: on Gemma 4, greedy decoding steered among the tool-call markers gives an answer whose
content is exactly the raw text of the same generation (a malformed call is content, word for
word, no marker dropped), identical streamed and not. The parser's calls, chunking and malformed
cases are tested in tests/unit/tool_call_parser_test.cpp, the wire format in response_test."""
import json
import os

import httpx2 as httpx
import openai
import pytest

from conftest import Server

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]
# One tool round in OpenAI's shape: the call (content null, arguments a JSON string), its result.
HISTORY = QUESTION + [
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_abc", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "call_abc", "content": "{\"temp_c\": 21, \"sky\": \"clear\"}"},
]


def prompt_text(server, messages, **extra):
    ids = httpx.post(server.url + "/tokenize", timeout=30,
                     json={"messages": messages, **extra}).json()["tokens"]
    return httpx.post(server.url + "/detokenize", timeout=30, json={"tokens": ids}).json()["prompt"]


def check_message(choice):
    """What any answer with tools must look like, whether or not the model called."""
    assert choice.finish_reason in ("stop", "length", "tool_calls")
    calls = choice.message.tool_calls or []
    if choice.finish_reason == "tool_calls":
        assert calls
    for call in calls:
        assert call.id.startswith("call_") and call.type == "function"
        assert call.function.name == "get_weather"
        assert isinstance(json.loads(call.function.arguments), dict)
    if not calls:
        assert isinstance(choice.message.content, str)


# ---- The default (Gemma 3) model ------------------------------------------------------------

def test_tools_are_accepted_and_answered(client):
    r = client.chat.completions.create(model="", messages=QUESTION, tools=[WEATHER], max_tokens=16,
                                       temperature=0)
    check_message(r.choices[0])


def test_streamed_and_non_streamed_answers_agree(client):
    kwargs = dict(model="", messages=HISTORY, tools=[WEATHER], max_tokens=24, temperature=0)
    whole = client.chat.completions.create(**kwargs).choices[0]
    content, calls, finish = [], {}, None
    for chunk in client.chat.completions.create(stream=True, **kwargs):
        for choice in chunk.choices:
            content.append(choice.delta.content or "")
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"name": "", "arguments": ""})
                entry["name"] += call.function.name or ""
                entry["arguments"] += call.function.arguments or ""
            finish = choice.finish_reason or finish
    expected_calls = [{"name": c.function.name, "arguments": c.function.arguments}
                      for c in whole.message.tool_calls or []]
    assert [calls[i] for i in sorted(calls)] == expected_calls
    assert "".join(content) == (whole.message.content or "")
    assert finish == whole.finish_reason


def test_gemma3_prompt_carries_the_convention_and_the_history(server):
    text = prompt_text(server, HISTORY, tools=[WEATHER])
    assert "```tool_call" in text and '"name":"get_weather"' in text
    assert "Current weather in a city." in text
    # The earlier call replayed in the convention, its result as a user turn.
    assert '```tool_call\n{"arguments":{"city":"Paris"},"name":"get_weather"}\n```' in text
    assert '```tool_result\n{"content":{"sky":"clear","temp_c":21},"name":"get_weather"}' in text
    # tool_choice "none": the model is not offered the tools (the history still renders).
    none = prompt_text(server, HISTORY, tools=[WEATHER], tool_choice="none")
    assert "You can call functions" not in none and "```tool_result" in none
    assert none == prompt_text(server, HISTORY)


@pytest.mark.parametrize("choice", ["none", "auto", "required",
                                    {"type": "function", "function": {"name": "get_weather"}}])
@pytest.mark.parametrize("parallel", [True, False])
def test_every_tool_choice_is_accepted(client, choice, parallel):
    r = client.chat.completions.create(model="", messages=QUESTION, tools=[WEATHER], max_tokens=4,
                                       tool_choice=choice, parallel_tool_calls=parallel)
    check_message(r.choices[0])
    if choice == "none":
        assert not r.choices[0].message.tool_calls


@pytest.mark.parametrize("kwargs, param", [
    ({"tools": [WEATHER, {"type": "function", "function": {"name": "bad name"}}]},
     "tools[1].function.name"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}]},
     "tools[0].function.parameters.type"),
    ({"tools": [{"type": "function"}]}, "tools[0].function"),
    ({"tools": [WEATHER, WEATHER]}, "tools[1].function.name"),
    ({"tools": [{"type": "function", "function": {"name": f"f{i}"}} for i in range(129)]},
     "tools"),
    ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice"),
    ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
     "tool_choice.function.name"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"extra_body": {"functions": [{"name": "f"}]}}, "functions"),
    ({"messages": QUESTION + [{"role": "assistant", "content": None, "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]},
     "messages[1].tool_calls[0].function.arguments"),
])
def test_bad_tools_are_400s_naming_the_param(client, kwargs, param):
    kwargs = {"messages": QUESTION, **kwargs}
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="", max_tokens=1, **kwargs)
    assert e.value.status_code == 400
    assert e.value.body["param"] == param, e.value.body


# ---- A tiny Gemma 4 model -------------------------------------------------------------------

@pytest.fixture(scope="module")
def gemma4():
    path = os.path.join(FIXTURES, "tiny_gemma4_unified.gguf")
    if not os.path.exists(path):
        pytest.skip("no tests/fixtures/tiny_gemma4_unified.gguf")
    s = Server(model=path)
    yield s
    assert s.stop() == 0, s.log()


def text_ids(server, text):
    return httpx.post(server.url + "/tokenize", timeout=30,
                      json={"prompt": text, "add_special_tokens": False}).json()["tokens"]


def test_gemma4_prompt_renders_tools_calls_and_results_natively(gemma4):
    text = prompt_text(gemma4, HISTORY, tools=[WEATHER])
    assert "<|tool>declaration:get_weather{" in text
    assert "<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>}<tool_call|>" in text
    # The tool message became the call's response, inside the model's still-open turn.
    assert text.endswith("<|tool_response>response:get_weather{sky:<|\"|>clear<|\"|>,temp_c:21}"
                         "<tool_response|><|channel>thought\n<channel|>")
    assert "<|tool>" not in prompt_text(gemma4, HISTORY, tools=[WEATHER], tool_choice="none")


@pytest.mark.parametrize("words", [
    ["<|tool_call>", "<tool_call|>", "call", ":", "get_weather", "{", "}"],
    ["<|tool_call>", "<tool_call|>", "<|\"|>", "city", ":", "{", "}", "a", "1"],
])
def test_gemma4_malformed_calls_are_content_word_for_word(gemma4, words):
    client = gemma4.client()
    bias = {str(i): 60 for w in words for i in text_ids(gemma4, w)}
    kwargs = dict(model="", messages=QUESTION, tools=[WEATHER], max_tokens=40, temperature=0,
                  logit_bias=bias)
    whole = client.chat.completions.create(**kwargs).choices[0]
    streamed, finish = [], None
    for chunk in client.chat.completions.create(stream=True, **kwargs):
        for choice in chunk.choices:
            assert not choice.delta.tool_calls
            streamed.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    # The same generation as raw text, from the same prompt ids.
    prompt = httpx.post(gemma4.url + "/tokenize", timeout=30,
                        json={"messages": QUESTION, "tools": [WEATHER]}).json()["tokens"]
    raw = client.completions.create(model="", prompt=prompt, max_tokens=40, temperature=0,
                                    logit_bias=bias).choices[0]
    assert "<|tool_call>" in raw.text or "<tool_call|>" in raw.text  # the markers came out
    if not whole.message.tool_calls:
        assert whole.message.content == raw.text
    assert "".join(streamed) == whole.message.content
    assert finish == whole.finish_reason == raw.finish_reason
