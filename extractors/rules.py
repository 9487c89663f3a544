"""The offline `rules` extractor: first-person statements become third-person facts, without a model.

It is deliberately conservative. A clause it cannot read with confidence yields nothing, because a
missed fact costs less than an invented one. An LLM extractor does far better; this one makes the
server useful out of the box on a machine with no model. Vocabulary lives in `extractors.cues`;
relative dates ("yesterday") become absolute ones through `extractors.dates`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from extractors import cues, dates, identities
from extractors.base import CandidateFact, ExtractionContext, Message, MessageRole


class RulesOptions(BaseModel):
    """Options of the `rules` extractor."""

    model_config = ConfigDict(extra="forbid")

    roles: list[MessageRole] = ["user"]


@dataclass
class _Reading:
    """A clause rewritten in the third person, with what the grammar said about it."""

    content: str
    progressive: bool = False
    transient: bool = False
    needs_cue: bool = False
    hedged: bool = False
    past: bool = False


# --- cleaning and splitting -------------------------------------------------------------------------

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u00b4": "'", "`": "'"})
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u200d]+")
_EMOTICON = re.compile(r"(?<!\w)(?:[:;=]-?[)(DPpOo/\\|\]\[*3]+|<3+|[xX]D+|\^_?\^)(?!\w)")
_SLANG = ((re.compile(r"\bgonna\b", re.I), "going to"), (re.compile(r"\bwanna\b", re.I), "want to"))
_SENTENCE_END = re.compile(r"(?<=[.!?\u2026])\s+|\s*\n+\s*")
_ABBREVIATION = re.compile(r"(?:\b(?:mr|mrs|ms|dr|st|jr|sr|prof|vs|etc|approx|mt|ft)|\b(?:[a-z]\.)+[a-z])\.$", re.I)

_FP = r"(?:(?:now|also|then|still)\s+)?(?:i|i'm|im|i've|i'll|i'd)\b"
_MY = r"my\s+(?:[\w-]+\s+){0,3}?[\w-]+(?:'s\b|\s+(?:is|are|was|were|has|have|had|\w+s)\b)"
_OPENER = (
    r"(?:can|could|would|will|do|does|did|is|are|what|how|why|where|when|who|which|any|anything|please"
    r"|thoughts|ideas|thanks|thank|lol|haha|ok|okay)\b"
)
_NOT_A_CLAUSE = r"(?!(?:i think|i guess|i believe|i suppose)\W*$)"  # "..., I think" is a hedge
_AND = r"(?:(?:and|\+)\s+|&\s*)"  # people type "and" as "&" or "+", and "&I" as often as "& I"
_CONJUNCTION = rf"(?:(?:but|so|plus)\s+|{_AND})"
_CLAUSE_BREAK = re.compile(
    rf"\s*[,;:]\s*{_CONJUNCTION}?{_NOT_A_CLAUSE}(?={_FP}|{_MY}|{_OPENER})"
    rf"|\s+{_CONJUNCTION}{_NOT_A_CLAUSE}(?={_FP}|{_MY})"
    r"|\s+[-\u2013\u2014]+\s+",
    re.IGNORECASE,
)
# "my wife and I" is one subject: marked before splitting so " and I" is not read as a new clause.
_MY_AND_I = re.compile(
    r"(?:^|(?<=[,;:] )|(?<=[,;:]))"
    rf"(?:my\s+((?:[\w-]+\s+){{0,2}}?[\w-]+)\s+{_AND}(?:i|me)|me\s+{_AND}my\s+([\w-]+))\b(?!')",
    re.I,
)
_PAIR_MARK = "\ue000"  # private use: no rule reads it as a word, so it never leaks into a fact as one


def _clean(text: str) -> str:
    """Normalize apostrophes and slang; drop emoji and emoticons."""
    text = _EMOTICON.sub(" ", _EMOJI.sub(" ", text.translate(_APOSTROPHES)))
    for pattern, replacement in _SLANG:
        text = pattern.sub(replacement, text)
    return text


def _sentences(text: str) -> list[tuple[str, bool]]:
    """Split text into (sentence, is_question) pairs, not breaking after common abbreviations."""
    merged: list[str] = []
    for part in _SENTENCE_END.split(text):
        part = " ".join(part.split())
        if not part:
            continue
        if merged and _ABBREVIATION.search(merged[-1]):
            merged[-1] += " " + part
        else:
            merged.append(part)
    return [(s.lower() if s.upper() == s else s, bool(re.search(r"\?[!.\s]*$", s))) for s in merged]


def _clauses(sentence: str) -> list[str]:
    """Split a sentence where a new first-person clause, a request or a question begins."""
    marked = _MY_AND_I.sub(lambda m: f"my {m[1] or m[2]} {_PAIR_MARK}" if _is_pair(m[1] or m[2]) else m[0], sentence)
    clauses: list[str] = []
    for clause in (c.strip() for c in _CLAUSE_BREAK.split(marked) if c and c.strip()):
        if clauses and _is_time_only(clauses[-1]):  # "Yesterday, I went ...": the time opens this clause
            clauses[-1] = f"{clauses[-1]}, {clause}"
        else:
            clauses.append(clause)
    return clauses


def _is_pair(noun_phrase: str) -> bool:
    """Whether "my <noun_phrase> and I" is two people ("my best friend and I"), not a clause that ends there.

    In "my name is Ana and I ..." or "my son plays chess and I ..." a personal noun or a verb comes
    before the last word, so "and I" opens a clause of its own.
    """
    *modifiers, last = noun_phrase.lower().split()
    if last in _BE or cues.is_past(last):
        return False
    return not any(
        w in cues.PERSONAL_NOUNS or w in cues.NON_VERBS or cues.is_past(w) or w.endswith("s") for w in modifiers
    )


def _is_time_only(clause: str) -> bool:
    """Whether a clause is nothing but openers and a time phrase ("Oh, yesterday")."""
    text, _, time = _strip_openers(clause + " ")
    return not text and time is not None


def _strip_openers(text: str) -> tuple[str, bool, str | None]:
    """Remove greetings, hedges and a leading time phrase; report the hedge and the time phrase."""
    hedged, time = False, None
    while True:
        before = text
        text = cues.LEADING_FILLER.sub("", text, count=1)
        if match := cues.LEADING_HEDGE.match(text):
            hedged, text = True, text[match.end() :]
        if time is None and (match := cues.LEADING_TIME.match(text)):
            time, text = match["time"], text[match.end() :]
        text = re.sub(r"^(?:now|then|still|also)\s+(?=i\b|i'|my\b)", "", text, flags=re.I)
        if text == before:
            return text, hedged, time


def _strip_tail(text: str) -> tuple[str, bool]:
    """Remove trailing punctuation and filler words; report a trailing hedge ("..., I think")."""
    hedged = False
    while True:
        before = text
        text = text.rstrip(' .!?,;:~\u2026-\u2013\u2014"*')
        text = cues.TRAILING_FILLER.sub("", text)
        if match := cues.TRAILING_HEDGE.search(text):
            hedged, text = True, text[: match.start()]
        if text == before:
            return text.strip("\"' "), hedged


# --- first person to third person -------------------------------------------------------------------

_SUBJECT = re.compile(
    r"^(?:(?P<am>i\s+am|i'm|im)|(?P<have>i\s+have|i've)|(?P<will>i\s+will|i'll)|i)\s+(?P<rest>.+)$", re.I
)
_PRONOUNS = re.compile(r"\b(?:i'm|i am|i've|i'll|i was|i|my|me|myself|mine)\b", re.I)
_PRONOUN_MAP = {
    "i'm": "they are",
    "i am": "they are",
    "i've": "they have",
    "i'll": "they will",
    "i was": "they were",
    "i": "they",
    "my": "their",
    "me": "them",
    "myself": "themselves",
    "mine": "theirs",
}
_WE = re.compile(r"\b(?:we|our|us|ours)\b", re.I)
_WE_MAP = {"we": "they", "our": "their", "us": "them", "ours": "theirs"}
_WORD = re.compile(r"[a-z]+(?:['-][a-z]+)*")
_NAME = re.compile(r"[A-Z][a-z]+(?:-[A-Z][a-z]+)?")
_BE = frozenset({"is", "are", "was", "were"})


def _third_person_pronouns(words: Sequence[str]) -> str:
    """Rewrite leftover first-person pronouns ("my", "me", "I") in the rest of a clause."""
    return _PRONOUNS.sub(lambda m: _PRONOUN_MAP[" ".join(m[0].lower().split())], " ".join(words))


def _is_progressive(words: Sequence[str]) -> bool:
    """Whether a predicate is an '-ing' activity ("learning Rust"), not a state ("living in Oslo")."""
    lows = [w.lower() for w in words if w.lower() not in cues.INTENSIFIERS and not cues.is_adverb(w)]
    if not lows or not lows[0].endswith("ing") or len(lows[0]) < 5 or lows[0] in cues.ING_NOT_VERBS:
        return False
    if lows[0] in cues.STATIVE_ING:
        return False
    return not (lows[0] == "working" and len(lows) > 1 and lows[1] in {"as", "at", "for"})


def _be_predicate(tail: list[str]) -> _Reading | None:
    """Read "I am <tail>"; None when the predicate is mood, chit-chat or too bare to mean anything."""
    if tail[0].lower() in {"it", "that", "this", "those", "these"}:
        return None
    known = cues.SINGLE_WORD_OK | cues.CHITCHAT_STATES | cues.INTENSIFIERS
    if 1 <= len(tail) <= 2 and all(_NAME.fullmatch(w) and w.lower() not in known for w in tail):
        return _Reading(content=f"User's name is {' '.join(tail)}")  # "I'm Ana"
    text = " ".join(tail).lower()
    for pattern, _ in cues.DYNAMIC_CUES:
        text = pattern.sub(" ", text)
    text = re.sub(r"\ba (?:bit|little)\b", " ", text)
    core = [w for w in text.split() if w not in cues.INTENSIFIERS]
    if not core:
        return None
    if core[0] in cues.CHITCHAT_STATES and not (len(core) > 1 and core[1] == "at"):  # "good at chess" stays
        return None
    if len(core) == 1 and not (re.fullmatch(r"\d{1,3}", core[0]) or core[0] in cues.SINGLE_WORD_OK):
        return None
    whereabouts = core[0] in cues.WHEREABOUTS or (core[0] == "in" and any(_NAME.fullmatch(w) for w in tail[1:3]))
    return _Reading(
        content="User is " + _third_person_pronouns(tail),
        progressive=_is_progressive(tail),
        transient=core[0] in cues.TRANSIENT_STATES or whereabouts,
    )


def _verb_clause(words: list[str]) -> _Reading | None:
    """Read "I <adverbs> <verb> <tail>" and make the verb agree with "User"."""
    lead: list[str] = []
    while len(words) > 1 and cues.is_adverb(words[0]):
        lead.append(words.pop(0))
    verb, tail = words[0].lower(), words[1:]
    if not _WORD.fullmatch(verb) or verb in cues.NON_VERBS or verb in cues.SKIP_VERBS or not tail:
        return None
    reading = _Reading(content="", past=cues.is_past_tense(verb))
    if verb == "am":
        be = _be_predicate(tail)
        return _with_lead(be, lead) if be and lead and be.content.startswith("User is") else be
    negation = verb in {"don't", "dont", "didn't", "can't", "cannot", "won't", "haven't"}
    if verb in {"do", "have"} and tail[0].lower() == "not":
        negation, verb, tail = True, f"{verb} not", tail[1:]
    if verb == "have" and tail and tail[0].lower() == "got":
        tail = tail[1:]
    if verb == "want":
        if len(tail) < 2 or tail[0].lower() != "to" or tail[1].lower() not in cues.GOAL_VERBS:
            return None
        head = "wants"
    elif verb in {"will", "won't"}:
        head, reading.needs_cue = verb, verb == "will"
    elif verb in {"might", "may"}:
        head, reading.hedged = verb, True
    elif verb in cues.INVARIANT_VERBS or cues.is_past(verb):
        head = verb
    else:
        head = {"don't": "doesn't", "dont": "doesn't", "haven't": "hasn't", "do not": "does not"}.get(verb)
        head = head or ("has not" if verb == "have not" else cues.third_person(verb))
    if not tail:
        return None
    if negation and tail[0].lower() in cues.SKIP_VERBS:
        return None
    if verb in cues.LIGHT_VERBS and all(w.lower() in cues.FREQUENCY_WORDS for w in tail):
        return None  # "I go every weekend": the object was in an earlier clause
    object_at = 1 if negation and verb not in {"haven't", "have not"} and len(tail) > 1 else 0
    if tail[object_at].lower() in cues.DEICTIC:
        return None
    reading.content = " ".join(["User", *lead, head]) + " " + _third_person_pronouns(tail)
    return reading


def _with_lead(reading: _Reading, lead: list[str]) -> _Reading:
    """Put adverbs that came before "am" back after "is"."""
    reading.content = reading.content.replace("User is", "User is " + " ".join(lead), 1)
    return reading


def _my_clause(words: list[str]) -> _Reading | None:
    """Read "my <person or thing> <verb> ..." as a fact about the user's world."""
    if words and words[-1] == _PAIR_MARK:
        return None
    for k in range(min(4, len(words) - 1)):
        head = words[k].lower()
        bare = head.removesuffix("'s")
        if words[k + 1] == _PAIR_MARK:
            tail = words[k + 2 :]
            if not tail:
                return None
            rest = _WE.sub(lambda m: _WE_MAP[m[0].lower()], _third_person_pronouns(tail))
            content = f"User and their {' '.join(words[: k + 1])} {rest}"
            progressive = tail[0].lower() in {"are", "were"} and _is_progressive(tail[1:])
            return _Reading(content=content, progressive=progressive, past=cues.is_past_tense(tail[0]))
        if bare in {"favorite", "favourite"}:
            for j in range(k + 1, min(k + 4, len(words) - 1)):
                if words[j].lower() in _BE:
                    return _Reading(content=f"User's {' '.join(words[:j])} " + _third_person_pronouns(words[j:]))
            return None
        if bare not in cues.PERSONAL_NOUNS:
            if head in _BE or head in cues.NON_VERBS or cues.is_past(head) or head.endswith("s"):
                return None  # a verb before any personal noun: "my code broke my home page"
            continue
        noun_phrase, tail = words[: k + 1], words[k + 1 :]
        if head.endswith("'s"):
            noun_phrase[-1] = noun_phrase[-1][:-2]
            if any(w.lower() in _BE for w in tail):  # "my dog's name is Max"
                cut = next(i for i, w in enumerate(tail) if w.lower() in _BE)
                noun_phrase, tail = [*words[:k], words[k], *tail[:cut]], tail[cut:]
            else:  # "my husband's a doctor"
                tail = ["is", *tail]
        if not tail or tail[0].lower() in cues.NON_VERBS - _BE or not _WORD.fullmatch(tail[0].lower()):
            return None
        if len(tail) == 1 and not cues.is_past(tail[0]):
            return None
        if len(tail) > 1 and tail[1].lower() in cues.DEICTIC - {"one"}:
            return None
        progressive = tail[0].lower() in _BE and bare not in cues.NOT_PROGRESSIVE_HEADS and _is_progressive(tail[1:])
        content = f"User's {' '.join(noun_phrase)} {_third_person_pronouns(tail)}"
        return _Reading(content, progressive, past=cues.is_past_tense(tail[0]))
    return None


