#!/usr/bin/env python3
"""Writes hand-made seed inputs for the fuzz targets into OUT_DIR/<target>/.

The seeds give each fuzzer a head start (README.md here): well-formed GGUF files that reach
every value type, the tensor table, the model config and the tokenizer loader, plus cuts of
them; tokenizer texts; chats; request bodies (OpenAI SDK ones and the validation tests' edge
cases); token streams with stop strings. The committed corpus is what the fuzzers grew from
these.
"""
import json
import struct
import sys
from pathlib import Path

# GGUF value type ids.
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
SCALAR_FORMATS = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
                  BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}
# ggml type ids and (block elements, block bytes).
F32_T, Q8_0_T, Q4_K_T = 0, 8, 12
BLOCKS = {F32_T: (1, 4), Q8_0_T: (32, 34), Q4_K_T: (256, 144)}


def gguf_str(s):
    data = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(data)) + data


def value(vtype, v):
    if vtype == STR:
        return gguf_str(v)
    if vtype == ARR:
        elem_type, elems = v
        return struct.pack("<iQ", elem_type, len(elems)) + b"".join(
            value(elem_type, e) for e in elems)
    return struct.pack(SCALAR_FORMATS[vtype], v)


def gguf(kvs, tensors, version=3, alignment=32):
    """kvs: [(key, type, value)]; tensors: [(name, ne, ggml type)], laid out in order."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for key, vtype, v in kvs:
        out += gguf_str(key) + struct.pack("<i", vtype) + value(vtype, v)
    data = b""
    for idx, (name, ne, ggml_type) in enumerate(tensors):
        data += b"\0" * (-len(data) % alignment)
        out += gguf_str(name) + struct.pack("<I", len(ne)) + b"".join(
            struct.pack("<q", n) for n in ne) + struct.pack("<iQ", ggml_type, len(data))
        block_elems, block_bytes = BLOCKS[ggml_type]
        num_bytes = ne[0] // block_elems * block_bytes if ne else block_bytes
        for n in ne[1:]:
            num_bytes *= n
        data += bytes((idx * 31 + i * 13) & 0xFF for i in range(num_bytes))
    if tensors:
        out += b"\0" * (-len(out) % alignment)
    return out + data


def all_types_file(version=3):
    kvs = [
        ("general.architecture", STR, "gemma3"),
        ("general.alignment", U32, 64),
        ("t.u8", U8, 200), ("t.i8", I8, -5), ("t.u16", U16, 60000), ("t.i16", I16, -300),
        ("t.i32", I32, -70000), ("t.u64", U64, 2**63 + 1), ("t.i64", I64, -2**40),
        ("t.f32", F32, 1.5), ("t.f64", F64, -2.25), ("t.bool", BOOL, True),
        ("t.nested", ARR, (ARR, [(I32, [1, 2]), (I32, [])])),
        ("t.u8s", ARR, (U8, [0, 255])),
        ("tokenizer.ggml.tokens", ARR, (STR, ["<s>", "hi", ""])),
        ("tokenizer.ggml.scores", ARR, (F32, [0.0, -1.0, -2.0])),
    ]
    tensors = [("f32", [4, 2], F32_T), ("q8_0", [32, 2], Q8_0_T), ("q4_k", [256], Q4_K_T),
               ("empty", [0, 3], F32_T), ("scalar", [], F32_T)]
    return gguf(kvs, tensors, version=version, alignment=64)


def gemma3_file():
    tokens = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "</s>",
              "\u2581", "a", "b", "\u2581a", "ab", "<0x00>", "<0x41>", "<0xE4>"]
    types = [3, 3, 3, 2, 3, 3, 4, 1, 1, 1, 1, 1, 6, 6, 6]
    a = "gemma3."
    kvs = [
        ("general.architecture", STR, "gemma3"),
        ("general.name", STR, "seed"),
        (a + "block_count", U32, 6),
        (a + "embedding_length", U32, 8),
        (a + "feed_forward_length", U32, 16),
        (a + "attention.head_count", U32, 2),
        (a + "attention.head_count_kv", U32, 1),
        (a + "attention.key_length", U32, 4),
        (a + "attention.value_length", U32, 4),
        (a + "context_length", U32, 32),
        (a + "attention.layer_norm_rms_epsilon", F32, 1e-6),
        (a + "attention.sliding_window", U32, 4),
        (a + "attention.sliding_window_pattern", ARR, (BOOL, [True] * 5 + [False])),
        (a + "rope.freq_base", F32, 1e6),
        (a + "rope.freq_base_swa", F32, 1e4),
        (a + "rope.scaling.type", STR, "linear"),
        (a + "rope.scaling.factor", F32, 8.0),
        (a + "final_logit_softcapping", F32, 30.0),
        ("tokenizer.ggml.model", STR, "llama"),
        ("tokenizer.ggml.tokens", ARR, (STR, tokens)),
        ("tokenizer.ggml.scores", ARR, (F32, [-float(i) for i in range(len(tokens))])),
        ("tokenizer.ggml.token_type", ARR, (I32, types)),
        ("tokenizer.ggml.bos_token_id", U32, 2),
        ("tokenizer.ggml.eos_token_id", U32, 1),
        ("tokenizer.ggml.unknown_token_id", U32, 3),
        ("tokenizer.ggml.padding_token_id", U32, 0),
        ("tokenizer.ggml.add_bos_token", BOOL, True),
        ("tokenizer.ggml.add_eos_token", BOOL, False),
        ("tokenizer.ggml.add_space_prefix", BOOL, False),
    ]
    tensors = [("token_embd.weight", [8, len(tokens)], F32_T),
               ("blk.0.attn_q.weight", [32, 8], Q8_0_T)]
    return gguf(kvs, tensors)


def gemma4_tokenizer_file(model="gemma4", pre=None):
    """Gemma 4's BPE tokenizer keys alone (no tensors): tokens, types, merges, special ids."""
    tokens = ["<pad>", "<eos>", "<bos>", "<unk>", "<|turn>", "<turn|>", "<|tool_response>",
              "</s>", "\u2581", "a", "b", "\n", "\n\n", "\u2581a", "ab", "\u2581ab", "<0x00>",
              "<0x41>", "<0xE4>"]
    types = [3, 3, 3, 3, 3, 3, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 6, 6, 6]
    kvs = [("general.architecture", STR, "gemma4"), ("tokenizer.ggml.model", STR, model)]
    if pre is not None:
        kvs.append(("tokenizer.ggml.pre", STR, pre))
    kvs += [
        ("tokenizer.ggml.tokens", ARR, (STR, tokens)),
        ("tokenizer.ggml.scores", ARR, (F32, [0.0] * len(tokens))),
        ("tokenizer.ggml.token_type", ARR, (I32, types)),
        ("tokenizer.ggml.merges", ARR, (STR, ["\n \n", "a b", "\u2581 a", "\u2581a b", "x y"])),
        ("tokenizer.ggml.bos_token_id", U32, 2),
        ("tokenizer.ggml.eos_token_id", U32, 1),
        ("tokenizer.ggml.unknown_token_id", U32, 3),
        ("tokenizer.ggml.padding_token_id", U32, 0),
        ("tokenizer.ggml.add_space_prefix", BOOL, False),
        ("tokenizer.ggml.add_bos_token", BOOL, True),
    ]
    return gguf(kvs, [])


