#!/usr/bin/env python3
"""Writes gemma4_tokenize.json: llama.cpp's tokenization of a corpus with Gemma 4's tokenizer.

tests/golden/gemma4_tokenize_test.cpp checks gemma-serve against it. The reference is llama.cpp
built outside this repository from the source in PyPI's llama-cpp-python 0.3.36 sdist (README.md
beside this file), loaded through its Python bindings, on llama.cpp's Gemma 4 test vocabulary
(ggml-vocab-gemma-4.gguf, which scripts/setup.sh extracts from the same sdist):

    LLAMA_CPP_LIB_PATH=<llama.cpp build>/bin <venv with llama-cpp-python>/python \\
        tests/golden/make_gemma4_tokenize_goldens.py \\
        --vocab .cache/gemma4-vocab/ggml-vocab-gemma-4.gguf

For every string: the ids with BOS, without and with parsing special tokens, and the
concatenated pieces (llama_token_to_piece) of the special-parsed ids with special tokens rendered
and not. Strings that are not valid UTF-8 are stored as hex ("text_hex"), as are pieces that are
not. For the whole vocabulary: a 64-bit FNV-1a hash of every token's piece, rendered and not.
"""
import argparse
import ctypes
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_goldens import BASE, VARIANTS  # noqa: E402  (the Gemma 3 corpus: 14 scripts and more)