def _convert(text: str) -> _Reading | None:
    """Rewrite a first-person clause in the third person, or None when it is not one."""
    if match := _SUBJECT.match(text):
        words = match["rest"].split()
        if match["am"]:
            words.insert(0, "am")
        elif match["have"]:
            words.insert(0, "have")
        elif match["will"]:
            words.insert(0, "will")
        return _verb_clause(words)
    if re.match(r"^my\s", text, re.I):
        return _my_clause(text.split()[1:])
    return None


# --- kind, topic, confidence ------------------------------------------------------------------------

_MOVED = re.compile(
    r"^User (?:(?:just|recently|finally|officially) )?(?:moved|relocated) (?:back )?to "
    r"(?P<place>(?!(?:a|an|their|some|another)\b|(?-i:the [a-z]))[\w.'-]+(?: [\w.'-]+){0,2}?)"
    r"(?: (?:last \w+|this \w+|recently|in \d{4}|a (?:few|couple of) \w+ ago|\w+ (?:weeks|months|years) ago))?$",
    re.I,
)
_JUST = re.compile(r"^User (?:has )?just\b")


def _expand_subject(low: str) -> str:
    """Spell out a contracted subject ("i'm" -> "i am") so one filler pattern covers both forms."""
    for short, full in (("i'm", "i am"), ("im", "i am"), ("i've", "i have"), ("i'll", "i will")):
        if low.startswith(short + " "):
            return full + low[len(short) :]
    return low


