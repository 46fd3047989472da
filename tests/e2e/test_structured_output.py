"""Constrained decoding through the official openai SDK on the default model, sampled at
temperature 1 with seeds: every output under a json_schema response_format parses and validates
(Python's jsonschema), streamed and not, alone and 16 at once; a streamed answer is the
non-streamed one; finish_reason is "length" only where max_tokens ran out. tool_choice
"required" and a named function give calls whose arguments validate against the tool's
parameters, identical streamed and not. vLLM's structured_outputs (regex, choice) and
llama.cpp's grammar are honoured too."""
import json
import re
from concurrent.futures import ThreadPoolExecutor

import jsonschema
import pytest

MSG = [{"role": "user", "content": "Answer with JSON."}]
MAX_TOKENS = 160

SCHEMAS = {
    "person": {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 12},
        "age": {"type": "integer", "minimum": 0, "maximum": 120}},
        "required": ["name", "age"], "additionalProperties": False},
    "enum": {"type": "object", "properties": {"color": {"enum": ["red", "green", "blue"]}},
             "required": ["color"], "additionalProperties": False},
    "array": {"type": "array", "items": {"type": "integer", "minimum": -5, "maximum": 5},
              "minItems": 1, "maxItems": 4},
    "nested": {"type": "object", "properties": {
        "point": {"type": "object", "properties": {
            "x": {"type": "integer", "minimum": 0, "maximum": 9},
            "y": {"type": "integer", "minimum": 0, "maximum": 9}},
            "required": ["x", "y"], "additionalProperties": False},
        "ok": {"type": "boolean"}},
        "required": ["point", "ok"], "additionalProperties": False},
    "pattern": {"type": "object", "properties": {
        "code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{3}$"}},
        "required": ["code"], "additionalProperties": False},
    "number": {"type": "object", "properties": {
        "t": {"type": "number", "minimum": -10, "maximum": 10},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 6}, "maxItems": 2}},
        "required": ["t"], "additionalProperties": False},
}

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "maxLength": 20},
        "unit": {"enum": ["c", "f"]}},
        "required": ["city", "unit"], "additionalProperties": False}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "Local time in a time zone.",
    "parameters": {"type": "object", "properties": {
        "offset_hours": {"type": "integer", "minimum": -12, "maximum": 14}},
        "required": ["offset_hours"], "additionalProperties": False}}}
TOOLS = {"get_weather": WEATHER, "get_time": TIME}


def ask_json(client, name, seed, stream):
    kw = dict(model="", messages=MSG, max_tokens=MAX_TOKENS, temperature=1, seed=seed,
              response_format={"type": "json_schema", "json_schema": {
                  "name": name, "strict": True, "schema": SCHEMAS[name]}})
    if not stream:
        r = client.chat.completions.create(**kw)
        return r.choices[0].message.content, r.choices[0].finish_reason, r.usage.completion_tokens
    text, finish, usage = "", None, None
    for chunk in client.chat.completions.create(**kw, stream=True,
                                                stream_options={"include_usage": True}):
        if chunk.usage:
            usage = chunk.usage.completion_tokens
        for c in chunk.choices:
            text += c.delta.content or ""
            finish = c.finish_reason or finish
    return text, finish, usage


def check_json(name, result):
    text, finish, num_tokens = result
    assert finish in ("stop", "length"), (name, finish)
    if finish == "length":
        assert num_tokens == MAX_TOKENS, (name, text)
    assert finish == "stop", f"{name}: ran out of max_tokens: {text!r}"
    jsonschema.validate(json.loads(text), SCHEMAS[name])


def test_json_schema_outputs_validate_alone_streamed_and_not(client):
    for name in SCHEMAS:
        for seed in (1, 2):
            plain = ask_json(client, name, seed, stream=False)
            streamed = ask_json(client, name, seed, stream=True)
            check_json(name, plain)
            assert streamed == plain, name


@pytest.mark.parametrize("stream", [False, True])
def test_json_schema_outputs_validate_16_at_once(client, stream):
    jobs = [(name, 100 + seed) for name in SCHEMAS for seed in range(16)]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda j: ask_json(client, j[0], j[1], stream), jobs))
    for (name, _), result in zip(jobs, results):
        check_json(name, result)