def gguf_seeds():
    all_types = all_types_file()
    return {
        "header_only": gguf([], []),
        "all_types_v3": all_types,
        "all_types_v2": all_types_file(version=2),
        "gemma3": gemma3_file(),
        "gemma4_tokenizer": gemma4_tokenizer_file(),
        "gemma4_tokenizer_llama_label": gemma4_tokenizer_file(model="llama", pre="gemma4"),
        # Inside a KV, inside the tensor infos, and one byte short of the data.
        "all_types_cut_kv": all_types[:all_types.index(b"t.f32") + 3],
        "all_types_cut_tensor_info": all_types[:all_types.index(b"q8_0") + 2],
        "all_types_cut_data": all_types[:-1],
    }


def tokenizer_seeds():
    texts = {
        "hello": "Hello world, the thé hello!",
        "specials": "<start_of_turn>user\nhi<end_of_turn>\n<eos></s><unk><unused0>",
        "overlap": "@@x@@x@@@\n\n\n\n\n<start_of_image>",
        "unicode": "\u4e2d\u6587 \u00e9t\u00e9 \U0001F600 \u00fc",
        "spaces": "  the   \u2581the\t\n",
    }
    seeds = {name: text.encode() for name, text in texts.items()}
    seeds["invalid_utf8"] = b"a\x80\xff\xe4\xb8 \xf0\x9f\x98 \xed\xa0\x80\xc0\xaf"
    # For the BPE: merge chains, runs of newlines, merges that yield no token, and the forms
    # llama.cpp's decoder reads specially (overlong space and newline, above U+10FFFF).
    seeds["bpe"] = (b"the hello oooo zzz\n\n\n\n\nthe\xc0\xa0the\xc0\x8a\xf4\x90\x80\x80 "
                    b"\xe4\xb8\xad\xe6\x96\x87\xc3\xa9t\xc3\xa9 @@x")
    return seeds