def _clause_fact(clause: str, sent: datetime) -> CandidateFact | None:
    """The fact one clause states, its relative dates resolved against the day it was `sent`, or None."""
    text, hedged, time = _strip_openers(clause)
    text, tail_hedge = _strip_tail(text)
    low = text.lower()
    if not text or cues.SPECULATIVE_OPENERS.match(low) or cues.SKIP_CLAUSE.search(low):
        return None
    if cues.FILLER_CLAUSE.match(_expand_subject(low)):
        return None
    reading = _convert(text)
    if reading is None:
        return None
    content = re.sub(r"^(User(?: is| has| was)?) also ", r"\1 ", " ".join(reading.content.split()))
    if re.search(r"\b(?:it|that|this|them|there|here)$", content) and len(content.split()) <= 5:
        return None
    if time and time.lower() not in content.lower():
        content = f"{content} {time.lower()}"
    if match := _MOVED.match(content):
        content = f"User lives in {match['place']}"
    cue, ttl = cues.time_cues(content)
    if reading.needs_cue and not cue:
        return None
    dynamic = cue or reading.progressive or reading.transient or bool(_JUST.match(content))
    if dynamic and (end := dates.span_end(content, sent.date(), reading.past)):
        ttl = _until_the_end_of(end, sent) or ttl
    topic = cues.topic_of(content)
    if hedged or tail_hedge or reading.hedged or cues.HEDGE_WORDS.search(content):
        confidence = 0.65
    else:
        confidence = 0.9 if topic in cues.IDENTITY_TOPICS else 0.8
    return CandidateFact(
        content=dates.resolve(content, sent.date(), reading.past),  # after the cues, which read the phrase's words
        kind="dynamic" if dynamic else "static",
        ttl_seconds=ttl if dynamic else None,
        topic=topic,
        confidence=confidence,
    )