GEMMA4 = [
    # The chat format and every special token text of Gemma 4, alone and in context.
    "<|turn>user\nHello<turn|>\n<|turn>model\n",
    "<|turn>system\n<|think|>You are a helpful assistant.<turn|>\n<|turn>user\nHi<turn|>\n",
    "<|turn>model\n<|channel>thought\n<channel|>The answer is 4.<turn|>",
    "<|tool>declaration:get_weather{description:<|\"|>Weather<|\"|>}<tool|>",
    "<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>}<tool_call|>",
    "<|tool_response>response:get_weather{temperature:21}<tool_response|>",
    "<|image|>", "<|audio|>", "<|video|>", "<|image>", "<|audio>", "<image|>", "<audio|>",
    "<bos>", "<eos>", "<pad>", "<unk>", "<mask>", "[multimodal]", "</s>", "<s>",
    "<|turn>", "<turn|>", "<|think|>", "<|channel>", "<channel|>", "<|\"|>",
    "<|turn", "turn|>", "<|tur n>", "<<|turn>>", "<|turn><|turn>", "x<|turn>y<turn|>z",
    "<|tool_response><|tool_response>", "a</s>b<s>c", "<start_of_turn>user\nold format<end_of_turn>",
    "<|turn>user\n  spaced  <turn|>", "\n<|turn>\n", " <|\"|> ",
    # Whitespace runs: spaces, tabs and newlines of many lengths, mixed, and other spaces.
    *[" " * n for n in (5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 100)],
    *["\t" * n for n in (3, 4, 8, 16, 31, 32, 40)],
    *["\n" * n for n in (4, 5, 8, 16, 30, 31, 32, 33, 40, 64, 100)],
    *["\r\n" * n for n in (1, 2, 5)],
    " \n \n ", "\n \n\n  \n\n\n   ", "\t \t \t", " \t\n\r\x0b\x0c", "a \n b \n\n c",
    "\u3000\u3000ideographic", "nbsp\u00a0\u00a0\u00a0run", "\u2002\u2003\u2009\u200a thin",
    "end with newlines\n\n\n", "\n\n\nstart with newlines", "x" + " " * 40 + "y",
    # Long repeated characters.
    "a" * 1000, "A" * 257, "!" * 500, "=" * 300, "-" * 200, "_" * 120, "." * 99, "0" * 200,
    "9" * 31, "\U0001F600" * 50, "\u4e2d" * 100, "\u00e9" * 64, "\u2581" * 10, "ab" * 300,
    "abc " * 100, "\u0915\u093f" * 40,
    # Numbers.
    "1", "12", "123", "1234", "12345", "123456", "1234567890123456789", "3.14", "1e-10",
    "0x1F", "1,234,567", "1 000 000", "١٢٣٤٥", "一二三", "Ⅻ", "⁰¹²³", "½",
    # Punctuation and spacing that llama_detokenize's clean-up pass would touch.
    "Hello , world !", "Is it ? Yes .", "he ' s", "I 'm here", "they 're", "we 've", "you 'll",
    "don 't", "' quoted '", "a ' b", "... ?!", "(a) [b] {c} <d>",
    # Code, markup, data.
    "#!/usr/bin/env python3\nimport sys\n\nif __name__ == \"__main__\":\n    sys.exit(main())\n",
    "template <typename T>\nT max(T a, T b) { return a > b ? a : b; }\n",
    "fn main() {\n    println!(\"{}\", 1 + 2);\n}\n", "    indented\n        twice\n\t\ttabbed\n",
    "<html>\n  <body>\n    <p class=\"x\">Hi</p>\n  </body>\n</html>",
    "| col1 | col2 |\n|------|------|\n| a    | b    |\n", "- item 1\n- item 2\n  - nested\n",
    "```python\nprint('hi')\n```", "$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$",
    "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}", "key: value\nlist:\n  - 1\n  - 2\n",
    "SELECT * FROM t WHERE x = 'a''b';", "a\\nb\\tc\\\\d", "C:\\path\\to\\file.txt",
    "https://example.com/a/b?c=d&e=f#g", "user.name+tag@example.co.uk", "0.0.0.0:8080",
    "//comment\n/* block */", "x+=1;y-=2;z*=3", "if(a&&b||!c){}", "~/.bashrc && echo $HOME",
    # Scripts and languages beyond the shared list.
    "Ελληνικά: Η γρήγορη καφέ αλεπού", "Українська мова", "Қазақ тілі", "Tiếng Việt",
    "ไทย ภาษา", "ພາສາລາວ", "ខ្មែរ", "မြန်မာ", "བོད་ཡིག", "ᠮᠣᠩᠭᠣᠯ", "ꆈꌠꉙ", "ᏣᎳᎩ", "ⴰⵎⴰⵣⵉⵖ",
    "ܐܪܡܝܐ", "ދިވެހި", "ߒߞߏ", "𐌰𐌱𐌲", "𒀀𒀁", "𓀀𓀁", "Ꭰ", "ʻŌlelo Hawaiʻi", "Māori",
    "日本語のテキスト、カタカナ、ひらがな。", "繁體中文與简体中文", "한국어와 조선말",
    "עִבְרִית עם ניקוד", "العَرَبِيَّة مع تشكيل", "اردو زبان", "ગુજરાતી", "ଓଡ଼ିଆ", "සිංහල",
    "Ỳ̸̡̛̭̰̟̝̣̐͒̈́̾́͐̔̾̚ zalgo", "e\u0301\u0302\u0303 stacked", "Å vs Å (NFC vs NFD)",
    # Emoji: modifiers, joiners, flags, keycaps, tags, variation selectors.
    "👋🏻👋🏼👋🏽👋🏾👋🏿", "👨‍👨‍👧‍👧", "👩🏽‍❤️‍💋‍👨🏿", "🏳️‍⚧️", "🏴‍☠️", "🇫🇷🇩🇪🇮🇹🇪🇸🇨🇳🇯🇵🇰🇷🇧🇷",
    "#️⃣*️⃣0️⃣", "🏴󠁧󠁢󠁥󠁮󠁧󠁿🏴󠁧󠁢󠁷󠁬󠁳󠁿", "☺︎ vs ☺️", "🧑‍🤝‍🧑", "🐈‍⬛", "❤️‍🔥", "emoji🎉in🎉text",
    # Control and unusual code points.
    "\x00nul\x00", "\x01\x02\x03\x1f", "\x7f del", "\u0085 next line", "\ufffd replacement",
    "\ufeff\ufeff", "\u202eright-to-left override", "\u200d\u200c joiners", "\U000e0041 tag",
    "\U0010fffd last plane", "\uffff\ufffe nonchars", "\U0001d4b3\U0001d4ae math",
]

