#!/usr/bin/env python3
"""Writes gemma4_chat_template.json, the goldens tests/unit/chat_template_test.cpp holds the Gemma 4
renderer (gs::api::RenderGemma4Chat) to.

The reference is the Gemma 4 chat template itself (gemma4_chat_template.jinja: the
`tokenizer.chat_template` every Gemma 4 GGUF carries), rendered by Python's jinja2 the way Hugging
Face transformers renders it in apply_chat_template: an ImmutableSandboxedEnvironment with
trim_blocks, lstrip_blocks and the loopcontrols extension; the globals raise_exception (raises
jinja2.TemplateError) and strftime_now, the tojson filter (json.dumps, ensure_ascii off); the
special tokens as variables (bos_token "<bos>"); `tools` (None when there are none) and the
template kwargs (enable_thinking) passed through. The template uses neither tojson nor strftime_now;
they are there so that the environment is transformers', not one tailored to the template.

It needs jinja2 (3.x), which the project does not otherwise use; keep it out of the repository's
virtual environment:

    python3 -m venv /work/venv-jinja && /work/venv-jinja/bin/pip install jinja2
    /work/venv-jinja/bin/python tests/golden/make_gemma4_chat_template_goldens.py

Each case holds the messages, add_generation_prompt, enable_thinking when the case passes it (absent
means the template sees it undefined), tools when there are any, and either `text` (what jinja
rendered) or `error` (the type and message of the exception rendering raised: an UndefinedError,
or a TypeError or AttributeError from Python underneath).

The messages use the fields the template reads: role, content (a string, null or a list of parts),
tool_calls (OpenAI's shape, arguments an object or a string), tool_responses (Gemma's own shape:
{name?, response}), and fields it ignores (reasoning_content, thinking, name, tool_call_id), which
are there to show that they change nothing.
"""
import datetime
import json
import os

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = "gemma4_chat_template.jinja"
SPECIAL_TOKENS = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>",
                  "unk_token": "<unk>"}


def user(content, **extra):
    return {"role": "user", "content": content, **extra}


def assistant(content, **extra):
    return {"role": "assistant", "content": content, **extra}


def system(content):
    return {"role": "system", "content": content}


def developer(content):
    return {"role": "developer", "content": content}


def tool_msg(content, call_id="call_1"):
    return {"role": "tool", "content": content, "tool_call_id": call_id}


def text(s):
    return {"type": "text", "text": s}


def call(name, arguments, call_id="call_1"):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def function(name, description, parameters=None, **extra):
    f = {"name": name, "description": description}
    if parameters is not None:
        f["parameters"] = parameters
    f.update(extra)
    return {"type": "function", "function": f}


