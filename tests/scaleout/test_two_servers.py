"""Two servers and a worker on one PostgreSQL database and one Chroma server, one server killed mid-way.

Needs PostgreSQL (MEMORY_SERVER_TEST_POSTGRES, see tests/postgres.py) and the `chroma` command chromadb installs.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest

from memory_server.config import Settings
from memory_server.service import MemoryService
from memory_server.store import indexed as indexedsql
from tests import postgres
from tests.scaleout.conftest import answers, free_port, until
from tests.servers import child_env

pytestmark = pytest.mark.skipif(postgres.ADMIN_URL is None, reason="needs PostgreSQL: MEMORY_SERVER_TEST_POSTGRES")

USERS = 12
ROUNDS = 8


def _start(role: str, data_dir: Path, env: dict[str, str], port: int | None = None) -> subprocess.Popen:
    args = [sys.executable, "-m", "memory_server", role, "--data-dir", str(data_dir)]
    if port is not None:
        args += ["--port", str(port)]
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _conversation(user: int, turn: int) -> dict:
    return {
        "user_id": f"user{user}",
        "messages": [
            {"role": "user", "content": f"My name is Person{user} and I live in Town{user}x{turn}."},
            {"role": "user", "content": f"I like the number {user * 100 + turn} and I work at Shop{user}."},
        ],
    }


async def test_two_servers_and_a_worker_survive_a_killed_server(tmp_path, storage_url, chroma):
    env = child_env()
    env["MEMORY_SERVER_INDEX__URL"] = chroma
    env["MEMORY_SERVER_WORKERS__POLL_SECONDS"] = "0.2"
    # The index holds only users too large to score exactly; half of these are put in it, as a search would.
    in_index = {f"user{user}" for user in range(0, USERS, 2)}
    db = Settings(data_dir=tmp_path / "setup").database()
    await db.open()
    try:
        for user_id in in_index:
            for family in ("facts", "episodes"):
                await indexedsql.serves(db, Settings().tenant, user_id, family)
    finally:
        await db.close()
    ports = [free_port(), free_port()]
    servers = [_start("serve", tmp_path / f"server{i}", env, port) for i, port in enumerate(ports)]
    worker = _start("worker", tmp_path / "worker", env)
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    accepted: dict[str, tuple[int, int]] = {}  # request id -> (user, turn)
    lock = threading.Lock()
    try:
        for url in urls:
            until(lambda url=url: answers(f"{url}/healthz"), f"the server at {url}")

        def publish(which: int, turns: range) -> None:
            with httpx.Client(base_url=urls[which], timeout=10) as http:
                for turn in turns:
                    for user in range(USERS):
                        try:
                            r = http.post("/v1/interactions", json=_conversation(user, turn))
                        except httpx.TransportError:
                            return  # this server was killed: nothing it did not answer counts as accepted
                        assert r.status_code == 202, r.text
                        with lock:
                            accepted[r.json()["request_id"]] = (user, turn)

        first = threading.Thread(target=publish, args=(0, range(0, ROUNDS, 2)))
        second = threading.Thread(target=publish, args=(1, range(1, ROUNDS, 2)))
        first.start()
        second.start()
        until(lambda: len(accepted) >= USERS * 2, "the first requests")
        servers[0].send_signal(signal.SIGKILL)
        servers[0].wait()
        first.join()
        second.join()
        assert USERS * ROUNDS // 2 <= len(accepted) < USERS * ROUNDS  # some of the killed server's never sent

        with httpx.Client(base_url=urls[1], timeout=10) as http:

            def all_done() -> bool:
                return all(http.get(f"/v1/requests/{i}").json()["status"] in ("done", "failed") for i in accepted)

            until(all_done, "every accepted request to finish", seconds=180)
            statuses = Counter(http.get(f"/v1/requests/{i}").json()["status"] for i in accepted)
        assert statuses == {"done": len(accepted)}
    finally:
        for proc in [*servers, worker]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*servers, worker]:
            proc.wait(timeout=60)

    settings = Settings(data_dir=tmp_path / "check", index={"url": chroma})
    service = await MemoryService.open(settings)
    try:
        db = service.core.db
        jobs = await db.fetchall("SELECT request_id, user_id, status, finished_at, rowid FROM jobs ORDER BY rowid")
        stored = {r["request_id"] for r in jobs}
        # The killed server may have stored the request it was answering when it died: one at most, done like any.
        assert set(accepted) <= stored and len(stored - set(accepted)) <= 1
        assert {r["status"] for r in jobs} == {"done"}
        for user in range(USERS):  # each user's requests finished in the order they were accepted
            finished = [r["finished_at"] for r in jobs if r["user_id"] == f"user{user}"]
            assert finished == sorted(finished)
        per_request = await db.fetchall("SELECT request_id, count(*) AS n FROM messages GROUP BY request_id")
        assert {r["request_id"]: r["n"] for r in per_request} == dict.fromkeys(stored, 2)
        facts = await db.fetchall("SELECT id, user_id, content FROM facts WHERE status = 'active'")
        assert facts and len({(r["user_id"], r["content"].lower()) for r in facts}) == len(facts)
        vectors = await db.fetchall("SELECT fact_id FROM fact_vectors")
        assert {r["id"] for r in facts} <= {r["fact_id"] for r in vectors}
        await service.core.vectors.flush()  # fills a user no flush reached yet
        indexed = {entry.id for entry in await service.core.index.scan(0, 100_000)}
        assert {r["id"] for r in facts if r["user_id"] in in_index} == indexed
        episodes = await db.fetchall(
            "SELECT m.id, m.user_id FROM messages m JOIN message_vectors v ON v.message_id = m.id"
        )
        assert len(episodes) == 2 * len(stored)  # every episode embedded, in the index or not
        assert {str(r["id"]) for r in episodes if r["user_id"] in in_index} == {
            entry.id for entry in await service.core.episodes.scan(0, 100_000)
        }
    finally:
        await service.close()
