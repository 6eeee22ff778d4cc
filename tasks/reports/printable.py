"""Text made safe to print one item to a line: file names with their control characters escaped.

A file name may hold any character but / and NUL. Printed as it is, a newline or tab in one adds a
line to predict's output that reads as another file's result, and a bidirectional override makes
the rest of its line read backwards. Escaped as a Python string literal escapes them, every name
stays on its own line and means one file; spaces, accents and CJK stay as they are.
"""
from __future__ import annotations

import unicodedata

# Cc: the C0 and C1 controls (\x85 is C1) and DEL. Zl, Zp: U+2028, U+2029. Cs: the lone surrogates
# that stand for bytes that are not UTF-8 (os.fsdecode); stdout cannot encode them at all.
CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
SHORT = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
HOW = ("In printed file names a backslash, tab, newline and carriage return show as \\\\, \\t, \\n "
       "and \\r, and other control characters, line separators, bidirectional controls and bytes "
       "that are not UTF-8 as Python writes them (\\x1b, \\u2028, \\u202e, \\udcff), so one line "
       "is always one file.")


def escape(text: str) -> str:
    """`text` with the characters above escaped; the rest, and so most names, unchanged."""
    return "".join(_escaped(char) for char in text)


def _escaped(char: str) -> str:
    if char in SHORT:
        return SHORT[char]
    if char in BIDI or unicodedata.category(char) in CATEGORIES:
        code = ord(char)  # all of them are in the BMP
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return char
