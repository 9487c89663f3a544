"""Prompt templates. Placeholders are filled at call time (today's date is the day of the call)."""

from __future__ import annotations

DEFAULT_DEFINITION = (
    "identity (name, age, where they live, languages); preferences and dislikes; goals and plans; constraints "
    "(diet, allergies, accessibility, budget, schedule); relationships (family, partner, friends, pets, "
    "colleagues); work and education; health, only when the user volunteers it; and recent or temporary "
    "context (current projects, trips, events of this week)."
)

EXTRACTION_SYSTEM = """\
You extract memories about a user from a conversation, for a memory server that an AI assistant reads \
before each turn so that it knows the user.

Today is {today} (UTC). Every message carries its own time: resolve relative dates ("tomorrow", "last \
week") against the time of the message that says them, and write dates out.

What to extract: {definition}

Each fact has a kind:
- static: {static_definition}
- dynamic: {dynamic_definition} Give every dynamic fact a ttl, how long it will likely stay true: one of \
one_day, one_week, one_month, one_quarter, one_year.

Rules:
{sources}
- Write each fact in the third person, self-contained, starting with "User" ("User is a nurse", "User's \
daughter is 4 years old"), in the language the user wrote in.
- One fact per statement, no duplicates, no guesses. Greetings, thanks, questions, requests to the \
assistant and chit-chat yield no facts.
- confidence: 0.0 to 1.0, how sure you are that the fact is true and about the user.
- message: the [index] of the message the fact comes from.
- identity: when a fact states one of the user's own identifiers (an email address, a phone number, a handle \
or profile URL), one fact per identifier ("User's email is ana@example.com") with "identity": {{"type": \
"email" | "phone" | "handle", "value": the identifier as written, "label": "work", "personal", a platform \
such as "github", or null, "several": true only if the user says it is an additional one, not a replacement}}; \
else leave identity out.
{condition}{context}{decisions}{signals}
Reply with only a JSON object, no prose: {{"facts": [{{"content": "...", "kind": "static" or "dynamic", \
"ttl": null or a ttl name, "confidence": 0.9, "message": 0{decision_shape}}}]{signals_shape}}}. Reply with \
"facts": [] when nothing is worth remembering."""

# The first rule, by the config's `roles` (the messages facts are taken from): the user's alone, or those roles'.
SOURCES_USER = """\
- Only facts about the user, from the user's own messages. The other messages are context: never attribute \
to the user what the assistant said, suggested or asked."""
SOURCES_ROLES = """\
- Only facts about the user, from the messages of roles {roles}; messages of other roles are context. From a \
message that is not the user's, take only what it states about the user (what the user told it, or it knows of \
them), never its own suggestions, questions or claims about itself."""

CONDITION = "\nExtract only if this holds, else reply with no facts: {should_extract}\n"
CONTEXT = "\nAbout the application you extract for: {context}\n"

# Asked for in the same call as the facts when the server wants signals; {topics} and {intentions} are lines
# of LABEL_LINE. Kept short: it is paid on every request.
SIGNALS = """
Also rate every message of roles {roles}, one "signals" entry each:
- message: its [index]
- sentiment: -1.0 (very negative) to 1.0 (very positive), 0 if neutral
- topics: label -> 0.0 to 1.0, only topics that clearly apply, only from:
{topics}
- intentions: what the message's writer wants to do, only from (else []):
{intentions}
- price_sensitive: true if the message's writer shows concern about price or cost
"""

LABEL_LINE = "  {name}: {description}"

SIGNALS_SHAPE = (
    ', "signals": [{{"message": 0, "sentiment": -0.6, "topics": {{"{topic}": 0.9}}, "intentions": [], '
    '"price_sensitive": false}}]'
)

CONVERSATION = "Conversation:\n{messages}"

# Asked for when the user's stored facts related to the conversation are shown (KNOWN, before the conversation):
# the extraction then also reconciles, and the reconciler's own call (RECONCILE_*) is not needed.
DECISIONS = """
Facts already known about the user are listed before the conversation under ids F0, F1..., to compare with: \
extract facts from the conversation alone. For each fact you extract, say what it does to the known facts:
- "action": "ADD": it is new information.
- "action": "UPDATE": it is a richer or newer version of known facts (moved city, new job, more detail); \
"ids": the known facts it replaces.
- "action": "DELETE": it shows that known facts are no longer true (and says nothing worth keeping itself); \
"ids": those facts.
- "action": "NONE": it is already known, in the same or other words; "ids": the facts that say it.
Only use ids from that list.
"""

DECISION_SHAPE = ', "action": "ADD", "ids": []'

KNOWN = "Known facts:\n{known}\n\n"
KNOWN_LINE = "[F{i}] {content} ({kind}, {said:%Y-%m-%d})"

RECONCILE_SYSTEM = """\
You keep a user's memory consistent. For each new fact, compare it with the existing facts and choose one \
action:
- ADD: it is new information.
- UPDATE: it is a richer or newer version of existing facts (moved city, new job, more detail); list the \
ids of the facts it replaces.
- DELETE: it shows that existing facts are no longer true (and says nothing worth keeping itself); list \
the ids of those facts.
- NONE: it is already known, in the same or other words.
Only use ids from the list of existing facts. Today is {today} (UTC).

Reply with only a JSON object, no prose: {{"decisions": [{{"new": 0, "action": "ADD" | "UPDATE" | \
"DELETE" | "NONE", "ids": [ids of existing facts]}}]}}, one decision per new fact."""

RECONCILE_USER = "Existing facts:\n{existing}\n\nNew facts:\n{new}"

REPAIR = (
    "Your reply could not be used: {error}. Reply again with only the JSON object described above, "
    "with nothing before or after it."
)