def chat_seeds():
    rs = b"\x1e"
    # Role bytes index {system, developer, user, assistant, tool, User, ""}.
    return {
        "user_turn": b"\x01" + b"\x02  Hi there \n",
        "system_first": b"\x00" + rs.join([b"\x00Be brief.", b"\x02Hi", b"\x03Hello!", b"\x02Bye"]),
        "developer_first": b"\x01" + rs.join([b"\x01rules", b"\x02q"]),
        "bad_roles": b"\x01" + rs.join([b"\x02a", b"\x02b", b"\x04c"]),
        "system_only": b"\x00\x00sys",
    }


def request_seeds():
    """Request bodies: what the OpenAI SDKs and their wrappers send, then the validation tests'
    V1-V13 edge cases. Each is also, as raw bytes, a chat message's content and a prompt."""
    user = {"role": "user", "content": "Say hello."}
    chat = {"model": "gemma-3-1b-it", "messages": [user]}

    def body(base, **fields):
        return json.dumps({**base, **fields}).encode()

    seeds = {
        # The openai Python SDK leaves out what is not given; LiteLLM and others send nulls.
        "sdk_chat": body(chat, temperature=0.7, max_tokens=64),
        "sdk_chat_stream": body(chat, stream=True, stream_options={"include_usage": True},
                                max_completion_tokens=128, top_p=0.9, seed=42),
        "sdk_chat_nulls": body(chat, frequency_penalty=None, logit_bias=None, logprobs=None,
                               max_tokens=None, n=None, presence_penalty=None,
                               response_format=None, seed=None, stop=None, stream=None,
                               temperature=None, tool_choice=None, tools=None, top_logprobs=None,
                               top_p=None, user=None),
        "sdk_chat_full": body(
            chat,
            messages=[{"role": "system", "content": "Be brief."},
                      {"role": "developer", "content": "No lists."},
                      {"role": "user", "name": "ann",
                       "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "!"}]},
                      {"role": "assistant", "content": None, "tool_calls": []},
                      {"role": "tool", "tool_call_id": "call_1", "content": "42"},
                      {"role": "user", "content": "caf\u00e9 \U0001F600"}],
            logprobs=True, top_logprobs=5, logit_bias={"2": -100, "262143": 5.5}, n=2,
            stop=["\n\n", "</s>"], stop_token_ids=[1, 106], ignore_eos=False, top_k=40,
            min_p=0.05, presence_penalty=0.5, frequency_penalty=-0.5, repetition_penalty=1.1,
            response_format={"type": "text"}, tool_choice="none", tools=[],
            add_generation_prompt=True, seed=-1),
        "sdk_completion": json.dumps({"model": "gemma", "prompt": "Once upon a time",
                                      "max_tokens": 16, "logprobs": 3, "echo": True,
                                      "best_of": 1, "suffix": ""}).encode(),
        "completion_prompts": json.dumps({"prompt": ["a", "b", ""], "n": 2, "best_of": 2,
                                          "stop": "."}).encode(),
        "completion_tokens": json.dumps({"prompt": [2, 9259, 262143]}).encode(),
        "completion_token_lists": json.dumps({"prompt": [[2, 3], [4]]}).encode(),
        "tokenize_prompt": json.dumps({"model": "gemma", "prompt": "Hello",
                                       "add_special_tokens": False}).encode(),
        "tokenize_chat": json.dumps({"messages": [user], "add_generation_prompt": True}).encode(),
        "detokenize": json.dumps({"model": "gemma", "tokens": [2, 9259, 0, 262143]}).encode(),
        # V1: not JSON, truncated, empty object, array at the top, BOM, trailing garbage.
        "v1_not_json": b"model=gemma&prompt=hi",
        "v1_truncated": b'{"model": "gemma", "messages": [{"role": "us',
        "v1_empty_object": b"{}",
        "v1_array": b'[{"role": "user", "content": "hi"}]',
        "v1_bom": b"\xef\xbb\xbf" + body(chat),
        "v1_trailing": body(chat) + b" x",
        # V5: nesting at and past the limit of 64, and brackets inside strings.
        "v5_depth_64": b'{"a":' + b"[" * 63 + b"]" * 63 + b"}",
        "v5_depth_65": b'{"a":' + b"[" * 64 + b"]" * 64 + b"}",
        "v5_brackets_in_string": b'{"prompt": "[[[[{{{{\\"[[[", "x": [[1]]}',
        # V6: invalid UTF-8, lone surrogates, overlong forms, NUL.
        "v6_invalid_utf8": b'{"prompt": "caf\xe9 \xff"}',
        "v6_lone_surrogate": b'{"prompt": "\\ud800 x"}',
        "v6_overlong": b'{"prompt": "\xc0\xaf \xe0\x80\xaf"}',
        "v6_nul": b'{"prompt": "a\\u0000b", "stop": "\\u0000"}',
        "v6_surrogate_pair": b'{"prompt": "\\ud83d\\ude00"}',
        # V7: wrong types.
        "v7_types": body(chat, max_tokens="5", temperature=True),
        "v7_messages_object": json.dumps({"messages": {"role": "user"}}).encode(),
        "v7_content_number": json.dumps({"messages": [{"role": "user", "content": 5}]}).encode(),
        # V8: numbers out of range, and ones that must not wrap.
        "v8_max_tokens": body(chat, max_tokens=-1, max_completion_tokens=0),
        "v8_n": body(chat, n=1000000000),
        "v8_top_k": body(chat, top_k=-2),
        "v8_top_p": body(chat, top_p=1.5),
        "v8_temperature": b'{"messages": [{"role": "user", "content": "x"}], "temperature": 1e308}',
        "v8_1e400": b'{"prompt": "x", "temperature": 1e400}',
        "v8_minus_zero": b'{"prompt": "x", "temperature": -0, "top_p": -0.0}',
        "v8_seed_min": b'{"prompt": "x", "seed": -9223372036854775808}',
        "v8_seed_2_64": b'{"prompt": "x", "seed": 18446744073709551616}',
        "v8_seed_max": b'{"prompt": "x", "seed": 18446744073709551615}',
        "v8_logprobs": body(chat, logprobs=True, top_logprobs=1000000),
        "v8_logit_bias_keys": body(chat, logit_bias={"-1": 1, "262144": 1, "abc": 1}),
        "v8_logit_bias_value": body(chat, logit_bias={"1": "NaN"}),
        "v8_tiny_floats": b'{"prompt": "x", "top_p": 1e-50, "repetition_penalty": 1e-50}',
        "v8_float_integer": b'{"prompt": "x", "max_tokens": 5.0, "n": 1e0}',
        # V9: token ids out of range.
        "v9_prompt_ids": b'{"prompt": [-1, 262144, 2147483648]}',
        "v9_detokenize": b'{"tokens": [1.5, 9223372036854775808]}',
        "v9_mixed_prompt": b'{"prompt": ["a", 1, [2]]}',
        "v9_empty_token_list": b'{"prompt": [[1], []]}',
        # V11: stop strings: many, long, empty.
        "v11_stops": body(chat, stop=[str(i) for i in range(17)]),
        "v11_stop_long": body(chat, stop="s" * 257),
        "v11_stop_empty": body(chat, stop=[""]),
        "v11_messages": body(chat, messages=[user] * 5),
        # V12: unknown fields and roles, a tool message without its id, duplicate keys.
        "v12_unknown": body(chat, foo={"bar": [1, 2]},
                            messages=[{"role": "robot", "content": "x"}]),
        "v12_tool_no_id": body(chat, messages=[{"role": "tool", "content": "x"}]),
        "v12_duplicate_keys": b'{"prompt": 5, "prompt": "x", "n": 0, "n": 1}',
        "v12_tools": body(chat, tools=[{"type": "function"}], tool_choice="auto"),
        "v12_media": body(chat, messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]),
        "v12_response_format": body(chat, response_format={"type": "json_schema"}),
        # V13: stream as a string, stream with n > 1, stream_options without a stream.
        "v13_stream_string": body(chat, stream="true"),
        "v13_stream_n": body(chat, stream=True, n=3),
        "v13_stream_options": body(chat, stream_options={"include_usage": True}),
        "v13_stream_options_odd": body(chat, stream=True, stream_options={"include_usage": "yes"}),
        # Raw text for the content and prompt wrappers.
        "text_escapes": b'He said "hi" \\ \\ud800 \\u00e9\n\t\x01',
        "text_utf8": "Gr\u00fc\u00dfe, \u4e16\u754c \U0001F600".encode(),
        "text_invalid": b"a\x80b\xed\xa0\x80c\xf4\x90\x80\x80d\xe4\xb8",
    }
    return seeds


