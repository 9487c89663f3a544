"""Routers grouped by what a caller does: ingest, read and delete memory, administer."""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor


class AnyText(Convertor[str]):
    """Matches any text, `/` and newlines included, so that a user id the id rule refuses in a path gets the
    rule's 422 naming `user_id` instead of a 404 from the router (Starlette's `path` stops at a newline)."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("anytext", AnyText())
