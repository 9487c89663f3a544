"""Token counting with tiktoken (cl100k_base, bundled with litellm so nothing is downloaded)."""

from __future__ import annotations

from functools import cache

ENCODING = "cl100k_base"


@cache
def _encoding():
    import tiktoken

    return tiktoken.get_encoding(ENCODING)


def count(text: str) -> int:
    return len(_encoding().encode(text, disallowed_special=()))