def ask_tools(client, choice, seed, stream, parallel):
    kw = dict(model="", messages=[{"role": "user", "content": "Weather in Paris, time in Tokyo?"}],
              tools=list(TOOLS.values()), tool_choice=choice, parallel_tool_calls=parallel,
              max_tokens=MAX_TOKENS, temperature=1, seed=seed)
    if not stream:
        r = client.chat.completions.create(**kw)
        m = r.choices[0].message
        return ([(c.function.name, c.function.arguments) for c in m.tool_calls or []],
                m.content, r.choices[0].finish_reason)
    calls, content, finish = {}, "", None
    for chunk in client.chat.completions.create(**kw, stream=True):
        for c in chunk.choices:
            content += c.delta.content or ""
            finish = c.finish_reason or finish
            for d in c.delta.tool_calls or []:
                entry = calls.setdefault(d.index, ["", ""])
                entry[0] += d.function.name or ""
                entry[1] += d.function.arguments or ""
    return [tuple(calls[i]) for i in sorted(calls)], content or None, finish


@pytest.mark.parametrize("stream", [False, True])
def test_required_and_named_tool_calls_validate_16_at_once(client, stream):
    named = {"type": "function", "function": {"name": "get_time"}}
    jobs = [(choice, seed, parallel) for choice in ("required", named)
            for parallel in (False, True) for seed in range(8)]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda j: ask_tools(client, j[0], j[1], stream, j[2]), jobs))
    for (choice, seed, parallel), (calls, content, finish) in zip(jobs, results):
        assert finish == ("tool_calls" if choice == "required" else "stop"), (choice, seed, finish)
        assert calls and not content, (choice, seed, calls, content)
        assert parallel or len(calls) == 1
        for name, arguments in calls:
            if choice != "required":
                assert name == "get_time"
            jsonschema.validate(json.loads(arguments), TOOLS[name]["function"]["parameters"])
    if stream:  # the same requests non-streamed give the same calls
        for job, result in list(zip(jobs, results))[:8]:
            assert ask_tools(client, job[0], job[1], False, job[2]) == result


def test_vllm_and_llama_cpp_fields(client):
    def complete(**extra):
        r = client.chat.completions.create(model="", messages=MSG, max_tokens=40, temperature=1,
                                           seed=7, extra_body=extra)
        return r.choices[0].message.content, r.choices[0].finish_reason

    text, finish = complete(structured_outputs={"regex": "[a-z]{2,8}-[0-9]{2}"})
    assert finish == "stop" and re.fullmatch("[a-z]{2,8}-[0-9]{2}", text), text
    text, finish = complete(structured_outputs={"choice": ["yes", "no", "maybe"]})
    assert finish == "stop" and text in ("yes", "no", "maybe"), text
    text, finish = complete(grammar='root ::= "(" [0-9]+ ("," [0-9]+)* ")"')
    assert finish == "stop" and re.fullmatch(r"\(\d+(,\d+)*\)", text), text
    text, finish = complete(json_schema=SCHEMAS["enum"])
    assert finish == "stop"
    jsonschema.validate(json.loads(text), SCHEMAS["enum"])
    text, finish = complete(response_format={"type": "json_object"})
    assert finish in ("stop", "length")
    if finish == "stop":
        assert isinstance(json.loads(text), dict)


def test_completions_take_a_schema_too(client):
    r = client.completions.create(model="", prompt="A person:", max_tokens=MAX_TOKENS,
                                  temperature=1, seed=3,
                                  extra_body={"structured_outputs": {"json": SCHEMAS["person"]}})
    assert r.choices[0].finish_reason == "stop"
    jsonschema.validate(json.loads(r.choices[0].text), SCHEMAS["person"])


def test_properties_come_in_the_schemas_order(client):
    """The request's JSON is parsed into sorted maps; the schema must still be honoured in the
    order the client wrote it ("name" before "age"), as OpenAI's structured outputs are."""
    for seed in (1, 2, 3):
        text, finish, _ = ask_json(client, "person", seed, stream=False)
        assert finish == "stop"
        assert list(json.loads(text)) == ["name", "age"], text
    r = client.chat.completions.create(
        model="", messages=MSG, max_tokens=MAX_TOKENS, temperature=1, seed=4,
        extra_body={"structured_outputs": {"json": SCHEMAS["person"]}})
    assert list(json.loads(r.choices[0].message.content)) == ["name", "age"]
