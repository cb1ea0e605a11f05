"""Reference test of the CLIP tokenizer (`vfrobust tokenize`) against an independent Python
implementation of CLIP's byte-level BPE, written from the published algorithm: html.unescape
twice, whitespace cleanup, str.lower(), the `regex` module's pre-tokenizer pattern, the
byte-to-unicode map, "</w>" word ends and the lowest-rank-first merge loop.

Needs Debian's python3-regex (for \\p{L} and \\p{N}).
"""
import html
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import unicodedata

import regex

from vfr_testlib import BIN, DATA, Checker

CLIP = os.path.join(DATA, "clip")
CONTEXT = 77


# ---- the reference -----------------------------------------------------------------

def byte_encoder():
    """Byte -> character: printable Latin-1 bytes map to themselves, the other 68 bytes
    to U+0100.. in byte order (so that no token holds whitespace or control characters)."""
    keep = [b for b in range(256) if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF]
    table = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


class ReferenceBPE:
    PATTERN = regex.compile(
        r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
        regex.IGNORECASE)

    def __init__(self, folder):
        with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as f:
            self.vocab = json.load(f)
        with open(os.path.join(folder, "merges.txt"), encoding="utf-8") as f:
            lines = f.read().split("\n")
        assert lines[0].startswith("#version")
        merges = [tuple(line.split()) for line in lines[1:] if line.strip()]
        self.rank = {}
        for r, pair in enumerate(merges[:49152 - 256 - 2]):
            self.rank[pair] = r
        self.bytes = byte_encoder()
        self.memo = {}

    def clean(self, text):
        text = html.unescape(html.unescape(text)).strip()
        text = regex.sub(r"\s+", " ", text).strip()
        return text.lower()

    def merge_word(self, word):
        if word in self.memo:
            return self.memo[word]
        symbols = list(word[:-1]) + [word[-1] + "</w>"]
        while len(symbols) > 1:
            candidates = [(self.rank[p], p) for p in zip(symbols, symbols[1:]) if p in self.rank]
            if not candidates:
                break
            _, (a, b) = min(candidates)
            merged, k = [], 0
            while k < len(symbols):
                if k + 1 < len(symbols) and symbols[k] == a and symbols[k + 1] == b:
                    merged.append(a + b)
                    k += 2
                else:
                    merged.append(symbols[k])
                    k += 1
            symbols = merged
        self.memo[word] = symbols
        return symbols

    def encode(self, text):
        ids = []
        for piece in self.PATTERN.findall(self.clean(text)):
            if piece in ("<|startoftext|>", "<|endoftext|>"):
                ids.append(self.vocab[piece])
                continue
            word = "".join(self.bytes[b] for b in piece.encode("utf-8"))
            ids.extend(self.vocab[s] for s in self.merge_word(word))
        return ids

    def tokenize(self, text, context=CONTEXT):
        """OpenAI's clip.tokenize(text, context, truncate=True), unpadded."""
        ids = [self.vocab["<|startoftext|>"]] + self.encode(text) + [self.vocab["<|endoftext|>"]]
        if len(ids) > context:
            ids = ids[:context]
            ids[-1] = self.vocab["<|endoftext|>"]
        return ids


# ---- the texts -----------------------------------------------------------------------

def prompt_texts():
    """Class names and templates of prompts.md (26 datasets), and CIFAR-10/100 prompts."""
    with open(os.path.join(CLIP, "prompts.md"), encoding="utf-8") as f:
        md = f.read()
    quoted = re.compile(r"'((?:[^'\\\n]|\\.)*)'|\"((?:[^\"\\\n]|\\.)*)\"")
    sections = re.split(r"^## ", md, flags=re.M)[1:]
    texts, per_dataset = [], {}
    for sec in sections:
        name = sec.split("\n", 1)[0].strip()
        lists = {}
        for kind, body in re.findall(r"^(classes|templates) = \[(.*?)^\]", sec, flags=re.M | re.S):
            lists[kind] = [a or b for a, b in quoted.findall(body)]
        per_dataset[name] = lists
        texts += lists.get("classes", [])
        texts += [t.replace("{}", "dog") for t in lists.get("templates", [])]
    for name in ("CIFAR10", "CIFAR100"):
        d = per_dataset[name]
        texts += [t.replace("{}", c) for c in d["classes"] for t in d["templates"]]
    return texts, per_dataset