def sse_input(flags, seed, stops, text):
    """sse_fuzz's layout: flags, the piece-length seed, per stop (where, spec [, literal]), text.
    A stop is ("text", offset byte, length) or ("literal", bytes)."""
    out = bytes([flags | (len(stops) << 4), seed])
    for stop in stops:
        if stop[0] == "text":
            out += bytes([stop[1], stop[2]])
        else:
            out += bytes([0, 0x80 | len(stop[1])]) + stop[1]
    return out + text


def sse_seeds():
    snap, completions, usage, logprobs = 1, 2, 4, 8
    piece_1, piece_3, piece_8, piece_32 = 0, 0x40, 0x80, 0xC0
    story = "Once upon a time, caf\u00e9 \u4e16\u754c \U0001F600. The end.\n\nUser:".encode()
    return {
        "no_stops": sse_input(snap | piece_3, 1, [], story),
        "stop_in_text": sse_input(snap | piece_8 | logprobs, 7, [("literal", b"The end")], story),
        "stop_spans_pieces": sse_input(snap | piece_1, 3, [("literal", b"\n\nUser:")], story),
        "overlapping_stops": sse_input(piece_3, 9, [("literal", b"abcd"), ("literal", b"bc"),
                                                    ("literal", b"cd")], b"xxabcdxx"),
        "prefix_at_end": sse_input(snap | piece_3 | usage, 5, [("literal", b"end.!")], story),
        "empty_stop": sse_input(piece_8 | completions, 2, [("literal", b"")], story),
        "from_text": sse_input(snap | piece_8 | completions | logprobs, 4,
                               [("text", 128, 3), ("text", 250, 6)], story),
        "invalid_utf8_tokens": sse_input(piece_1 | logprobs, 6, [("literal", b"\xe4\xb8")],
                                         b"\xe4\xb8\x96\xff\xc0\xaf\xed\xa0\x80 ok"),
        "completion_logprobs": sse_input(piece_32 | completions | logprobs | usage, 8,
                                         [("literal", b"\xf0\x9f")], story),
        "json_specials": sse_input(snap | piece_3 | logprobs, 10, [("literal", b"\r\n")],
                                   b'data: "x"\n\n\\u0000\x00\x1f\r\n\x7f</script>'),
    }


def main():
    out_dir = Path(sys.argv[1])
    for target, seeds in (("gguf_fuzz", gguf_seeds()), ("tokenizer_fuzz", tokenizer_seeds()),
                          ("chat_template_fuzz", chat_seeds()), ("request_fuzz", request_seeds()),
                          ("sse_fuzz", sse_seeds())):
        (out_dir / target).mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (out_dir / target / name).write_bytes(data)


if __name__ == "__main__":
    main()
