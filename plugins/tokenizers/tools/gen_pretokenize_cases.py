#!/usr/bin/env python3
"""Writes tests/plugins/tokenizers/data/gpt2_pretokenize_regex.jsonl: random strings and their
pieces under GPT-2's pre-tokenisation regex as the third-party `regex` module matches it (the
engine of GPT-2's encoder.py), the independent reference for the hand-written matcher.

The strings mix the characters the rules turn on (apostrophes and contraction letters, spaces,
whitespace runs, digits, punctuation, the edge whitespace U+0085, U+00A0, U+001C..U+001F,
U+2028, U+3000 and non-whitespace U+200B, U+FEFF, U+180E, combining marks) with random code
points of every plane. Code points whose class differs between the regex module's Unicode
version and unicodedata's (the source of kiln's tables) are left out: those are characters
assigned after that version, where the table, not the matcher, would be tested.

Usage: python3 plugins/tokenizers/tools/gen_pretokenize_cases.py > tests/plugins/tokenizers/data/gpt2_pretokenize_regex.jsonl
"""
import json
import random
import sys
import unicodedata

import regex

GPT2 = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
L, N, S = regex.compile(r'\p{L}'), regex.compile(r'\p{N}'), regex.compile(r'\s')
COMMON = list("aAzZ09 '\n\t\r!.,-_") + ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "  ", "   ", "\n\n", " \n"]
EDGE = [chr(c) for c in (0x85, 0xA0, 0x1C, 0x1D, 0x1E, 0x1F, 0x0B, 0x0C, 0x2028, 0x2029, 0x3000, 0x2000, 0x2009,
                         0x200B, 0x200D, 0xFEFF, 0x180E, 0x301, 0x1680, 0x202F, 0x205F)]


def same_class(ch):
    a = 'L' if L.match(ch) else 'N' if N.match(ch) else 'S' if S.match(ch) else 'O'
    cat = unicodedata.category(ch)
    b = cat[0] if cat[0] in 'LN' else 'S' if (ch.isspace() and not '\x1c' <= ch <= '\x1f') else 'O'
    return a == b


def random_char(rng):
    while True:
        r = rng.random()
        c = rng.randint(0x80, 0x3000) if r < 0.5 else rng.randint(0x3000, 0xFFFF) if r < 0.8 else rng.randint(0x10000, 0x3FFFF)
        if not 0xD800 <= c <= 0xDFFF and same_class(chr(c)):
            return chr(c)


def main():
    rng = random.Random(20240601)
    for _ in range(400):
        s = ''
        for _ in range(rng.randint(0, 30)):
            r = rng.random()
            s += rng.choice(COMMON) if r < 0.55 else rng.choice(EDGE) if r < 0.75 else random_char(rng)
        sys.stdout.write(json.dumps({"text": s, "pieces": GPT2.findall(s)}) + "\n")


if __name__ == '__main__':
    main()
