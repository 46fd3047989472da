#!/usr/bin/env python3
"""Writes the llama.cpp goldens that tests/golden/golden_test.cpp compares against.

llama.cpp is the independent reference: build it outside this repository from the source in
PyPI's llama-cpp-python sdist (see BENCHMARKS.md), then run

    LLAMA_CPP_LIB_PATH=<llama.cpp build>/bin <venv with llama-cpp-python>/python \
        tests/golden/make_goldens.py --model "$(cat .model-path)"

It writes tokenize.json (token ids for every string in STRINGS, with and without parsing special
tokens) and generate.json (greedy continuations of 64 tokens with the top-5 logits at every
generated position, for every prompt in PROMPTS). The model is the default Gemma 3 270M Q4_K_M.
"""
import argparse
import json
import os

import numpy as np

BASE = [
    # English and ASCII
    "Hello world", "hello world", "Hello, world!", "The quick brown fox jumps over the lazy dog.",
    "I can't believe it's not butter!", "e.g. U.S.A. vs. U.K.", "Mr. O'Neil's 3rd-floor apt.",
    "supercalifragilisticexpialidocious", "antidisestablishmentarianism",
    "1234567890", "3.14159265358979", "-42", "1,000,000.00", "2024-03-15T12:34:56Z",
    "user@example.com", "https://example.com/path?q=1&r=two#frag", "C:\\Windows\\System32",
    "ALL CAPS SENTENCE HERE", "MiXeD CaSe WoRdS", "a", "A", "?", "!!!", "...", "—", "–",
    # Whitespace
    " ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n", " \n ", "\n \n",
    " leading space", "trailing space ", "  two leading", "multiple   inner    spaces",
    "tabs\tbetween\twords", "line one\nline two\n\nline four", "mixed \t \n whitespace\t\n",
    "                                   many spaces", "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n",
    # Code
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); }",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "const f = async (x) => { await g(x?.y ?? 0); };", "x = {'a': [1, 2, {'b': None}]}",
    "<div class=\"box\"><p>Hi &amp; bye</p></div>", "$ ls -la | grep '^d' | wc -l",
    "fn main() { let v: Vec<u8> = vec![0xFF; 16]; }", "{\"key\": \"value\", \"n\": [1, 2.5e-3]}",
    "if x != y and not z: pass  # comment", "matrix[i][j] += alpha * (b[k] << 2) ^ ~c;",
    # Chinese, Japanese, Korean
    "你好，世界", "我爱自然语言处理。", "今天天气很好，我们去公园散步吧！", "中华人民共和国成立于1949年。",
    "こんにちは世界", "東京は日本の首都です。", "カタカナとひらがなと漢字", "안녕하세요 세계",
    "한국어 형태소 분석은 어렵습니다.", "龘靐齉爩", "𠀀𠀁𠀂",
    # Arabic, Hebrew, Persian
    "مرحبا بالعالم", "اللغة العربية جميلة جداً.", "שלום עולם", "עברית היא שפה שמית.", "سلام دنیا",
    # Indic
    "नमस्ते दुनिया", "हिन्दी भारत की राजभाषा है।", "வணக்கம் உலகம்", "ನಮಸ್ಕಾರ", "নমস্কার পৃথিবী",
    "ਸਤ ਸ੍ਰੀ ਅਕਾਲ", "നമസ്കാരം ലോകം", "హలో ప్రపంచం",
    # Southeast Asian
    "สวัสดีชาวโลก", "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ", "Xin chào thế giới", "Tiếng Việt có nhiều dấu.",
    "ສະບາຍດີ", "မင်္ဂလာပါ", "សួស្តី​ពិភពលោក",
    # Cyrillic, Greek, European
    "Привет, мир!", "Москва — столица России.", "Γειά σου Κόσμε", "Η ελληνική γλώσσα.",
    "Grüße aus München: Äpfel, Öl, Übermut, Straße.", "¿Dónde está la biblioteca?",
    "Ça va? L'été à Paris, c'est génial.", "Zażółć gęślą jaźń", "Příliš žluťoučký kůň",
    "Ελληνικά και Русский и English", "Ἀρχιμήδης", "İstanbul'da ılık bir gün",
    # Other scripts
    "გამარჯობა სამყარო", "Բարեւ աշխարհ", "ሰላም ልዑል", "ᓀᐦᐃᔭᐍᐏᐣ", "ᚠᚢᚦᚨᚱᚲ", "ꦲꦤꦕꦫꦏ",
    # Emoji, joiners, flags, modifiers
    "😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸🇯🇵🇩🇪", "🇬🇧 flag", "❤️", "🧑🏿‍🚀 astronaut",
    "I love 🍕 and 🍣!", "👩‍💻👨‍🔬🧪", "1️⃣2️⃣3️⃣", "🫠🫡🪿", "☕️ time", "🏴󠁧󠁢󠁳󠁣󠁴󠁿",
    # Symbols, math, control-ish characters
    "∀x ∈ ℝ: x² ≥ 0", "E = mc²", "α + β = γ", "∑_{i=1}^{n} i = n(n+1)/2", "½ ¼ ¾ ⅓",
    "→ ← ↑ ↓ ⇒ ⇔", "©®™§¶†‡", "€100 £50 ¥1000 ₹500", "\u00a0non-breaking\u00a0space",
    "zero\u200bwidth\u200bspace", "soft\u00adhyphen", "e\u0301 vs é (combining)", "\ufeffBOM start",
    "tab\x0bvertical", "bell\x07char", "\u2028line sep", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ",
    # Special-token texts inside ordinary text
    "<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n",
    "<bos>text after bos", "text <eos> more", "<pad><unk><mask>", "<unused0> and <unused99>",
    "[multimodal] marker", "<start_of_image>img<end_of_image>", "<start_of_turn", "end_of_turn>",
    "< start_of_turn >", "<<start_of_turn>>", "<0x41> literal byte text", "▁ literal block char",
    "nested <b>bold</b> <i>html</i>",
    # Long text
    ("Gemma is a family of lightweight, state-of-the-art open models built from the same research "
     "and technology used to create the Gemini models. They are text-to-text, decoder-only large "
     "language models, available in English, with open weights."),
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt.",
]

