"""Episodes: every stored message is searchable next to the facts, and forgetting reaches it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import httpx

from memory_server import terms, when
from memory_server.schemas import SearchIn
from memory_server.service import MemoryService
from memory_server.store import episodes as episodesql
from memory_server.store import fts
from tests.conftest import index_users, publish
from tests.servers import child_env, wait_until_up

CHAT = [
    ("user", "haha we ended up at that tiny place near the harbour, Zoltan ordered the octopus"),
    ("assistant", "Sounds lovely! I'd recommend trying the Duoro red next time, it pairs well with seafood."),
    ("user", "the dog threw up on the rug again this morning, third time this week"),
    ("user", "booked the flight, confirmation code is QX7T2L"),
]


async def _chat(client: httpx.AsyncClient, user: str, **extra) -> dict:
    day = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    messages = [
        {"role": role, "content": text, "created_at": (day + timedelta(minutes=i)).isoformat()}
        for i, (role, text) in enumerate(CHAT)
    ]
    r = await client.post("/v1/interactions", json={"user_id": user, "messages": messages, "wait": True, **extra})
    assert r.status_code == 200, r.text
    return r.json()


async def _search(client: httpx.AsyncClient, user: str, query: str, **extra) -> list[dict]:
    r = await client.post("/v1/search", json={"user_id": user, "query": query, "threshold": 0, **extra})
    assert r.status_code == 200, r.text
    return r.json()["results"]


async def test_an_episode_is_found_by_paraphrase_and_by_exact_words(client):
    await _chat(client, "ana")
    by_meaning = await _search(client, "ana", "my pet has been sick", top_k=1)
    assert by_meaning[0]["type"] == "episode"
    assert "dog threw up" in by_meaning[0]["content"]
    by_code = await _search(client, "ana", "QX7T2L", top_k=1)
    assert by_code[0]["content"] == "booked the flight, confirmation code is QX7T2L"
    hit = by_code[0]
    assert hit["role"] == "user" and hit["message_id"] == int(hit["id"])
    assert hit["created_at"].startswith("2026-03-02T09:03")  # the message's own time, not the server's
    assert hit["snippet"] and hit["request_id"] and hit["kind"] is None


async def test_more_than_counts_only_embedded_episodes(client, service, scope):
    await _chat(client, "eve")  # four messages, all embedded once the job is done
    db, tenant = service.core.db, scope.tenant_id
    assert await episodesql.more_than(db, tenant, "eve", 3)
    assert not await episodesql.more_than(db, tenant, "eve", 4)
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM message_vectors WHERE message_id = (SELECT max(id) FROM messages)")
    assert not await episodesql.more_than(db, tenant, "eve", 3)  # four messages, three of them embedded
    assert not await episodesql.more_than(db, tenant, "nobody", 0)


async def test_facts_extracted_from_one_message_each_keep_their_place(client):
    await publish(client, "col", "I live in Lyon and I work as a baker.")
    query = {"user_id": "col", "query": "where does the user live and what is their job", "threshold": 0}
    for types in (["facts"], ["facts", "episodes"]):
        r = await client.post("/v1/search", json={**query, "types": types})
        facts = sorted(h["content"] for h in r.json()["results"] if h["type"] == "fact")
        assert facts == ["User lives in Lyon", "User works as a baker"], types
    r = await client.post("/v1/search", json={**query, "types": ["facts", "episodes"]})
    assert "episode" not in {h["type"] for h in r.json()["results"]}  # the message both came from: said already


async def test_a_deleted_message_s_id_is_never_given_to_a_later_one(client):
    await publish(client, "zoe", "I am allergic to shellfish.")
    [fact] = (await client.get("/v1/users/zoe/facts")).json()["items"]
    [source] = fact["message_ids"]
    assert (await client.delete(f"/v1/episodes/{source}")).status_code == 200
    await publish(client, "zoe", "My sister Mia is visiting next spring.")
    [later] = (await client.get("/v1/users/zoe/episodes")).json()["items"]
    assert later["message_id"] > source
    r = await client.delete(f"/v1/facts/{fact['id']}", params={"with_sources": "true"})
    assert r.status_code == 200
    left = (await client.get("/v1/users/zoe/episodes")).json()["items"]
    assert [e["message_id"] for e in left] == [later["message_id"]]


async def test_types_pick_facts_or_episodes(client):
    await publish(client, "ben", "I am a nurse in Porto. the weather is grim today lol")
    both = await _search(client, "ben", "nurse")
    assert len([h for h in both if "nurse" in h["content"]]) == 1  # a fact and its message take one place
    facts = await _search(client, "ben", "nurse", types=["facts"])
    episodes = await _search(client, "ben", "nurse", types=["episodes"])
    assert facts and {h["type"] for h in facts} == {"fact"}
    assert episodes and {h["type"] for h in episodes} == {"episode"}
    fact = facts[0]
    assert fact["message_ids"] == [episodes[0]["message_id"]]  # the fact says which message it came from
    r = await client.post("/v1/search", json={"user_id": "ben", "query": "x", "types": ["memories"]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "types.0"


async def test_threshold_filters_facts_and_episodes_on_one_scale(client):
    await _chat(client, "cy")
    await publish(client, "cy", "I live in Lisbon")
    everything = await _search(client, "cy", "where do I live, Lisbon?", top_k=20)
    scores = [h["score"] for h in everything]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    cut = sorted(scores)[len(scores) // 2]
    above = await _search(client, "cy", "where do I live, Lisbon?", top_k=20, threshold=cut)
    assert [h["id"] for h in above] == [h["id"] for h in everything if h["score"] >= cut]


async def test_assistant_turns_are_searched_on_request(client):
    await _chat(client, "dee")
    default = await _search(client, "dee", "which wine did you recommend?", types=["episodes"])
    assert all(h["role"] == "user" for h in default)
    asked = await _search(client, "dee", "which wine did you recommend?", roles=["user", "assistant"], top_k=1)
    assert asked[0]["role"] == "assistant" and "Duoro" in asked[0]["content"]


async def test_profile_with_q_lists_episodes_with_dates_within_the_budget(client):
    await _chat(client, "eve")
    await publish(client, "eve", "I am a teacher")
    ask = {"user_id": "eve", "q": "confirmation code of the flight", "threshold": 0}
    r = await client.post("/v1/profile", json=ask)
    results = r.json()["searchResults"]["results"]
    assert results[0]["type"] == "episode" and "QX7T2L" in results[0]["content"]
    assert len(results) > 2
    assert [f["content"] for f in r.json()["profile"]["static"]] == ["User is a teacher"]
    small = await client.post("/v1/profile", json={**ask, "max_tokens": 30})
    body = small.json()
    assert body["tokens"] <= 30
    assert len(body["searchResults"]["results"]) < len(results)


async def test_forgetting_by_meaning_removes_the_episode_and_the_fact(client, service):
    await publish(client, "fay", "I live at 12 Rua Augusta in Lisbon")
    assert await _search(client, "fay", "Rua Augusta", types=["facts"])
    assert await _search(client, "fay", "Rua Augusta", types=["episodes"])
    r = await client.post("/v1/facts/delete", json={"user_id": "fay", "query": "my address", "threshold": 0.3})
    body = r.json()
    assert len(body["deleted"]) == 1 and len(body["episodes"]) == 1 and body["count"] == 2
    assert await _search(client, "fay", "Rua Augusta") == []
    assert await _search(client, "fay", "where do I live", types=["episodes"]) == []
    log = (await client.get("/v1/changelog", params={"user_id": "fay"})).json()["items"]
    gone = [c for c in log if c["event"] == "episode_delete"]
    assert len(gone) == 1 and gone[0]["message_id"] == body["episodes"][0]["message_id"]
    assert "Augusta" not in str(gone[0])  # the log keeps where it was, not what it said
    rows = await service.core.db.fetchall("SELECT count(*) AS n FROM episodes_fts WHERE content LIKE '%Augusta%'")
    assert rows[0]["n"] == 0


async def test_deleting_a_fact_with_sources_deletes_its_messages(client):
    await publish(client, "gus", "I work at Fabrica de Sonhos", "lovely weather today")
    [fact] = await _search(client, "gus", "Fabrica de Sonhos", types=["facts"])
    r = await client.delete(f"/v1/facts/{fact['id']}", params={"with_sources": "true"})
    assert r.status_code == 200 and r.headers["X-Deleted-Episodes"] == str(fact["message_ids"][0])
    left = (await client.get("/v1/users/gus/episodes")).json()["items"]
    assert [e["content"] for e in left] == ["lovely weather today"]


async def test_one_episode_can_be_read_and_deleted_and_is_scoped(client):
    await _chat(client, "hal")
    [first] = (await client.get("/v1/users/hal/episodes", params={"limit": 1})).json()["items"]
    assert first["content"] == CHAT[-1][1]
    path = f"/v1/episodes/{first['message_id']}"
    assert (await client.get(path)).json()["content"] == CHAT[-1][1]
    assert (await client.delete(path, params={"user_id": "someone-else"})).status_code == 404
    assert (await client.delete(path)).status_code == 200
    assert (await client.get(path)).status_code == 404
    assert (await client.get("/v1/episodes/0")).json()["error"]["field"] == "message_id"


async def test_purge_removes_episodes(client, service):
    await _chat(client, "ida")
    assert (await client.delete("/v1/users/ida")).status_code == 200
    assert (await client.get("/v1/users/ida/episodes")).json()["items"] == []
    for table in ("message_vectors", "messages"):
        assert (await service.core.db.fetchone(f"SELECT count(*) AS n FROM {table}"))["n"] == 0
    await service.core.vectors.flush()
    assert (await service.core.episodes.scan(0, 100)) == []


async def test_export_and_import_carry_episodes(client, service, scope):
    await _chat(client, "jo")
    exported = await service.export_user(scope, "jo")
    await client.delete("/v1/users/jo")
    added = await service.import_user(scope, exported)
    assert added["messages"] == len(CHAT)
    await service.core.vectors.flush()
    hit = (await _search(client, "jo", "QX7T2L", top_k=1))[0]
    assert hit["type"] == "episode" and hit["created_at"].startswith("2026-03-02")


async def test_reindex_rebuilds_episode_vectors(client, service):
    await _chat(client, "kai")
    await index_users(service, service.core.settings.tenant, "kai")
    assert len(await service.core.episodes.scan(0, 100)) == len(CHAT)
    async with service.core.db.transaction() as conn:
        await conn.execute("DELETE FROM message_vectors")
    await service.core.episodes.reset()
    assert await _search(client, "kai", "my pet has been sick", types=["episodes"]) == []
    await service.reindex()
    rows = await service.core.db.fetchone("SELECT count(*) AS n FROM message_vectors")
    assert rows["n"] == len(CHAT)
    assert len(await service.core.episodes.scan(0, 100)) == len(CHAT)
    assert "dog" in (await _search(client, "kai", "my pet has been sick", top_k=1))[0]["content"]


async def test_config_turns_episodes_off_and_keeps_them_for_a_while(client, service):
    r = await client.put("/v1/config", json={"episodes": {"enabled": False}})
    assert r.json()["config"]["episodes"]["roles"] == ["user", "assistant"]  # keys left out are kept
    await _chat(client, "lu")
    assert await _search(client, "lu", "QX7T2L", types=["episodes"]) == []
    fresh = datetime.now(UTC).isoformat()
    await client.put("/v1/config", json={"episodes": {"enabled": True, "retention_days": 30}})
    await _chat(client, "mo")  # sent on 2026-03-02: older than 30 days
    await publish(client, "mo", "just got back from the market", wait=True)
    await service.expire_due()  # the workers sweep too; either way the old ones are gone
    left = (await client.get("/v1/users/mo/episodes")).json()["items"]
    assert [e["content"] for e in left] == ["just got back from the market"]
    log = (await client.get("/v1/changelog", params={"user_id": "mo", "since": fresh[:19]})).json()["items"]
    assert {c["event"] for c in log} >= {"episode_expire"}
    bad = await client.put("/v1/config", json={"episodes": {"retention_days": 0}})
    assert bad.status_code == 422 and "retention_days" in bad.json()["error"]["field"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_kill_9_during_ingest_leaves_no_episode_without_its_vector(tmp_path, settings):
    port = _free_port()
    env = child_env()
    env["MEMORY_SERVER_DATA_DIR"] = str(settings.data_dir)
    proc = subprocess.Popen(
        [sys.executable, "-m", "memory_server", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    accepted = 0
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            wait_until_up(http)
            for i in range(60):
                texts = [f"message {i}.{j} about the harbour and the number {i * 10 + j}" for j in range(5)]
                body = {"user_id": f"u{i % 3}", "messages": [{"role": "user", "content": t} for t in texts]}
                assert http.post("/v1/interactions", json=body).status_code == 202
                accepted += 1
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert accepted == 60
    service = await MemoryService.open(settings)
    try:
        db = service.core.db
        messages = (await db.fetchone("SELECT count(*) AS n FROM messages"))["n"]
        embedded = (await db.fetchone("SELECT count(*) AS n FROM message_vectors"))["n"]
        assert messages == embedded == 300
        assert (await db.fetchone("SELECT count(*) AS n FROM vector_ops"))["n"] == 0
        assert await service.core.episodes.scan(0, 1000) == []  # nobody is large enough to be indexed
    finally:
        await service.close()


async def test_a_user_beyond_the_exact_limit_is_searched_through_the_episodes_index(settings, tmp_path):
    from memory_server.api.app import create_app
    from memory_server.config import SearchSettings
    from tests.conftest import running

    small = settings.model_copy(update={"search": SearchSettings(exact_max_facts=2)})
    app = create_app(small)
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        await _chat(c, "ola")
        await _chat(c, "pia")
        found = await _search(c, "ola", "my pet has been sick", types=["episodes"], top_k=2)
        assert "dog threw up" in found[0]["content"]
        assert {h["role"] for h in found} == {"user"}
        code = await _search(c, "ola", "QX7T2L", types=["episodes"], top_k=1)
        assert code[0]["content"].endswith("QX7T2L")  # a keyword match outside the index's nearest still counts


async def test_a_date_in_the_question_finds_what_was_said_about_that_day(client):
    said = [
        ("2026-03-02T18:00:00Z", "we finally repainted the spare room, a grey called elephant's breath"),
        ("2026-03-04T09:00:00Z", "on Saturday we took the kayaks out, I'm sunburnt in a life-jacket shape"),
        ("2026-03-09T10:00:00Z", "lazy weekend, still in pyjamas at 2pm"),
        ("2026-04-20T10:00:00Z", "the garden needs so much work"),
    ]
    messages = [{"role": "user", "content": text, "created_at": at} for at, text in said]
    await client.post("/v1/interactions", json={"user_id": "qin", "messages": messages, "wait": True})
    for question, expected in [
        ("what did I get up to on Saturday, February 28?", said[1][1]),  # "on Saturday" said on March 4
        ("how did I spend the 2nd of March?", said[0][1]),
        ("anything I did on 2026-03-09?", said[2][1]),
    ]:
        top = (await _search(client, "qin", question, types=["episodes"], top_k=1))[0]
        assert top["content"] == expected, question


async def test_profile_can_list_episodes_only(client):
    await _chat(client, "ray")
    await publish(client, "ray", "I am a pilot")
    body = {"user_id": "ray", "q": "what do I do for work?", "threshold": 0, "types": ["episodes"]}
    results = (await client.post("/v1/profile", json=body)).json()["searchResults"]
    assert results["results"] and {h["type"] for h in results["results"]} == {"episode"}
    assert results["total"] == len(results["results"])


async def test_a_message_keeps_its_sender_s_clock_and_its_days_are_theirs(client):
    east = timezone(timedelta(hours=5))
    sent = datetime.now(east).replace(hour=1, minute=30, second=0, microsecond=0)  # the evening before, in UTC
    if sent > datetime.now(east):
        sent -= timedelta(days=1)
    said = {"role": "user", "content": "Yesterday I went skiing in Zermatt.", "created_at": sent.isoformat()}
    r = await client.post("/v1/interactions", json={"user_id": "kai", "messages": [said], "wait": True})
    assert r.json()["status"] == "done", r.text
    [episode] = (await client.get("/v1/users/kai/episodes")).json()["items"]
    assert episode["created_at"] == sent.isoformat()
    yesterday = sent.date() - timedelta(days=1)  # the sender's; UTC's is a day earlier still
    facts = [f["content"] for f in (await client.get("/v1/users/kai/facts")).json()["items"]]
    assert facts == [f"User went skiing in Zermatt on {yesterday}"]
    days = when.message_tokens(said["content"], sent).split()
    assert {f"d{sent:%Y%m%d}", f"d{yesterday:%Y%m%d}"} <= set(days)
    assert f"d{yesterday - timedelta(days=1):%Y%m%d}" not in days


CJK_CHAT = [
    "我最喜欢吃寿司，每个周末都去车站旁边的那家店。",
    "下个月我要去北京出差，得先订酒店。",
    "昨日は友達と京都でラーメンを食べました。",
    "来週から東京で新しい仕事を始めます。",
    "我女儿今年开始学钢琴了，老师很严格。",
    "医生说我的血压有点高，要少吃盐。",
    "週末は雨だったので、家で映画を見ていました。",
    "我们家的猫叫小白，它特别喜欢晒太阳。",
    "We adopted a grey cat called Pixel last spring.",
]
#: A word and the message holding it. MiniLM reads these characters poorly (钢琴, 血压 and 映画 are all unknown to
#: it): by meaning alone the message ranks second to fifth, and only the keyword match puts it first.
CJK_QUESTIONS = [
    ("寿司", CJK_CHAT[0]),
    ("京都", CJK_CHAT[2]),
    ("钢琴", CJK_CHAT[4]),
    ("血压", CJK_CHAT[5]),
    ("映画", CJK_CHAT[6]),
]


async def _cjk_chat(client: httpx.AsyncClient, user: str) -> None:
    messages = [{"role": "user", "content": text} for text in CJK_CHAT]
    r = await client.post("/v1/interactions", json={"user_id": user, "messages": messages, "wait": True})
    assert r.status_code == 200, r.text


async def _keyword_hits(service: MemoryService, scope, user: str, query: str) -> list[str]:
    """What the keyword index alone finds for the query, as message texts (the meaning's share left out)."""
    words = terms.query_words(query)
    found = await fts.keyword(service.core.db, scope.space, user, words, dict.fromkeys(words, 1.0), ["user"], 10)
    texts = await episodesql.get_many(service.core.db, scope.space, [i for i, _ in found])
    return [texts[i].content for i, _ in found]


async def test_chinese_and_japanese_words_are_found_inside_sentences_without_spaces(client, service, scope):
    await _cjk_chat(client, "yui")
    for query, expected in CJK_QUESTIONS:
        top = (await _search(client, "yui", query, types=["episodes"], top_k=1))[0]
        assert top["content"] == expected, query
        asked = {"user_id": "yui", "q": query, "threshold": 0, "types": ["episodes"]}
        r = await client.post("/v1/profile", json=asked)
        assert r.json()["searchResults"]["results"][0]["content"] == expected, query
        assert await _keyword_hits(service, scope, "yui", query) == [expected], query
    assert await _keyword_hits(service, scope, "yui", "grey cats") == [CJK_CHAT[-1]]
    listed = (await client.get("/v1/users/yui/episodes")).json()["items"]
    assert sorted(e["content"] for e in listed) == sorted(CJK_CHAT)  # the messages keep their text


async def test_messages_indexed_before_the_bigram_migration_are_found_after_it(settings, client, service, scope):
    """m023 on rows as the index held them before: a CJK sentence one token, which no CJK word found."""
    await _cjk_chat(client, "zhu")
    async with service.core.db.transaction() as conn:
        await conn.execute(
            "UPDATE episodes_fts SET content = (SELECT content FROM messages WHERE id = episodes_fts.rowid)"
        )
        await conn.execute("DELETE FROM _migrations WHERE name = 'm023_cjk_bigrams'")
    assert await _keyword_hits(service, scope, "zhu", "寿司") == []
    await service.close()

    again = await MemoryService.open(settings)
    try:
        for query, expected in CJK_QUESTIONS:
            assert await _keyword_hits(again, scope, "zhu", query) == [expected], query
            found = await again.search(scope, SearchIn(user_id="zhu", query=query, types=["episodes"], top_k=1))
            assert found.results[0].content == expected, query
        assert await _keyword_hits(again, scope, "zhu", "grey cats") == [CJK_CHAT[-1]]
        rows = await again.core.db.fetchall(
            "SELECT m.content AS said, e.content AS indexed FROM messages m JOIN episodes_fts e ON e.rowid = m.id "
            "ORDER BY m.id"
        )
        assert [r["said"] for r in rows] == CJK_CHAT
        assert [r["indexed"] == r["said"] for r in rows] == [False] * 8 + [True]  # English rows were left alone
    finally:
        await again.close()