HANDWRITTEN = [
    "a photo of a dog",
    "A Photo Of A DOG", "a photo of a dog.", "  a   photo\tof\na\r\n dog  ", "\u00a0a\u3000photo\u2028of\u00a0",
    "Hello, World!!! ... ??? (ok) [x] {y} <z> @#$%^&*_+=~`|\\/", "It's, don't, we're, I've, I'm, you'll, he'd",
    "IT'S DON'T WE'RE I'VE I'M YOU'LL HE'D", "'s 't 're 'x ''s", "rock'n'roll o'clock",
    "2024", "in 2024 there were 1,234,567.89 items; 3rd 21st 10k", "¹²³ ½ Ⅻ ⅻ ٣ ४",
    "MiXeD CaSe WoRdS and CamelCaseIdentifiers snake_case kebab-case",
    "&amp; &lt;b&gt; &quot;q&quot; &#39; &#x27; &amp;amp; &amp;lt; &copy; &euro; &nbsp;x",
    "&ampx &notit; &notin; &#128; &#x80; &#0; &#xD800; &#99999999999; &#1; &#65534; &#; &#x; &",
    "&AMP &LT; &Aacute; &aacute &#X41; &#65 &fjlig; &NotNestedGreaterGreater; &ThisIsNotAnEntityAtAllBecauseItIsWayTooLongX;",
    "café naïve résumé Ångström Œuvre Straße ŁÓDŹ ÇA İstanbul DİYARBAKIR",
    "ΟΔΟΣ ΟΔΟΣ. Σ ΑΣ ΣΑ Α.Σ ὈΔΥΣΣΕΎΣ ᾼ ᾳ", "Москва ПРИВЕТ мир Ёж ЁЖ Їжак",
    "北京 東京 서울 こんにちは カタカナ ｈａｌｆｗｉｄｔｈ",
    "emoji 😀🐶🐱 👩‍👩‍👧 🇫🇷 ✨ ❤️ 1️⃣", "tab\there\x0bvertical\x0cform feed\x1cfile sep \x1d\x1e\x1f end\x1c",
    "<|startoftext|>a<|endoftext|>", "<|STARTOFTEXT|> <|EndOfText|>", "x<|startoftext|>", ".<|endoftext|>",
    "'ſ 'ſtrange <|ſtartoftext|> ſ", "ͅ ᾳͅ ι!ͅ? aͅb", "K Kelvin Å angstrom", "ǅ ǈ ǋ ǲ titlecase",
    "", "   ", "\t\n", "a", "I", ".", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "pneumonoultramicroscopicsilicovolcanoconiosis supercalifragilisticexpialidocious",
    "zero-width\u200bspace soft\u00adhyphen joiner\u200dx bom\ufeffx",
    "combining e\u0301 n\u0303 (not NFC) vs é ñ", "mathematical 𝐀𝐁𝐂 𝒜 𝔸 ℝ ℕ", "arrows → ← ↑ ↓ ⇒ ∀x∃y",
]


def long_texts():
    words = ("the quick brown fox jumps over the lazy dog while a photo of a cat is taken "
             "by a blurry camera in 2024").split()
    rng = random.Random(5)
    out = [" ".join(rng.choice(words) for _ in range(n)) for n in (74, 75, 76, 77, 78, 150, 1000)]
    out.append("photo " * 75)
    out.append("a" * 5000)
    out.append("x, " * 2000)
    return out


