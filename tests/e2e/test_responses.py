"""OpenAI's Responses API through the official openai SDK: client.responses.create streamed and
not, instructions, item input, previous_response_id chaining (and the 404 for an unknown id),
store, retrieve and delete, a function tool round trip on the wire, max_output_tokens ->
incomplete, 400s naming the field; and, when the OpenAI Agents SDK is installed, an Agent run
with a function tool against the server (its default API is Responses).

The default model is a small Gemma 3 base model: answers are checked for structure, not quality.
Event building and request mapping are tested in tests/unit/responses_test.cpp."""
import asyncio

import httpx2 as httpx
import openai
import pytest

WEATHER = {"type": "function", "name": "get_weather", "description": "Current weather in a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}}


def create(client, **kw):
    kw.setdefault("model", client.models.list().data[0].id)
    kw.setdefault("max_output_tokens", 8)
    kw.setdefault("temperature", 0)
    return client.responses.create(**kw)


def test_string_input_gives_a_response_object(client):
    r = create(client, input="Say hello.", instructions="Be brief.")
    assert r.id.startswith("resp_") and r.object == "response"
    assert r.status in ("completed", "incomplete")
    assert r.instructions == "Be brief."
    msg = [o for o in r.output if o.type == "message"][0]
    assert msg.id.startswith("msg_") and msg.role == "assistant"
    assert msg.content[0].type == "output_text" and msg.content[0].text == r.output_text
    assert r.usage.input_tokens > 0 and 0 < r.usage.output_tokens <= 8
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens


def test_max_output_tokens_makes_it_incomplete(client):
    r = create(client, input="Count from one to one hundred in words.", max_output_tokens=3)
    assert r.status == "incomplete"
    assert r.incomplete_details.reason == "max_output_tokens"
    assert r.usage.output_tokens == 3


def test_stream_events_in_order_and_deltas_make_the_text(client):
    events = list(create(client, input="Say hello.", max_output_tokens=6, stream=True))
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] in ("response.completed", "response.incomplete")
    assert [e.sequence_number for e in events] == list(range(len(events)))
    for t in ("response.output_item.added", "response.content_part.added",
              "response.output_text.done", "response.content_part.done",
              "response.output_item.done"):
        assert t in types
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    final = events[-1].response
    assert deltas == final.output_text
    assert [e for e in events if e.type == "response.output_text.done"][0].text == deltas
    assert events[0].response.id == final.id and events[0].response.status == "in_progress"


def test_streamed_equals_non_streamed(client):
    a = create(client, input="Name a color.", max_output_tokens=6)
    events = list(create(client, input="Name a color.", max_output_tokens=6, stream=True))
    assert events[-1].response.output_text == a.output_text


def test_item_input_and_previous_response_id(client):
    first = create(client, input=[
        {"role": "developer", "content": "Answer in one word."},
        {"type": "message", "role": "user",
         "content": [{"type": "input_text", "text": "My name is Ada."}]}])
    second = create(client, input="What is my name?", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    # The second prompt holds the first turn: the user's words and the model's answer.
    assert second.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens
    assert client.responses.retrieve(second.id).output_text == second.output_text
    with pytest.raises(openai.NotFoundError) as e:
        create(client, input="x", previous_response_id="resp_does_not_exist")
    assert e.value.body["param"] == "previous_response_id"


def test_store_false_is_not_retrievable_and_delete(server, client):
    r = create(client, input="Hi", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)
    with pytest.raises(openai.NotFoundError):
        create(client, input="x", previous_response_id=r.id)
    kept = create(client, input="Hi")
    assert httpx.delete(f"{server.url}/v1/responses/{kept.id}").json()["deleted"] is True
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(kept.id)


def test_function_tool_round_trip_on_the_wire(client):
    r = create(client, input=[
        {"role": "user", "content": "What is the weather in Paris?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather",
         "arguments": "{\"city\": \"Paris\"}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "{\"temp_c\": 21}"}],
        tools=[WEATHER], tool_choice="auto")
    assert r.status in ("completed", "incomplete")
    assert r.tools[0].name == "get_weather" and r.tool_choice == "auto"
    for item in r.output:
        if item.type == "function_call":
            assert item.call_id.startswith("call_") and item.name == "get_weather"
    # A stored response's output, calls included, carries on as the next request's input.
    follow = create(client, input="Thanks.", previous_response_id=r.id, tools=[WEATHER])
    assert follow.status in ("completed", "incomplete")


def test_required_tool_choice_and_text_format_are_enforced(client):
    """As on chat completions: tool_choice "required" gives a call whose arguments follow the
    tool's parameters, and a text.format json_schema gives JSON that validates, its properties in
    the schema's order."""
    import json

    import jsonschema
    # Bounded arguments, so that a sampled call ends well within max_output_tokens.
    tool = dict(WEATHER, parameters={
        "type": "object", "properties": {"city": {"type": "string", "maxLength": 12}},
        "required": ["city"], "additionalProperties": False})
    for seed in (1, 2):
        r = create(client, input="Weather?", tools=[tool], tool_choice="required",
                   temperature=1, top_p=1, max_output_tokens=64, extra_body={"seed": seed})
        calls = [item for item in r.output if item.type == "function_call"]
        assert calls and calls[0].name == "get_weather", r.output
        jsonschema.validate(json.loads(calls[0].arguments), tool["parameters"])
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10},
                                               "age": {"type": "integer", "minimum": 0,
                                                       "maximum": 99}},
              "required": ["name", "age"], "additionalProperties": False}
    r = create(client, input="A person as JSON.", temperature=1, max_output_tokens=64,
               extra_body={"seed": 3},
               text={"format": {"type": "json_schema", "name": "person", "schema": schema,
                                "strict": True}})
    assert r.status == "completed", r.output_text
    value = json.loads(r.output_text)
    jsonschema.validate(value, schema)
    assert list(value) == ["name", "age"]


@pytest.mark.parametrize("body, param", [
    ({"input": [{"type": "bogus"}]}, "input[0].type"),
    ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
    ({"input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ({"input": "x", "tool_choice": {"type": "function", "name": "nope"},
      "tools": [WEATHER]}, "tool_choice.name"),
])
def test_bad_input_is_a_400_naming_the_field(server, body, param):
    r = httpx.post(server.url + "/v1/responses", json=body, timeout=30)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


def test_agents_sdk_runs_an_agent_with_a_function_tool(server):
    agents = pytest.importorskip("agents")
    agents.set_tracing_disabled(True)
    calls = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        calls.append(city)
        return "sunny"

    client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    name = httpx.get(server.url + "/v1/models", timeout=30).json()["data"][0]["id"]
    model = agents.OpenAIResponsesModel(model=name, openai_client=client)
    agent = agents.Agent(name="weather", instructions="Answer briefly.", tools=[get_weather],
                         model=model,
                         # A base model rarely ends its turn: a stop string ends it (an
                         # incomplete response is an error to the SDK).
                         model_settings=agents.ModelSettings(max_tokens=48, temperature=0,
                                                             extra_body={"stop": ["\n"]}))

    async def run():
        try:
            return await agents.Runner.run(agent, "What is the weather in Paris?", max_turns=3)
        finally:
            await client.close()

    try:
        result = asyncio.run(run())
    except agents.MaxTurnsExceeded:
        assert calls, "turns ran out without a tool call"  # it called, was answered, went on
        return
    assert isinstance(result.final_output, str)
