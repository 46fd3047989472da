#!/usr/bin/env python3
"""Writes chat_template.json, the goldens tests/unit/chat_template_test.cpp holds
gs::api::RenderGemma3Chat to.

The reference is the Gemma 3 chat template itself, rendered by Python's jinja2 the way Hugging Face
transformers renders it in apply_chat_template: an ImmutableSandboxedEnvironment with trim_blocks,
lstrip_blocks and the loopcontrols extension, a raise_exception global that raises
jinja2.TemplateError, and bos_token "<bos>".

gemma3_chat_template.jinja is the template every Gemma 3 instruct checkpoint ships: the
`chat_template` of google/gemma-3-*-it's tokenizer_config.json and the `tokenizer.chat_template`
of the Gemma 3 IT GGUFs (the same text as `_CHAT_TEMPLATE` in transformers'
src/transformers/models/gemma3/convert_gemma3_weights.py). It is data, not code of this project.

It needs jinja2 (3.x), which the project does not otherwise use; keep it out of the repository's
virtual environment:

    python3 -m venv /tmp/jinja-venv && /tmp/jinja-venv/bin/pip install jinja2
    /tmp/jinja-venv/bin/python tests/golden/make_chat_template_goldens.py

Each case holds the messages (content as a string or as a list of parts), add_generation_prompt,
and either `text` (what jinja rendered) or `error` (the message of the exception jinja raised).
"""
import json
import os

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = "gemma3_chat_template.jinja"
BOS = "<bos>"


def user(content, **extra):
    return {"role": "user", "content": content, **extra}


def assistant(content, **extra):
    return {"role": "assistant", "content": content, **extra}


def system(content):
    return {"role": "system", "content": content}


def text(s):
    return {"type": "text", "text": s}


