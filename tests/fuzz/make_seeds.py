#!/usr/bin/env python3
"""Writes hand-made seed inputs for the fuzz targets into OUT_DIR/<target>/.

The seeds give each fuzzer a head start (README.md here): well-formed GGUF files that reach
every value type, the tensor table, the model config and the tokenizer loader, plus cuts of
them; tokenizer texts; chats. The committed corpus is what the fuzzers grew from these.
"""
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


def gguf_seeds():
    all_types = all_types_file()
    return {
        "header_only": gguf([], []),
        "all_types_v3": all_types,
        "all_types_v2": all_types_file(version=2),
        "gemma3": gemma3_file(),
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


def main():
    out_dir = Path(sys.argv[1])
    for target, seeds in (("gguf_fuzz", gguf_seeds()), ("tokenizer_fuzz", tokenizer_seeds()),
                          ("chat_template_fuzz", chat_seeds())):
        (out_dir / target).mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (out_dir / target / name).write_bytes(data)


if __name__ == "__main__":
    main()
