"""Bad input gets an OpenAI error envelope with the right 4xx and `param`, and the server stays
up."""
import json

import httpx2 as httpx
import openai
import pytest

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
MSG = [{"role": "user", "content": "Hi"}]


def post(server, path, body, **kw):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return httpx.post(server.url + path, content=data,
                      headers={"Content-Type": "application/json", **kw.pop("headers", {})},
                      timeout=30, **kw)


def assert_error(r, status, param=None, code=None):
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) >= {"message", "type", "param", "code"}
    assert err["message"]
    if param is not None:
        assert err["param"] == param, err
    if code is not None:
        assert err["code"] == code, err
    return err


def assert_alive(server):
    r = httpx.get(server.url + "/health", timeout=5)
    assert r.status_code == 200
    assert r.elapsed.total_seconds() < 1


CHAT_CASES = [
    # V7: wrong types.
    ({"messages": MSG, "max_tokens": "5"}, "max_tokens"),
    ({"messages": MSG, "temperature": True}, "temperature"),
    ({"messages": {"role": "user"}}, "messages"),
    ({"messages": MSG, "stream": "yes"}, "stream"),
    # V8: numbers out of range.
    ({"messages": MSG, "max_tokens": -1}, "max_tokens"),
    ({"messages": MSG, "max_tokens": 0}, "max_tokens"),
    ({"messages": MSG, "n": 0}, "n"),
    ({"messages": MSG, "n": 1000000000}, "n"),
    ({"messages": MSG, "top_k": -2}, "top_k"),
    ({"messages": MSG, "top_p": 1.5}, "top_p"),
    ({"messages": MSG, "temperature": -1}, "temperature"),
    ({"messages": MSG, "temperature": 1e308}, "temperature"),
    ({"messages": MSG, "logprobs": True, "top_logprobs": 1000000}, "top_logprobs"),
    ({"messages": MSG, "top_logprobs": 2}, "top_logprobs"),
    ({"messages": MSG, "logit_bias": {"-1": 1}}, "logit_bias"),
    ({"messages": MSG, "logit_bias": {"262144": 1}}, "logit_bias"),
    ({"messages": MSG, "logit_bias": {"abc": 1}}, "logit_bias"),
    ({"messages": MSG, "logit_bias": {"5": 101}}, "logit_bias"),
    ({"messages": MSG, "seed": 18446744073709551616}, "seed"),
    ({"messages": MSG, "presence_penalty": 3}, "presence_penalty"),
    # V11: stop caps.
    ({"messages": MSG, "stop": [""]}, "stop"),
    ({"messages": MSG, "stop": ["x"] * 1000}, "stop"),
    ({"messages": MSG, "stop": "y" * 100000}, "stop"),
    # V12, V13 and unsupported features named by their param.
    ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "r"}]},
     "messages[1].tool_call_id"),
    ({"messages": MSG, "stream_options": {"include_usage": True}}, "stream_options"),
    ({"messages": MSG, "response_format": {"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"type": "object", "not": {}}}}},
     "response_format.json_schema.schema"),
    ({"messages": MSG, "structured_outputs": {"regex": "(?<=a)b"}}, "structured_outputs.regex"),
    ({"messages": MSG, "grammar": "root ::= undefined"}, "grammar"),
    ({"messages": MSG, "tool_choice": "required", "tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "uniqueItems": True}}}]},
     "tools[0].function.parameters"),
    ({"messages": MSG, "tools": [{"type": "function", "function": {"name": "f g"}}]},
     "tools[0].function.name"),
    ({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]},
     "messages[0].content[0]"),
    ({"messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]},
     "messages[0].content[0]"),
    ({"messages": []}, "messages"),
    ({}, "messages"),
    # Roles that the Gemma 3 template cannot render.
    ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
     "messages"),
]


@pytest.mark.parametrize("body,param", CHAT_CASES, ids=[str(i) for i in range(len(CHAT_CASES))])
def test_bad_chat_fields(server, body, param):
    assert_error(post(server, CHAT, body), 400, param=param)


COMPLETION_CASES = [
    ({"prompt": [-1]}, "prompt"),
    ({"prompt": [262144]}, "prompt"),
    ({"prompt": [2147483648]}, "prompt"),
    ({"prompt": []}, "prompt"),
    ({"prompt": ["a", 1]}, "prompt"),
    ({"prompt": "x", "suffix": "y"}, "suffix"),
    ({"prompt": "x", "logprobs": 1000}, "logprobs"),
    ({}, "prompt"),
]


@pytest.mark.parametrize("body,param", COMPLETION_CASES,
                         ids=[str(i) for i in range(len(COMPLETION_CASES))])
def test_bad_completion_fields(server, body, param):
    assert_error(post(server, COMPLETIONS, body), 400, param=param)


@pytest.mark.parametrize("body", [
    b"", b"not json", b'{"messages": [', b"[1, 2]", b'\xef\xbb\xbf{"messages": [{"role": "user", "content": "x"}]}',
    b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}',
    b'{"messages": [{"role": "user", "content": "\\ud800"}]}',
    b'{"messages": [{"role": "user", "content": "x"}], "temperature": 1e400}',
    b'{"a": ' + b"[" * 65 + b"]" * 65 + b"}",
    b"[" * 1000000,
], ids=["empty", "garbage", "truncated", "array", "bom", "bad-utf8", "lone-surrogate", "1e400",
        "depth-65", "depth-1e6"])
def test_malformed_bodies(server, body):
    assert_error(post(server, CHAT, body), 400)
    assert_alive(server)


def test_unknown_and_ignored_fields_are_accepted(server):
    r = post(server, CHAT, {"messages": MSG, "max_tokens": 2, "user": "u", "store": False,
                            "metadata": {"a": "b"}, "service_tier": "auto",
                            "reasoning_effort": "low", "parallel_tool_calls": True,
                            "some_future_field": {"x": [1, 2]}, "tools": [],
                            "response_format": {"type": "text"}})
    assert r.status_code == 200, r.text


def test_context_length_exceeded(server):
    long_prompt = "hello " * 40000
    err = assert_error(post(server, COMPLETIONS, {"prompt": long_prompt, "max_tokens": 1}), 400,
                       code="context_length_exceeded")
    assert "context length" in err["message"]
    err = assert_error(post(server, COMPLETIONS, {"prompt": "hi", "max_tokens": 1 << 20}), 400)
    assert err["param"] == "max_tokens"


def test_unknown_route_and_model(server):
    r = httpx.get(server.url + "/v2/nothing")
    assert_error(r, 404)
    assert_error(post(server, CHAT, {"model": "gpt-4", "messages": MSG}), 404,
                 code="model_not_found")


def test_sdk_raises_bad_request_not_a_retryable_error(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="", messages=MSG, temperature=5)
    assert e.value.body["param"] == "temperature"


def test_server_survived_everything(server):
    assert_alive(server)
    r = post(server, CHAT, {"messages": MSG, "max_tokens": 3})
    assert r.status_code == 200