def _until_the_end_of(day: date, sent: datetime) -> int | None:
    """Seconds from `sent` to the end of `day` on the sender's clock: "this weekend" lasts until Sunday ends (None
    on the last day a date can name)."""
    try:
        return max(1, int((datetime.combine(day + timedelta(1), time(), sent.tzinfo) - sent).total_seconds()))
    except OverflowError:
        return None


def _read_facts(text: str, sent: datetime) -> list[CandidateFact]:
    """Every fact stated in one message's text, dated from when it was `sent`, in order (duplicates included, no
    index yet)."""
    drafts: list[CandidateFact] = []
    for sentence, is_question in _sentences(_clean(text)):
        if cues.HYPOTHETICAL_SENTENCE.match(_strip_openers(sentence)[0]):
            continue
        clauses = _clauses(sentence)
        for position, clause in enumerate(clauses):
            if is_question and position == len(clauses) - 1:
                continue
            if draft := _clause_fact(clause, sent):
                drafts.append(draft)
    return drafts


def _names_any(draft: CandidateFact, values: Sequence[str]) -> bool:
    """Whether a clause's fact repeats an identifier the identity reading already took ("User is @ana on x")."""
    content = draft.content.casefold()
    return any(value.lstrip("+") in content for value in values)


class RulesExtractor:
    """Reads first-person statements with hand-written rules: no model, no network, precise over complete."""

    name = "rules"
    cpu_bound = True
    Options = RulesOptions

    def __init__(self, **options: Any) -> None:
        self.options = RulesOptions.model_validate(options)

    async def extract(self, messages: Sequence[Message], context: ExtractionContext) -> list[CandidateFact]:
        """Return the facts the messages of the configured roles state about their author, identifiers included."""
        roles = set(self.options.roles)
        facts: dict[str, CandidateFact] = {}
        for index, message in enumerate(messages):
            if message.role not in roles:
                continue
            found = list(identities.stated(message.content))
            values = [f.identity.value.casefold() for f in found if f.identity]
            drafts = [d for d in _read_facts(message.content, message.created_at) if not _names_any(d, values)]
            for draft in [*found, *drafts]:
                key = " ".join(draft.content.casefold().split())
                if key in facts:
                    if index not in facts[key].message_indexes:
                        facts[key].message_indexes.append(index)
                    continue
                facts[key] = draft.model_copy(update={"message_indexes": [index]})
        return list(facts.values())
