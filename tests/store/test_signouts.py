"""Console sign-outs in SQL: kept while a cookie of the session could still be sent, then swept."""

from __future__ import annotations

from datetime import timedelta

from memory_server import timeutil
from memory_server.access import Access
from memory_server.errors import Unauthorized
from memory_server.store import signouts


async def test_a_sign_out_holds_until_its_sessions_cookies_have_expired(settings):
    async with Access.opened(settings) as access:
        await access.sign_out("s1")
        await access.sign_out("s1")  # signing out twice (two tabs) is one row
        assert await _signed_out(access, "s1") and not await _signed_out(access, "s2")

        await access.sweep()
        assert await _signed_out(access, "s1")  # its cookies are good for 12 hours
        await signouts.sweep(access.db, timeutil.now() + timedelta(hours=13))
        assert not await _signed_out(access, "s1")


async def _signed_out(access: Access, session: str) -> bool:
    """Whether the console's check on each request refuses the session (open mode: no key to check)."""
    try:
        await access.resume(None, "127.0.0.1", session)
    except Unauthorized as exc:
        return "signed out" in exc.message
    return False