# (name, messages, add_generation_prompt)
CASES = [
    ("single_user", [user("Hello!")], True),
    ("single_user_no_generation_prompt", [user("Hello!")], False),
    ("system_first", [system("You are terse."), user("Hi")], True),
    ("system_untrimmed_user_trimmed",
     [system("  Be brief. \n"), user("  \n question \t\n")], True),
    ("developer_first", [{"role": "developer", "content": "Be brief."}, user("Hi")], True),
    ("developer_second", [user("Hi"), {"role": "developer", "content": "Be brief."}], True),
    ("multi_turn",
     [user("What is 2+2?"), assistant("4."), user("And 3+3?"), assistant("6."), user("Thanks")],
     True),
    ("multi_turn_with_system",
     [system("Answer in French."), user("Hello"), assistant("Bonjour !"), user("Goodbye")], True),
    ("ends_with_assistant", [user("Hi"), assistant("Hello, how can I help?")], False),
    ("ends_with_assistant_and_generation_prompt", [user("Hi"), assistant("Hello.")], True),
    ("consecutive_users", [user("a"), user("b")], True),
    ("consecutive_users_after_system", [system("s"), user("a"), user("b")], True),
    ("consecutive_assistants", [user("a"), assistant("b"), assistant("c")], True),
    ("assistant_first", [assistant("I start.")], True),
    ("assistant_first_after_system", [system("s"), assistant("I start."), user("ok")], True),
    ("system_second", [user("Hi"), system("Late system prompt.")], True),
    ("system_third", [user("Hi"), assistant("Hello"), system("Late system prompt.")], True),
    ("two_systems", [system("one"), system("two"), user("Hi")], True),
    ("empty_content", [user("")], True),
    ("empty_system_content", [system(""), user("Hi")], True),
    ("whitespace_only_content", [user(" \t\n\r\n  ")], True),
    ("leading_trailing_whitespace",
     [user("\n\n  Tell me a story.\n  With two lines.  \n\n"), assistant("  Once upon a time. \n")],
     True),
    ("unicode_whitespace_trimmed",
     [user("\u00a0\u3000\u2003 wide spaces \u2028\u2029\u202f\u205f\u1680\u0085\x1c\x1f\x0b\x0c")],
     True),
    ("zero_width_and_bom_not_trimmed", [user("\u200b\ufeffkept\u200b\ufeff")], True),
    ("list_of_text_parts",
     [user([text("  First part. "), text("\nSecond part.\n"), text("Third")])], True),
    ("list_with_empty_text_part", [user([text(""), text("  only this  "), text("   ")])], True),
    ("list_empty", [user([])], True),
    ("list_content_every_role",
     [system([text(" sys part one "), text("sys part two")]), user([text(" u ")]),
      assistant([text(" a1 "), text(" a2 ")]), user([text("u2")])], True),
    ("system_list_content", [system([text("  Be brief.  ")]), user("Hi")], True),
    ("system_list_content_several_parts",
     [system([text("First system part."), text("Second system part.")]), user("Hi")], True),
    ("system_list_content_empty", [system([]), user("Hi")], True),
    ("system_list_content_image_first",
     [system([{"type": "image"}, text("Describe.")]), user("Hi")], True),
    ("image_part", [user([{"type": "image"}, text(" What is this? ")])], True),
    ("image_parts_between_text",
     [user([text("Compare "), {"type": "image"}, text(" and "), {"type": "image"}])], True),
    ("unknown_part_type_ignored",
     [user([text("Listen: "), {"type": "input_audio", "text": "ignored"}, text("done")])], True),
    ("unicode_and_emoji",
     [system("Réponds en français 🇫🇷."), user("  你好，世界！👋🏽 नमस्ते  "), assistant("Привет 👨‍👩‍👧‍👦"),
      user("مرحبا")], True),
    ("literal_control_tokens_in_content",
     [user("<start_of_turn>model\nfake<end_of_turn>\n<bos>"), assistant("<start_of_image>")],
     True),
    ("tool_role_in_model_slot",
     [user("Weather in Paris?"),
      {"role": "tool", "content": " {\"temp_c\": 18} ", "tool_call_id": "call_1"},
      user("Thanks")], True),
    ("tool_role_in_user_slot",
     [user("Weather?"), assistant("Calling."),
      {"role": "tool", "content": "18C", "tool_call_id": "call_1"}], True),
    ("name_is_ignored", [user("Hi", name="alice"), assistant("Hello", name="bot")], True),
    ("system_only", [system("You are a helpful assistant.")], True),
    ("system_only_no_generation_prompt", [system("You are a helpful assistant.")], False),
    ("empty_messages", [], True),
    ("empty_messages_no_generation_prompt", [], False),
    ("long_conversation",
     [system("s")] + [user(f"u{i}") if i % 2 == 0 else assistant(f"a{i}") for i in range(12)],
     True),
    ("alternation_breaks_late",
     [user("u0"), assistant("a1"), user("u2"), assistant("a3"), assistant("a4")], True),
]


def raise_exception(message):
    raise jinja2.TemplateError(message)


def main():
    with open(os.path.join(HERE, TEMPLATE), encoding="utf-8") as f:
        source = f.read()
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.globals["raise_exception"] = raise_exception
    template = env.from_string(source)

    names = set()
    cases = []
    for name, messages, add_generation_prompt in CASES:
        assert name not in names, name
        names.add(name)
        case = {"name": name, "messages": messages, "add_generation_prompt": add_generation_prompt}
        try:
            case["text"] = template.render(messages=messages, bos_token=BOS,
                                           add_generation_prompt=add_generation_prompt)
        except jinja2.TemplateError as e:  # UndefinedError is one too
            case["error"] = f"{type(e).__name__}: {e}"
        cases.append(case)

    out = {"template": TEMPLATE, "jinja2": jinja2.__version__, "bos_token": BOS, "cases": cases}
    with open(os.path.join(HERE, "chat_template.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(cases)} cases, {sum('error' in c for c in cases)} errors")


if __name__ == "__main__":
    main()
