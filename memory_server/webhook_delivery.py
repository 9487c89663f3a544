"""The webhook dispatcher: sends due deliveries from the outbox (`store.webhooks`), signed, with retries.

It runs as one task beside the extraction workers: woken after each job (and by anything that emitted an
event and committed), and every `workers.poll_seconds` in any case. Each due delivery is claimed (its attempt
counted) before it is sent, and its outcome recorded after: a 2xx answer marks it delivered; anything else
schedules a retry with exponential backoff, until `webhooks.max_attempts`, when it is marked failed. An attempt
a crash interrupted stays claimed and is due again at the next start, with the same `webhook-id` (the event's
id), so the receiver can tell it is a repeat. Each attempt is signed anew (`webhook-timestamp` is its time).

Before each attempt the host is resolved off the event loop; unless `webhooks.allow_private`, any non-public
address fails the delivery at once (see `ssrf`). The request then goes to the address that was checked (the
host name kept in `Host` and for TLS), on a fresh connection, without following redirects or proxies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from datetime import timedelta

import httpx
from standardwebhooks import Webhook as Signer

from memory_server import __version__, ssrf, tasks, timeutil
from memory_server.config import WebhookSettings
from memory_server.store import webhooks as hooksql
from memory_server.store.db import Database
from memory_server.store.webhooks import Claimed

log = logging.getLogger(__name__)

SWEEP_EVERY_SECONDS = 60.0


class Refused(Exception):
    """The delivery may not be attempted (its host resolves to an address webhooks may not reach)."""


class WebhookDispatcher:
    """Delivers due webhook events, at most `webhooks.concurrency` at once."""

    def __init__(
        self, db: Database, settings: WebhookSettings, poll_seconds: float, verify: ssl.SSLContext | bool = True
    ) -> None:
        """`verify`: how receivers' TLS certificates are checked (httpx's default: the certifi bundle)."""
        self.db = db
        self.settings = settings
        self.poll_seconds = poll_seconds
        self.verify = verify
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self._swept = -SWEEP_EVERY_SECONDS

    async def start(self) -> None:
        """Make what a crash interrupted due again, then deliver in the background. On a shared database another
        process may be delivering right now: its claims are left alone and expire instead (`hooksql.claim`)."""
        recovered = 0 if self.db.shared else await hooksql.recover(self.db)
        if recovered:
            log.info("webhooks: %d interrupted deliveries are due again", recovered)
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.timeout_seconds),
            verify=self.verify,
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: the checked address is the one connected to
            limits=httpx.Limits(max_keepalive_connections=0),  # never reuse a connection made for another host
        )
        self._task = asyncio.create_task(self._run(), name="webhooks")

    async def stop(self) -> None:
        """Stop delivering; attempts in flight are cancelled and run again at the next start."""
        await tasks.stop(t for t in (self._task, *self._in_flight) if t is not None)
        self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def notify(self) -> None:
        """Look for due deliveries now (call it after committing a transaction that emitted events)."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            free = self.settings.concurrency - len(self._in_flight)
            claimed: list[Claimed] = []
            try:
                await self._sweep()
                if free > 0:
                    now = timeutil.now()
                    stale = now - timedelta(seconds=self.settings.timeout_seconds + 60)
                    claimed = await hooksql.claim(
                        self.db, now, stale, free, self.settings.per_webhook, self._longest_backoff()
                    )
            except asyncio.CancelledError:
                raise
            except Exception:  # a busy database must not end the dispatcher
                log.exception("webhooks: could not read due deliveries; trying again")
            for item in claimed:
                task = asyncio.create_task(self._attempt(item), name=f"webhook-delivery-{item.id}")
                self._in_flight.add(task)
                task.add_done_callback(self._finished)
            if claimed and len(claimed) == free:
                continue  # more may be due: look again once a slot is free
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()

    async def _sweep(self) -> None:
        """Now and then, delete finished deliveries older than `webhooks.retention_days`."""
        if time.monotonic() - self._swept < SWEEP_EVERY_SECONDS:
            return
        self._swept = time.monotonic()
        before = timeutil.now() - timedelta(days=self.settings.retention_days)
        while await hooksql.sweep(self.db, before) > 0:
            pass

    async def _attempt(self, item: Claimed) -> None:
        """One attempt at one delivery, its outcome recorded; never raises (but for cancellation)."""
        status_code: int | None = None
        try:
            async with asyncio.timeout(self.settings.timeout_seconds):
                status_code = await self._send(item)
            error = None if 200 <= status_code < 300 else f"the receiver answered HTTP {status_code}"
            final = False
        except Refused as exc:
            error, final = str(exc), True
        except TimeoutError:
            error, final = f"no answer within {self.settings.timeout_seconds:g} s (webhooks.timeout_seconds)", False
        except socket.gaierror as exc:
            error, final = f"cannot resolve {ssrf.host_of(item.url)}: {exc.strerror or exc}", False
        except (httpx.HTTPError, OSError) as exc:
            error, final = f"{type(exc).__name__}: {exc}".rstrip(": "), False
        now = timeutil.now()
        if error is None:
            status, next_at = "delivered", None
        elif final or item.attempts >= self.settings.max_attempts:
            status, next_at = "failed", None
        else:
            status, next_at = "pending", timeutil.later(now, self._backoff(item.attempts))
        if error is not None:
            log.warning("webhook delivery %d (attempt %d) %s: %s", item.id, item.attempts, status, error)
        try:
            await hooksql.finish(
                self.db, item, status=status, next_attempt_at=next_at, status_code=status_code, error=error, at=now
            )
        except Exception:  # the claim stays: the attempt is made again after a restart
            log.exception("webhooks: could not record the outcome of delivery %d", item.id)

    def _backoff(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` tries: doubling from the base, up to the maximum."""
        return min(self.settings.backoff_base_seconds * 2 ** min(attempts - 1, 60), self.settings.backoff_max_seconds)

    def _longest_backoff(self) -> float:
        """The furthest ahead a retry ever schedules a delivery (after the last try but one)."""
        return self._backoff(self.settings.max_attempts - 1) if self.settings.max_attempts > 1 else 0.0

    async def _send(self, item: Claimed) -> int:
        """POST the event to the webhook at a checked address; the receiver's HTTP status."""
        if self._client is None:
            raise RuntimeError("the webhook dispatcher is not started")
        url = httpx.URL(item.url)
        host = url.raw_host.decode("ascii").strip("[]")
        addresses = await ssrf.resolve(host, url.port or (443 if url.scheme == "https" else 80))
        if not self.settings.allow_private:
            for address in addresses:
                if reason := ssrf.blocked(address):
                    raise Refused(ssrf.refusal(host, address, reason))
        headers = self._signed_headers(item, url)
        pinned = ssrf.literal_address(host) is None and url.scheme == "https"
        extensions = {"sni_hostname": host} if pinned else {}
        for i, address in enumerate(addresses):  # the next address only when one refuses the connection
            try:
                async with self._client.stream(
                    "POST",
                    url.copy_with(host=str(address)),
                    content=item.body.encode(),
                    headers=headers,
                    extensions=extensions,
                ) as response:
                    return response.status_code  # the body is never read: a receiver cannot make us hold it
            except httpx.ConnectError:
                if i == len(addresses) - 1:
                    raise
        raise Refused(f"{host} resolves to no address")

    def _signed_headers(self, item: Claimed, url: httpx.URL) -> dict[str, str]:
        """Standard Webhooks headers for this attempt: the event's id, the attempt's time, their signature."""
        at = timeutil.now().replace(microsecond=0)
        return {
            "host": url.netloc.decode("ascii"),
            "content-type": "application/json",
            "user-agent": f"memory-server/{__version__} (webhooks)",
            "webhook-id": item.event_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Signer(item.secret).sign(item.event_id, at, item.body),
        }