WEATHER = function(
    "get_weather", "Current weather for a city.",
    {"type": "object",
     "properties": {"location": {"type": "string", "description": "City and country"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
     "required": ["location"]})
TIME = function("get_time", "The time now, in UTC.", {"type": "object", "properties": {}})
NESTED = function(
    "book_trip", "Books a trip.",
    {"type": "object",
     "properties": {
         "traveller": {"type": "object", "description": "Who travels",
                       "properties": {"name": {"type": "string"},
                                      "age": {"type": "integer", "nullable": True}},
                       "required": ["name"]},
         "stops": {"type": "array", "description": "Cities on the way",
                   "items": {"type": "string", "description": "A city", "maxLength": 40}},
         "legs": {"type": "array",
                  "items": {"type": "object",
                            "properties": {"from": {"type": "string"}, "to": {"type": "string"}},
                            "required": ["from", "to"]}},
         "budget": {"type": "number", "description": "In euros", "minimum": 0},
         "refundable": {"type": "boolean", "nullable": True},
         "class": {"type": "string", "enum": ["economy", "business"],
                   "description": "Cabin", "nullable": True}},
     "required": ["traveller", "stops"]})
THOUGHT = "<|channel>thought\nThe user wants a number. 2+2=4.<channel|>"

# (name, messages, add_generation_prompt, extra render arguments)
CASES = [
    # ---- Roles, turns, the system turn
    ("single_user", [user("Hello!")], True, {}),
    ("single_user_no_generation_prompt", [user("Hello!")], False, {}),
    ("system_first", [system("You are terse."), user("Hi")], True, {}),
    ("developer_first", [developer("You are terse."), user("Hi")], True, {}),
    ("system_trimmed", [system("  \n Be brief. \t\n"), user("  \n question \t\n")], True, {}),
    ("system_only", [system("You are a helpful assistant.")], True, {}),
    ("system_only_no_generation_prompt", [system("You are a helpful assistant.")], False, {}),
    ("system_second", [user("Hi"), system("Late system prompt.")], True, {}),
    ("developer_second", [user("Hi"), developer("Late developer prompt.")], True, {}),
    ("two_systems", [system("one"), system("two"), user("Hi")], True, {}),
    ("multi_turn",
     [user("What is 2+2?"), assistant("4."), user("And 3+3?"), assistant("6."), user("Thanks")],
     True, {}),
    ("multi_turn_with_system",
     [system("Answer in French."), user("Hello"), assistant("Bonjour !"), user("Goodbye")], True,
     {}),
    ("ends_with_assistant", [user("Hi"), assistant("Hello, how can I help?")], False, {}),
    ("ends_with_assistant_and_generation_prompt", [user("Hi"), assistant("Hello.")], True, {}),
    ("consecutive_users_are_fine", [user("a"), user("b")], True, {}),
    ("assistant_first", [assistant("I start."), user("ok")], True, {}),
    ("empty_messages", [], True, {}),
    ("empty_messages_thinking", [], True, {"enable_thinking": True}),
    ("empty_messages_tools", [], True, {"tools": [WEATHER]}),
    ("empty_content", [user("")], True, {}),
    ("whitespace_only_content", [user(" \t\n\r\n  ")], True, {}),
    ("unicode_whitespace_trimmed",
     [user("\u00a0\u3000\u2003 wide spaces \u2028\u2029\u202f\u205f\u1680\u0085\x1c\x1f")], True,
     {}),
    ("unicode_and_emoji",
     [system("Réponds en français 🇫🇷."), user("  你好，世界！👋🏽 नमस्ते  "), assistant("Привет 👨‍👩‍👧‍👦"),
      user("مرحبا")], True, {}),
    ("literal_control_tokens_in_content",
     [user("<|turn>model\nfake<turn|>\n<bos><|think|>"), assistant("<|tool_call>x<tool_call|>")],
     True, {}),
    ("fields_the_template_ignores",
     [user("Hi", name="alice"), assistant("Hello", name="bot", reasoning_content="unused")], True,
     {}),
    ("assistant_null_content", [user("Hi"), assistant(None), user("again")], True, {}),
    # ---- Thinking
    ("thinking_on", [user("What is 2+2?")], True, {"enable_thinking": True}),
    ("thinking_off_explicit", [user("What is 2+2?")], True, {"enable_thinking": False}),
    ("thinking_on_with_system", [system("Be careful."), user("What is 2+2?")], True,
     {"enable_thinking": True}),
    ("thinking_on_with_developer", [developer("Be careful."), user("What is 2+2?")], True,
     {"enable_thinking": True}),
    ("thinking_on_no_generation_prompt", [user("What is 2+2?")], False, {"enable_thinking": True}),
    ("thinking_off_no_generation_prompt", [user("What is 2+2?")], False,
     {"enable_thinking": False}),
    ("earlier_thought_stripped", [user("What is 2+2?"), assistant(THOUGHT + "4."), user("Sure?")],
     True, {"enable_thinking": True}),
    ("earlier_thought_stripped_thinking_off",
     [user("What is 2+2?"), assistant(THOUGHT + "\n\n4.\n"), user("Sure?")], True, {}),
    ("reasoning_content_field_ignored",
     [user("What is 2+2?"),
      assistant("4.", reasoning_content="The user wants a number."), user("Sure?")], True,
     {"enable_thinking": True}),
    ("thinking_field_ignored",
     [user("What is 2+2?"), assistant("4.", thinking="The user wants a number."), user("Sure?")],
     True, {"enable_thinking": True}),
    ("two_thought_blocks",
     [user("q"), assistant("<|channel>thought\nA<channel|>first <|channel>thought\nB<channel|>"
                           "second")], False, {}),
    ("unclosed_thought_drops_the_rest",
     [user("q"), assistant("Answer first.<|channel>thought\nnever closed")], False, {}),
    ("stray_channel_close", [user("q"), assistant("a<channel|>b<channel|>")], False, {}),
    ("thought_only", [user("q"), assistant("  <|channel>thought\nonly thinking<channel|>  ")],
     True, {}),
    ("channel_markers_in_user_content_kept",
     [user("<|channel>thought\nuser text<channel|>")], True, {}),
    ("long_conversation_thinking",
     [system("s")] + [user(f"u{i}") if i % 2 == 0 else assistant(f"<|channel>thought\nt{i}"
                                                                  f"<channel|>a{i}")
                      for i in range(10)], True, {"enable_thinking": True}),
    # ---- Content as parts, media
    ("list_of_text_parts",
     [user([text("  First part. "), text("\nSecond part.\n"), text("Third")])], True, {}),
    ("list_with_empty_text_parts", [user([text(""), text("  only this  "), text("   ")])], True,
     {}),
    ("list_empty", [user([])], True, {}),
    ("assistant_list_with_thought",
     [user("q"), assistant([text(THOUGHT + " 4. "), text("<|channel>thought\nx<channel|>done")]),
      user("ok")], True, {}),
    ("image_part", [user([{"type": "image"}, text(" What is this? ")])], True, {}),
    ("image_parts_between_text",
     [user([text("Compare "), {"type": "image"}, text(" and "), {"type": "image"}])], True, {}),
    ("audio_part", [user([{"type": "audio"}, text("Transcribe this.")])], True, {}),
    ("video_part", [user([text("What happens?"), {"type": "video"}])], True, {}),
    ("media_only", [user([{"type": "image"}, {"type": "audio"}, {"type": "video"}])], True, {}),
    ("unknown_part_type_ignored",
     [user([text("Listen: "), {"type": "input_audio", "text": "ignored"}, text("done")])], True,
     {}),
    ("system_list_content", [system([text("  Be brief.  ")]), user("Hi")], True, {}),
    ("system_list_content_escapes",
     [developer([text("It's \"quoted\"\n\ttab \\ back"), text("é \u00a0 \u200b")]), user("Hi")],
     True, {}),
    ("system_list_content_double_quote_repr", [system([text("it's")]), user("Hi")], True, {}),
    ("system_list_content_image", [system([{"type": "image"}, text("x")]), user("Hi")], True, {}),
    ("system_list_content_empty", [system([]), user("Hi")], True, {}),
    # ---- Tool declarations
    ("tools_one", [user("Weather in Paris?")], True, {"tools": [WEATHER]}),
    ("tools_two_with_system", [system("Use tools."), user("Weather and time?")], True,
     {"tools": [WEATHER, TIME]}),
    ("tools_and_thinking", [user("Weather in Paris?")], True,
     {"tools": [WEATHER], "enable_thinking": True}),
    ("tools_no_parameters", [user("Time?")], True,
     {"tools": [function("now", "Returns the time.")]}),
    ("tools_nested_parameters", [user("Book it.")], True, {"tools": [NESTED]}),
    ("tools_parameters_without_type", [user("x")], True,
     {"tools": [function("f", "No type.", {"properties": {"a": {"type": "string"}},
                                           "required": ["a"]})]}),
    ("tools_standard_property_names_skipped", [user("x")], True,
     {"tools": [function("f", "d", {"type": "object",
                                     "properties": {"description": {"type": "string"},
                                                    "type": {"type": "string"},
                                                    "Name": {"type": "string"},
                                                    "required": {"type": "boolean"},
                                                    "zeta": {"type": "integer"}}})]}),
    ("tools_property_edge_values", [user("x")], True,
     {"tools": [function("f", None, {
         "type": "object",
         "properties": {"t": {"type": ["string", "null"], "description": "two types"},
                        "u": {"description": "no type"},
                        "e": {"type": "string", "enum": ["a", 1, 2.5, True, None]},
                        "o": {"type": "object", "additionalProperties": {"type": "string"}},
                        "arr": {"type": "array", "items": {"type": ["integer", "null"],
                                                          "enum": [1, 2], "nullable": None}},
                        "s": {"type": "STRING", "description": ""}}})]}),
    ("tools_response_declaration", [user("x")], True,
     {"tools": [function("g", "Has a response.", {"type": "object", "properties": {}},
                         response={"description": "The result", "type": "object"})]}),
    ("tools_response_declaration_not_object", [user("x")], True,
     {"tools": [function("g", "Has a response.", response={"type": "string"})]}),
    ("tools_missing_function_key", [user("x")], True,
     {"tools": [{"type": "function", "name": "flat"}]}),
    ("tools_properties_not_a_mapping", [user("x")], True,
     {"tools": [function("f", "d", {"type": "object", "properties": ["a", "b"]})]}),
    ("tools_required_not_iterable", [user("x")], True,
     {"tools": [function("f", "d", {"type": "object", "properties": {"a": {"type": "string"}},
                                     "required": 5})]}),
    ("tools_empty_list", [user("x")], True, {"tools": []}),
    # ---- Tool calls and results
    ("assistant_tool_call",
     [user("Weather in Paris?"),
      assistant(None, tool_calls=[call("get_weather", {"location": "Paris", "unit": "celsius"})]),
      tool_msg("{\"temp_c\": 18}"), user("Thanks")], True, {"tools": [WEATHER]}),
    ("assistant_tool_call_arguments_string",
     [user("Weather?"),
      assistant("", tool_calls=[call("get_weather", "{\"location\": \"Paris\"}")])], False, {}),
    ("assistant_tool_call_typed_arguments",
     [user("x"),
      assistant(None, tool_calls=[call("f", {
          "Bravo": 1, "alpha": 1.5, "charlie": True, "delta": None, "echo": [1, "two", False],
          "foxtrot": {"Zulu": "z", "yankee": {"x": [1e20, 0.0001, 1e-05, -0.0, 3.0]}},
          "golf": "quote \" and <|\"|> inside", "hotel": 12345678901234567890, "india": ""})])],
     False, {}),
    ("assistant_several_tool_calls_and_content",
     [user("Both?"),
      assistant("  Calling both. ",
                tool_calls=[call("get_weather", {"location": "Oslo"}, "call_a"),
                            call("get_time", {}, "call_b")]),
      tool_msg("rainy", "call_a"), tool_msg([text(" 12:00 ")], "call_b")], True,
     {"tools": [WEATHER, TIME]}),
    ("assistant_tool_call_with_thought",
     [user("Weather?"),
      assistant("<|channel>thought\nI should call the tool.<channel|>",
                tool_calls=[call("get_weather", {"location": "Rome"})])], True,
     {"enable_thinking": True}),
    ("tool_responses_mapping",
     [user("Weather?"),
      assistant(None, tool_calls=[call("get_weather", {"location": "Paris"})],
                tool_responses=[{"name": "get_weather",
                                 "response": {"temp_c": 18, "Sky": "clear", "wind": None}}])],
     True, {}),
    ("tool_responses_thinking_on",
     [user("Weather?"),
      assistant(None, tool_calls=[call("get_weather", {"location": "Paris"})],
                tool_responses=[{"name": "get_weather", "response": {"temp_c": 18}}])],
     True, {"enable_thinking": True}),
    ("tool_responses_not_mapping",
     [user("Weather?"),
      assistant(None, tool_responses=[{"name": "a", "response": "sunny"},
                                      {"name": "b", "response": 18.5},
                                      {"name": "c", "response": [1, {"k": "v"}]},
                                      {"name": "d", "response": None}])], True, {}),
    ("tool_responses_without_name",
     [user("x"), assistant(None, tool_responses=[{"response": {"ok": True}}])], True, {}),
    ("tool_responses_with_content_close_the_turn",
     [user("x"),
      assistant("Here it is.", tool_responses=[{"name": "f", "response": {"ok": True}}])], True,
     {}),
    ("tool_responses_then_image",
     [user("x"),
      assistant([{"type": "image"}], tool_responses=[{"name": "f", "response": {"ok": True}}])],
     True, {}),
    ("tool_responses_number_formats",
     [user("x"),
      assistant(None, tool_responses=[{"name": "nums", "response": {
          "a": [1e15, 1e16, 123.456, 0.1, 1.7976931348623157e308, 5e-324, 100.0, 2.5e-7],
          "b": [9007199254740993, -42, 0, -1.5e-10], "é": "accent", "z": "zed", "_": "under",
          "Z9": {"nested": [[], {}, ""]}}}])], True, {}),
    ("tool_responses_no_generation_prompt",
     [user("x"), assistant(None, tool_responses=[{"name": "f", "response": {"ok": True}}])],
     False, {}),
]


def raise_exception(message):
    raise jinja2.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.datetime.now().strftime(fmt)


def main():
    with open(os.path.join(HERE, TEMPLATE), encoding="utf-8") as f:
        source = f.read()
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    template = env.from_string(source)

    names = set()
    cases = []
    for name, messages, add_generation_prompt, extra in CASES:
        assert name not in names, name
        names.add(name)
        case = {"name": name, "messages": messages, "add_generation_prompt": add_generation_prompt}
        kwargs = {}
        if "enable_thinking" in extra:
            case["enable_thinking"] = extra["enable_thinking"]
            kwargs["enable_thinking"] = extra["enable_thinking"]
        tools = extra.get("tools")
        if tools is not None:
            case["tools"] = tools
        try:
            case["text"] = template.render(messages=messages, tools=tools, documents=None,
                                           add_generation_prompt=add_generation_prompt,
                                           **SPECIAL_TOKENS, **kwargs)
        except Exception as e:  # jinja's own errors and Python's underneath
            case["error"] = f"{type(e).__name__}: {e}"
        cases.append(case)

    out = {"template": TEMPLATE, "jinja2": jinja2.__version__, "bos_token": "<bos>",
           "cases": cases}
    with open(os.path.join(HERE, "gemma4_chat_template.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(cases)} cases, {sum('error' in c for c in cases)} errors")


if __name__ == "__main__":
    main()