# Variants multiply the base set in ways that stress the space and special-token handling.
VARIANTS = [
    lambda s: " " + s,
    lambda s: s + "\n",
    lambda s: "  " + s + "  ",
]

PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a land far away,",
    "def quicksort(arr):\n",
    "The three primary colors are",
    "Water boils at a temperature of",
    "In 1969, Neil Armstrong",
    "Here is a list of fruits:\n1. Apple\n2.",
    "The meaning of life is",
    "Translate to French: Good morning, how are you?\n",
    "import numpy as np\n\n# Compute the mean of an array\n",
    "Photosynthesis is the process by which",
    "Q: What is 12 times 12?\nA:",
    "The best way to learn a new language is",
    "東京は",
    "Dear hiring manager,\n\nI am writing to",
    "<start_of_turn>user\nWrite a haiku about the sea.<end_of_turn>\n<start_of_turn>model\n",
    "<start_of_turn>user\nWhat is the largest planet in our solar system?<end_of_turn>\n<start_of_turn>model\n",
    "<start_of_turn>user\nExplain recursion in one sentence.<end_of_turn>\n<start_of_turn>model\n",
    "<start_of_turn>user\nList three prime numbers.<end_of_turn>\n<start_of_turn>model\n",
    "<start_of_turn>user\nBonjour! Comment ça va?<end_of_turn>\n<start_of_turn>model\n",
    "A long time ago the river " * 20,
    "The following is a JSON object describing a person: {\"name\": \"",
]

N_PREDICT = 64
TOP_K = 5


