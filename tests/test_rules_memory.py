"""What the offline rules extractor and reconciler store, message after message, through POST /v1/interactions."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone

SENT = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=12)


async def _say(client, user_id: str, *texts: str, after: int = 0) -> None:
    """Publish each text as its own request, `after` hours and more after SENT, an hour apart; wait for each."""
    for hour, text in enumerate(texts, after):
        at = (SENT + timedelta(hours=hour)).isoformat()
        said = {"user_id": user_id, "messages": [{"role": "user", "content": text, "created_at": at}], "wait": True}
        r = await client.post("/v1/interactions", json=said)
        assert r.status_code == 200, r.text


async def _facts(client, user_id: str) -> dict[str, dict]:
    """Every fact of the user, live or not, by content."""
    r = await client.get(f"/v1/users/{user_id}/facts", params={"status": "all"})
    return {f["content"]: f for f in r.json()["items"]}


async def test_living_somewhere_with_someone_else_leaves_the_users_own_location_live(client):
    await _say(
        client,
        "lea",
        "I live in Madrid and I work as a teacher.",
        "My sister and I live in different countries.",
        "My friend and I live in different cities; he lives in Oslo.",
    )

    facts = await _facts(client, "lea")
    assert facts["User lives in Madrid"]["status"] == "active"
    for shared in ("User and their sister live in", "User and their friend live in"):
        [fact] = [f for content, f in facts.items() if content.startswith(shared)]
        assert (fact["status"], fact["topic"]) == ("active", None)
    await _say(client, "lea", "My husband and I live in Porto now.")  # a home shared with someone is the user's too
    facts = await _facts(client, "lea")
    assert facts["User lives in Madrid"]["status"] == "superseded"
    assert [c for c, f in facts.items() if f["status"] == "active" and f["topic"] == "location"] == [
        "User and their husband live in Porto now"
    ]


async def test_a_new_job_however_it_is_said_replaces_the_occupation(client):
    await _say(
        client,
        "job",
        "I work as a nurse",
        "I started a new job as a software engineer at Acme",
        "I left Acme and joined Globex as a product manager",
    )

    facts = await _facts(client, "job")
    nurse = facts["User works as a nurse"]
    engineer = facts["User started a new job as a software engineer at Acme"]
    manager = facts["User left Acme and joined Globex as a product manager"]
    assert [f["topic"] for f in (nurse, engineer, manager)] == ["occupation"] * 3
    assert (nurse["status"], nurse["superseded_by"]) == ("superseded", engineer["id"])
    assert (engineer["status"], engineer["superseded_by"]) == ("superseded", manager["id"])
    assert (manager["status"], manager["kind"]) == ("active", "static")


async def test_a_temporary_job_sits_beside_the_lasting_one_and_replaces_only_a_temporary_one(client):
    await _say(client, "sam", "I work as a teacher", "I'm working as a waiter this summer")
    facts = await _facts(client, "sam")
    teacher, waiter = facts["User works as a teacher"], facts["User is working as a waiter this summer"]
    assert (teacher["status"], teacher["kind"], teacher["expires_at"]) == ("active", "static", None)
    assert (waiter["status"], waiter["kind"], waiter["topic"]) == ("active", "dynamic", "occupation")
    assert waiter["expires_at"] is not None

    await _say(client, "sam", "I'm working as a lifeguard this summer", after=2)  # dynamic replaces dynamic
    facts = await _facts(client, "sam")
    lifeguard = facts["User is working as a lifeguard this summer"]
    assert facts["User is working as a waiter this summer"]["superseded_by"] == lifeguard["id"]
    assert facts["User works as a teacher"]["status"] == "active"


async def test_this_weekend_expires_when_the_senders_sunday_ends(client):
    sent = datetime.now(timezone(timedelta(hours=1))).replace(microsecond=0) - timedelta(hours=1)
    said = {"role": "user", "content": "I'm visiting my parents this weekend", "created_at": sent.isoformat()}
    r = await client.post("/v1/interactions", json={"user_id": "wkd", "messages": [said], "wait": True})
    assert r.status_code == 200, r.text

    [fact] = (await _facts(client, "wkd")).values()
    sunday = sent.date() + timedelta(6 - sent.weekday())
    assert fact["content"] == f"User is visiting their parents the weekend of {sunday - timedelta(1)}"
    assert fact["kind"] == "dynamic"
    ends = datetime.combine(sunday + timedelta(1), time(), sent.tzinfo)
    assert datetime.fromisoformat(fact["expires_at"].replace("Z", "+00:00")) == ends


async def test_a_cold_and_a_pregnancy_pass_and_a_state_of_today_lasts_until_the_senders_midnight(client):
    await _say(client, "kim", "I have a cold", "I'm pregnant")
    facts = await _facts(client, "kim")
    for content, hour, days in (("User has a cold", 0, 7), ("User is pregnant", 1, 280)):
        assert facts[content]["kind"] == "dynamic"
        expires = datetime.fromisoformat(facts[content]["expires_at"].replace("Z", "+00:00"))
        assert expires == SENT + timedelta(hours=hour, days=days)

    now = datetime.now(UTC)
    noon = timezone(timedelta(hours=12 - now.hour))  # where it is about noon: the day does not end during the test
    sent = now.astimezone(noon).replace(microsecond=0)
    said = {"role": "user", "content": "I'm feeling stressed today", "created_at": sent.isoformat()}
    r = await client.post("/v1/interactions", json={"user_id": "kim", "messages": [said], "wait": True})
    assert r.status_code == 200, r.text
    stressed = (await _facts(client, "kim"))[f"User is feeling stressed on {sent.date()}"]
    assert stressed["kind"] == "dynamic"
    midnight = datetime.combine(sent.date() + timedelta(1), time(), noon)
    assert datetime.fromisoformat(stressed["expires_at"].replace("Z", "+00:00")) == midnight


async def test_saying_the_email_was_changed_replaces_the_old_one(client):
    await _say(client, "maya", "My email is maya@old.com", "I changed my email, it's maya@new.com now")

    facts = await _facts(client, "maya")
    old, new = facts["User's email is maya@old.com"], facts["User's email is maya@new.com"]
    assert (new["status"], new["kind"], new["topic"]) == ("active", "static", "identity:email")
    assert (old["status"], old["superseded_by"]) == ("superseded", new["id"])
    assert not [content for content in facts if "changed" in content]


async def test_a_value_said_again_after_its_replacement_counts_however_late_it_is_processed(client):
    await _say(client, "occ", "I work as a chef.", "I work as a pilot.", "I work as a chef.")
    r = await client.get("/v1/users/occ/facts", params={"status": "all"})
    facts = sorted((f["content"], f["status"]) for f in r.json()["items"])
    assert facts == [  # the chef said last counts, though processed hours after the pilot replaced the first chef
        ("User works as a chef", "active"),
        ("User works as a chef", "superseded"),
        ("User works as a pilot", "superseded"),
    ]