def random_texts(n, seed):
    """Random strings over a mixed alphabet: ASCII, Latin, Greek, Cyrillic, CJK, symbols,
    whitespace, entities, apostrophes, and assigned code points drawn anywhere."""
    rng = random.Random(seed)
    pieces = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?'\"-_()&#<>|") + \
        list("éèêëàâäôöûüçñßÉÀÖÜÇÑ ΑΒΓΔΣσςαβγ ЖжЩщЁё 中文字 ひら ガ 😀 \t\n\u00a0\u2003\u0345\u017f\u0130") + \
        ["&amp;", "&lt;", "&#38;", "&#x26;", "&nbsp;", "&eacute", "'s", "'ll", "<|endoftext|>"]
    texts = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 40)):
            if rng.random() < 0.1:
                cp = rng.randint(0x20, 0x10FFFF)
                ch = chr(cp)
                if 0xD800 <= cp <= 0xDFFF or unicodedata.category(ch) == "Cn":
                    continue
                parts.append(ch)
            else:
                parts.append(rng.choice(pieces))
        texts.append("".join(parts))
    return texts


def small_alphabet_texts(n, seed):
    """Long words over a few frequent letters, where many merges compete for the same
    symbols: the order of merges decides the result."""
    rng = random.Random(seed)
    alphabets = ["ab", "aeinrst", "eo", "lo", "stre", "ing", "aaaab"]
    texts = []
    for _ in range(n):
        alphabet = rng.choice(alphabets)
        words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 120))) for _ in range(rng.randint(1, 4))]
        texts.append(" ".join(words))
    return texts


def codepoint_texts():
    """Every code point with a lower-case mapping or a class that matters (letters, numbers,
    whitespace, marks) in the BMP's Latin, Greek, Cyrillic, Armenian and general punctuation
    blocks, plus every 37th assigned code point anywhere: 24 code points a text, each once
    alone and once between ASCII letters."""
    cps = set()
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or cp < 0x20:
            continue
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat == "Cn" or cat == "Cs":
            continue
        if ch.lower() != ch or cp < 0x590 or 0x1E00 <= cp < 0x2200 or cp % 37 == 0:
            cps.add(cp)
    cps = sorted(cps)
    texts = []
    for k in range(0, len(cps), 24):
        chunk = [chr(c) for c in cps[k:k + 24]]
        texts.append(" ".join(chunk))
        texts.append("".join("a" + c + "b" for c in chunk))
    return texts


# ---- running the C side --------------------------------------------------------------

def run_cli(texts, context=CONTEXT, extra=()):
    out = []
    for k in range(0, len(texts), 500):
        batch = texts[k:k + 500]
        p = subprocess.run([BIN, "tokenize", "--model", CLIP, "--context", str(context), *extra, "--", *batch],
                           capture_output=True)
        if p.returncode != 0:
            raise RuntimeError("vfrobust tokenize failed: " + p.stderr.decode(errors="replace"))
        lines = p.stdout.decode().split("\n")
        assert lines[-1] == "" and len(lines) == len(batch) + 1, "one line per TEXT"
        out += [[int(x) for x in line.split()] for line in lines[:-1]]
    return out


def compare(ck, ref, label, texts, context=CONTEXT):
    t0 = time.time()
    got = run_cli(texts, context)
    t_c = time.time() - t0
    t0 = time.time()
    want = [ref.tokenize(t, context) for t in texts]
    t_py = time.time() - t0
    matched = 0
    for text, g, w in zip(texts, got, want):
        if g == w:
            matched += 1
        elif ck.failed < 40:
            print(f"  mismatch in {label}: {text!r}\n    C:   {g}\n    ref: {w}")
    ck.check(matched == len(texts), f"{label}: {len(texts) - matched} of {len(texts)} texts differ")
    print(f"{label}: {matched}/{len(texts)} texts identical "
          f"({sum(len(w) for w in want)} ids; C {t_c:.2f} s, Python {t_py:.2f} s)", flush=True)
    return len(texts), matched


