"""The user list in SQL: attribute filters read user_attributes (kept by triggers) and must match exactly the users
`json_extract(attributes, '$."name"') IS value` matches; pages come in the order of the whole list."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from memory_server import users as domain
from memory_server.aggregates import Aggregates
from memory_server.store import segments as segmentsql
from memory_server.store import users as usersql
from memory_server.store.sqlite import SqliteDatabase

NOW = datetime(2026, 5, 1, tzinfo=UTC)
VALUES = ["pro", "free", "Pro", "3", 3, 3.0, 2.5, True, False, None, {"a": 1}, [1, 2], ""]


def _aggregates(risk: float, trend: str) -> Aggregates:
    return Aggregates(
        window_size=1,
        avg_sentiment=0.0,
        sentiment_trend=trend,
        top_topics=[],
        topic_scores={},
        intentions_summary=[],
        negative_ratio=0.0,
        churn_risk_score=risk,
        price_sensitive_ratio=0.0,
        message_frequency_days=None,
    )


def _attributes(rng: random.Random) -> dict:
    return {name: rng.choice(VALUES) for name in ("plan", "seats", "beta", "x-y") if rng.random() < 0.7}


async def _page(db: SqliteDatabase, limit: int = 100, offset: int = 0, **filters) -> tuple[list[str], int]:
    wanted = {"churn_risk_gte": None, "churn_risk_lte": None, "sentiment_trend": None, "min_messages": None}
    wanted.update({"segment": None, "attributes": {}, **filters})
    users, total = await usersql.page(db, "t", limit=limit, offset=offset, **wanted)
    return [u.user_id for u in users], total


async def _check(db: SqliteDatabase, expected_sql: str, params: tuple, **filters) -> None:
    """Every way of reading a page (sorting few matches, walking with tests per user or with lists) agrees with
    the plain query, page by page, and so does the count."""
    rows = await db.fetchall(
        f"SELECT user_id FROM users WHERE tenant_id = 't' AND {expected_sql} ORDER BY last_seen DESC, user_id",
        params,
    )
    expected = [r["user_id"] for r in rows]
    for limit, offset in ((100, 0), (3, 0), (3, 4), (5, 30)):
        got, total = await _page(db, limit, offset, **filters)
        assert got == expected[offset : offset + limit], (filters, limit, offset)
        assert total == len(expected), filters


@pytest.mark.parametrize("sort_at_most", [1000, 0, 8])
async def test_user_list_filters_match_the_plain_query_through_every_write_path(tmp_path, monkeypatch, sort_at_most):
    monkeypatch.setattr(usersql, "SORT_AT_MOST", sort_at_most)
    rng = random.Random(5)
    db = SqliteDatabase(tmp_path / "x.sqlite3")
    await db.open()
    try:
        async with db.transaction() as conn:
            for i in range(150):
                user = f"u{i:03d}"
                times = [NOW - timedelta(hours=rng.randint(0, 50))]  # ties in last_seen on purpose
                if i % 3 == 0:
                    await usersql.set_attributes(conn, "t", user, _attributes(rng), NOW)
                else:
                    await usersql.seen(conn, "t", user, source=None, attributes=_attributes(rng), times=times, now=NOW)
                if i % 4 == 0:  # later writes: merge (a null removes a key), replace, delete
                    await usersql.merge_attributes(conn, "t", user, {"plan": rng.choice(VALUES), "beta": None}, NOW)
                if i % 5 == 0:
                    await usersql.set_attributes(conn, "t", user, _attributes(rng), NOW)
                if i % 7 == 0:
                    await usersql.save_aggregates(
                        conn, "t", user, _aggregates(rng.random(), rng.choice(["stable", "declining"])), i % 4, NOW
                    )
                if i % 11 == 0:
                    await usersql.delete(conn, "t", user)
            await usersql.set_attributes(conn, "other", "u001", {"plan": "pro"}, NOW)  # another tenant's
            for tenant in ("t", "other"):
                await segmentsql.insert(
                    conn, tenant, f"seg-{tenant}", name="s", description=None, condition={}, model_id="m",
                    vectors=None, actor="test", now=NOW,
                )  # fmt: skip
            members = [f"u{i:03d}" for i in range(150) if i % 11 and rng.random() < 0.4]
            for user in members:
                await segmentsql.enter(conn, "t", "seg-t", user, NOW)
            await segmentsql.enter(conn, "other", "seg-other", "u001", NOW)
        for raw in ['"pro"', "pro", "Pro", "3", "3.0", "2.5", "true", "false", "null", "", '{"a": 1}']:
            for name in ("plan", "seats", "beta", "x-y", "missing"):
                value = domain.attribute_value(raw)
                await _check(db, "json_extract(attributes, ?) IS ?", (f'$."{name}"', value), attributes={name: value})
        member = "user_id IN (SELECT user_id FROM segment_members WHERE segment_id = 'seg-t')"
        plan = "json_extract(attributes, '$.\"plan\"') IS 'pro'"
        seats = "json_extract(attributes, '$.\"seats\"') IS 3"
        await _check(db, "1", ())
        await _check(db, member, (), segment="seg-t")
        await _check(db, f"{member} AND {plan}", (), segment="seg-t", attributes={"plan": "pro"})
        await _check(db, f"{plan} AND {seats}", (), attributes={"plan": "pro", "seats": 3})
        await _check(
            db,
            "churn_risk_score >= 0.3 AND sentiment_trend = 'declining' AND analysed_count >= 1",
            (),
            churn_risk_gte=0.3,
            sentiment_trend="declining",
            min_messages=1,
        )
        await _check(
            db,
            f"churn_risk_score <= 0.9 AND {member} AND {seats}",
            (),
            churn_risk_lte=0.9,
            segment="seg-t",
            attributes={"seats": 3},
        )
        await _check(
            db,
            f"{member} AND json_extract(attributes, '$.beta') IS NULL",
            (),
            segment="seg-t",
            attributes={"beta": None},
        )
        # the side table holds exactly the live users' keys
        rows = await db.fetchall("SELECT tenant_id, user_id, attributes FROM users", ())
        keys = {(r["tenant_id"], r["user_id"], k) for r in rows for k in json.loads(r["attributes"])}
        side = await db.fetchall("SELECT tenant_id, user_id, name FROM user_attributes", ())
        assert {(r["tenant_id"], r["user_id"], r["name"]) for r in side} == keys
    finally:
        await db.close()
