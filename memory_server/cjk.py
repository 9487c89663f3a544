"""Chinese, Japanese and Korean text as keyword terms: overlapping character bigrams.

These scripts write a sentence without spaces, so a word tokenizer (FTS5's unicode61, PostgreSQL's parser) reads
a whole sentence as one token and a query word never matches it. As Lucene's CJKAnalyzer does, a run of CJK
letters becomes its overlapping bigrams ("寿司店" -> "寿司", "司店") and a letter alone a unigram; a query's
bigrams then match wherever its words appear, with no dictionary. The same Python code makes the keyword index's
text (`bigrams`) and the query's terms (`memory_server.terms.words`, through `split` and `grams`), so both engines
hold the same terms and text outside CJK runs is tokenized exactly as before.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

#: Letters of the Han, Hiragana, Katakana and Hangul scripts (punctuation such as "・" and "、" is left out, so it
#: still separates words).
_RANGES = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3041, 0x3096),  # Hiragana
    (0x309D, 0x309F),  # ゝ ゞ ゟ
    (0x30A1, 0x30FA),  # Katakana
    (0x30FC, 0x30FF),  # ー ヽ ヾ ヿ
    (0x3131, 0x318E),  # Hangul Compatibility Jamo
    (0x31F0, 0x31FF),  # Katakana Phonetic Extensions
    (0x3400, 0x4DBF),  # CJK Unified Ideographs Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xA960, 0xA97C),  # Hangul Jamo Extended-A
    (0xAC00, 0xD7A3),  # Hangul Syllables
    (0xD7B0, 0xD7FB),  # Hangul Jamo Extended-B
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0xFF66, 0xFF9F),  # Halfwidth Katakana
    (0xFFA1, 0xFFDC),  # Halfwidth Hangul
    (0x1B000, 0x1B16F),  # Kana Supplement, Kana Extended-A, Small Kana Extension
    (0x20000, 0x323AF),  # CJK Unified Ideographs Extensions B-H, Compatibility Ideographs Supplement
)
_RUN = re.compile("[" + "".join(f"{chr(low)}-{chr(high)}" for low, high in _RANGES) + "]+")
_LETTERS = re.compile(r"[^\W_]+")


def split(text: str) -> Iterator[tuple[str, bool]]:
    """The text in consecutive pieces, each with whether it is a run of CJK letters."""
    at = 0
    for run in _RUN.finditer(text):
        yield text[at : run.start()], False
        yield run.group(), True
        at = run.end()
    yield text[at:], False


def grams(run: str) -> list[str]:
    """The overlapping bigrams of a run of CJK letters, or the letter alone.

    NFKC first, so halfwidth katakana and compatibility ideographs meet their usual forms; a voiced-sound mark
    left on its own is no letter and splits the run (neither tokenizer would keep it inside a token)."""
    found: list[str] = []
    for letters in _LETTERS.findall(unicodedata.normalize("NFKC", run)):
        found.extend([letters] if len(letters) == 1 else [letters[i : i + 2] for i in range(len(letters) - 1)])
    return found


def bigrams(text: str) -> str:
    """The text as the keyword index holds it: each CJK run replaced by its grams, spaced apart, the rest as is."""
    if _RUN.search(text) is None:
        return text
    return "".join(f" {' '.join(grams(piece))} " if is_cjk else piece for piece, is_cjk in split(text))