def check_errors(ck):
    def run(args, stdin=None):
        return subprocess.run([BIN, "tokenize", *args], capture_output=True)

    def one_error_line(p, code, needle, what):
        lines = p.stderr.decode(errors="replace").strip().split("\n")
        ok = p.returncode == code and len(lines) == 1 and lines[0].startswith("vfrobust: ") and needle in lines[0]
        ck.check(ok, f"{what}: exit {p.returncode}, stderr {p.stderr!r}")

    with tempfile.TemporaryDirectory() as d:
        one_error_line(run(["--model", d, "a dog"]), 1, "vocab.json", "missing vocab.json")
        with open(os.path.join(d, "vocab.json"), "w") as f:
            f.write('{"a": 1,')
        one_error_line(run(["--model", d, "a dog"]), 1, "vocab.json", "corrupt vocab.json")
        with open(os.path.join(CLIP, "vocab.json"), "rb") as src, open(os.path.join(d, "vocab.json"), "wb") as dst:
            dst.write(src.read())
        one_error_line(run(["--model", d, "a dog"]), 1, "merges.txt", "missing merges.txt")
        with open(os.path.join(d, "merges.txt"), "w") as f:
            f.write("#version: 0.2\ni n\nt h e x\n")
        one_error_line(run(["--model", d, "a dog"]), 1, "merges.txt: line 3", "malformed merges.txt")
    long = "dog " * 100
    one_error_line(run(["--model", CLIP, "--no-truncate", long]), 1, "too long", "--no-truncate on a long text")
    p = run(["--model", CLIP, "--no-truncate", "a photo of a dog"])
    ck.check(p.returncode == 0 and p.stdout == b"49406 320 1125 539 320 1929 49407\n", "--no-truncate, short")
    p = run(["--model", CLIP, "--context", "5", "a photo of a dog"])
    ck.check(p.stdout == b"49406 320 1125 539 49407\n", f"--context 5: {p.stdout!r}")
    one_error_line(run(["--model", CLIP, "--context", "1", "a"]), 2, "--context", "--context 1")
    one_error_line(run(["--model", CLIP, "--context", "x", "a"]), 2, "--context", "--context x")
    one_error_line(run(["--model", CLIP]), 2, "TEXT", "no TEXT")
    one_error_line(run(["a dog"]), 2, "--model", "no --model")
    one_error_line(run(["--model", CLIP, "--frobnicate", "a"]), 2, "--frobnicate", "unknown option")
    p = subprocess.run([BIN, "tokenize", "--model", CLIP, b"a \xff dog"], capture_output=True)
    one_error_line(p, 1, "UTF-8", "invalid UTF-8")


def main():
    ck = Checker("ref_tokenizer")
    ref = ReferenceBPE(CLIP)
    ck.check(len(ref.vocab) == 49408 and len(ref.rank) == 48894, "vocabulary and merges sizes")

    got = run_cli(["a photo of a dog"])[0]
    ck.check(got == [49406, 320, 1125, 539, 320, 1929, 49407], f"known check: {got}")
    ck.check(ref.tokenize("a photo of a dog") == [49406, 320, 1125, 539, 320, 1929, 49407],
             "the reference passes the known check")

    prompts, per_dataset = prompt_texts()
    ck.check(len(per_dataset) == 26 and len(per_dataset["CIFAR100"]["classes"]) == 100,
             f"prompts.md parsed: {len(per_dataset)} datasets")
    total = matched = 0
    for label, texts, context in [
            ("handwritten", HANDWRITTEN, CONTEXT),
            ("prompts.md (26 datasets; CIFAR-10/100 classes x templates)", prompts, CONTEXT),
            ("long texts, truncated to 77", long_texts(), CONTEXT),
            ("long texts, context 16", long_texts(), 16),
            ("random mixed-script texts", random_texts(1500, 11), CONTEXT),
            ("long words over small alphabets", small_alphabet_texts(400, 13), 400),
            ("code points (lower-case map, classes)", codepoint_texts(), 400)]:
        n, m = compare(ck, ref, label, texts, context)
        total += n
        matched += m
    truncated = run_cli(long_texts()[:1])[0]
    ck.check(len(truncated) == 77 and truncated[-1] == 49407 and truncated[0] == 49406,
             "a long text gives 77 ids ending in <|endoftext|>")
    check_errors(ck)
    print(f"cases compared: {total}, matched: {matched}")
    ck.finish()


if __name__ == "__main__":
    main()