def noise_floor(llm, out_dir):
    """llama.cpp against itself: the goldens (one token per step) beside the same sequences run
    through its batched kernels. Prints what README.md beside this file quotes."""
    with open(os.path.join(out_dir, "generate.json"), encoding="utf-8") as f:
        golden = json.load(f)
    identical, errs = 0, []
    for c in golden["cases"]:
        llm.reset()
        llm.eval(c["prompt_ids"] + c["continuation"])
        n = len(c["prompt_ids"])
        for i, want in enumerate(c["continuation"]):
            logits = np.array(llm.scores[n - 1 + i], dtype=np.float32)
            if int(np.argmax(logits)) != want:
                break
            errs.append(abs(float(logits.max()) - c["top5"][i][0][1]))
        else:
            identical += 1
    print(f"continuations: {identical}/{len(golden['cases'])} identical; top-1 logit error at "
          f"matched positions: mean {np.mean(errs):.3f}, max {np.max(errs):.3f}")
    errs, same_top = [], 0
    for p in golden["pairs"]:
        llm.reset()
        llm.eval(p["ids"])
        logits = np.array(llm.scores[1], dtype=np.float32)
        same_top += int(np.argmax(logits)) == p["top5"][0][0]
        errs += [abs(float(logits[i]) - v) for i, v in p["top5"]]
    errs = np.array(errs)
    print(f"two-token sequences: same top token {same_top}/{len(golden['pairs'])}, "
          f"{np.mean(errs <= 1e-2):.1%} of top-5 logits within 1e-2, max error {errs.max():.3f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--noise-floor", action="store_true",
                    help="compare llama.cpp's batched kernels with the goldens instead of writing")
    args = ap.parse_args()

    import llama_cpp  # the bindings, with LLAMA_CPP_LIB_PATH pointing at the llama.cpp build

    llm = llama_cpp.Llama(model_path=args.model, n_ctx=2048, n_batch=512, logits_all=True,
                          n_threads=2, verbose=False, seed=0)
    if args.noise_floor:
        noise_floor(llm, args.out)
        return

    strings = list(BASE)
    for v in VARIANTS:
        strings += [v(s) for s in BASE[:40]]
    entries = []
    for s in strings:
        b = s.encode("utf-8")
        entries.append({
            "text": s,
            "ids": llm.tokenize(b, add_bos=True, special=False),
            "ids_special": llm.tokenize(b, add_bos=True, special=True),
        })
    with open(os.path.join(args.out, "tokenize.json"), "w", encoding="utf-8") as f:
        json.dump({"reference": "llama.cpp via llama-cpp-python " + llama_cpp.__version__,
                   "strings": entries}, f, ensure_ascii=False, indent=0)

    cases = []
    for p in PROMPTS:
        prompt_ids = llm.tokenize(p.encode("utf-8"), add_bos=True, special=True)
        llm.reset()
        # One token per step: every position then goes through llama.cpp's single-row kernels,
        # the same arithmetic at every position (its batched kernels quantize activations a
        # little differently, and this small model amplifies such differences).
        for tok in prompt_ids:
            llm.eval([tok])
        generated, top = [], []
        for _ in range(N_PREDICT):
            logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
            order = np.argsort(-logits, kind="stable")[:TOP_K]
            top.append([[int(i), float(logits[i])] for i in order])
            tok = int(order[0])
            generated.append(tok)
            llm.eval([tok])
        cases.append({"prompt": p, "prompt_ids": prompt_ids, "continuation": generated,
                      "top5": top})
    # Two-token sequences <bos> t for the first token t of every string above: at these positions
    # every sum has at most two terms where summation order could matter, so an implementation
    # with llama.cpp's arithmetic agrees to float rounding (see README.md beside this file).
    bos = entries[0]["ids"][0]
    first_tokens = sorted({e["ids"][1] for e in entries if len(e["ids"]) > 1} |
                          {c["prompt_ids"][1] for c in cases})
    pairs = []
    for t in first_tokens:
        llm.reset()
        llm.eval([bos])
        llm.eval([t])
        logits = np.array(llm.scores[1], dtype=np.float32)
        order = np.argsort(-logits, kind="stable")[:TOP_K]
        pairs.append({"ids": [bos, t], "top5": [[int(i), float(logits[i])] for i in order]})
    with open(os.path.join(args.out, "generate.json"), "w", encoding="utf-8") as f:
        json.dump({"reference": "llama.cpp via llama-cpp-python " + llama_cpp.__version__,
                   "n_predict": N_PREDICT, "cases": cases, "pairs": pairs}, f,
                  ensure_ascii=False, indent=0)
    print(f"{len(entries)} strings, {len(cases)} prompts, {len(pairs)} pairs")


if __name__ == "__main__":
    main()