# Not valid UTF-8: llama.cpp reads each undecodable byte as U+FFFD. Left out because llama.cpp
# aborts on them: four-byte forms above U+10FFFF (it throws out of llama_tokenize) and overlong
# forms of the space (a raw space reaches its merge lookup, which asserts there is none).
INVALID = [
    b"\x80", b"\xff", b"abc\xe4\xb8", b"\xe4\xb8abc", b"\xc0\xaf overlong slash",
    b"\xc0\x8a overlong newline\xc0\x8a", b"\xe0\x80\x80 overlong nul",
    b"\xed\xa0\x80 surrogate", b"\xf0\x9f\x98 truncated emoji", b"\xf8\x88\x80\x80\x80 five",
    b"mixed \xe4\xb8\xad \xe4 \xb8 \xad ok", b"\x80" * 20, b" \xff \xfe ",
    b"<|turn>\xff<turn|>", b"\xe4<|turn>\xb8", b"\n\xc0\x8a\n",
]


def fnv1a64(pieces):
    """FNV-1a over each piece as a 4-byte little-endian length, then its bytes."""
    h = 0xcbf29ce484222325
    for p in pieces:
        for b in len(p).to_bytes(4, "little") + p:
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def text_fields(name, data):
    try:
        return {name: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {name + "_hex": data.hex()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", required=True, help="ggml-vocab-gemma-4.gguf")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "gemma4_tokenize.json"))
    args = ap.parse_args()

    import llama_cpp  # the bindings, with LLAMA_CPP_LIB_PATH pointing at the llama.cpp build

    llm = llama_cpp.Llama(model_path=args.vocab, vocab_only=True, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    buf = ctypes.create_string_buffer(1 << 16)

    def piece(token, special):
        n = llama_cpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, special)
        assert n >= 0
        return buf.raw[:n]

    def detokenize(ids, special):
        arr = (llama_cpp.llama_token * len(ids))(*ids)
        n = llama_cpp.llama_detokenize(vocab, arr, len(ids), buf, len(buf), False, special)
        assert n >= 0
        return buf.raw[:n]

    def tokenize(data, special):
        return llm.tokenize(data, add_bos=True, special=special)

    texts = [s.encode("utf-8") for s in BASE + GEMMA4]
    for v in VARIANTS:
        texts += [v(s).encode("utf-8") for s in BASE[:40] + GEMMA4[:40]]
    texts += INVALID
    seen, entries, num_detok_differ = set(), [], 0
    for data in texts:
        if data in seen:
            continue
        seen.add(data)
        ids_special = tokenize(data, True)
        entry = text_fields("text", data)
        entry["ids"] = tokenize(data, False)
        entry["ids_special"] = ids_special
        rendered = b"".join(piece(t, True) for t in ids_special)
        entry.update(text_fields("pieces_special", rendered))
        entry.update(text_fields("pieces_plain", b"".join(piece(t, False) for t in ids_special)))
        # llama_detokenize also runs a clean-up pass over " ?", " 's", ... for this vocabulary;
        # llama.cpp's server and CLI print the pieces, which is what gemma-serve reproduces.
        num_detok_differ += detokenize(ids_special, True) != rendered
        entries.append(entry)

    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    pieces_hash = {
        "render_special": fnv1a64(piece(t, True) for t in range(n_vocab)),
        "plain": fnv1a64(piece(t, False) for t in range(n_vocab)),
    }
    eog = [t for t in range(n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, t)]
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"reference": "llama.cpp via llama-cpp-python " + llama_cpp.__version__,
                   "vocab": os.path.basename(args.vocab), "n_vocab": n_vocab, "eog_ids": eog,
                   "pieces_fnv1a64": pieces_hash, "strings": entries}, f,
                  ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"{len(entries)} strings; llama_detokenize differs from the pieces on "
          f"{num_detok_differ}; eog {eog}")


if __name__ == "__main__":
    main()
