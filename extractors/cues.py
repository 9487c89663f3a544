"""Word lists and cue tables for the offline `rules` extractor.

They live apart from the parser so the vocabulary can grow without touching the grammar code, and so
a reader sees in one place what counts as temporary, as chit-chat, as a job or as a slot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

DAY: Final = 86_400


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _alternation(words: Iterable[str]) -> str:
    """A regex alternation of `words`, longest first."""
    return "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))


# A match makes a fact dynamic; the ttl is how long the cue stays true (None: the configured default), unless the
# fact names a span of the calendar that is not over ("this weekend", "until Friday"): it then lasts until that
# span's last day ends (`dates.span_end`), so these fixed lifetimes count only for what is past or vague.
_CUE_TABLE: Final[tuple[tuple[str, int | None], ...]] = (
    (r"today|tonight|this (?:morning|afternoon|evening)|later today", 1 * DAY),
    (r"tomorrow|yesterday|last night", 2 * DAY),
    (r"this weekend", 3 * DAY),
    (r"this week|in a few days|over the next few days", 7 * DAY),
    (r"next weekend", 10 * DAY),
    (r"next week|last week|last weekend|in two weeks", 14 * DAY),
    (r"this month|in a few weeks|for a few weeks|last month", 31 * DAY),
    (r"next month", 62 * DAY),
    (r"this (?:spring|summer|fall|autumn|winter|semester|term|quarter)", 120 * DAY),
    (r"this year", 365 * DAY),
    (r"next year", 730 * DAY),
    (
        r"currently|right now|at the moment|lately|recently|these days|for now|for the time being"
        r"|temporarily|soon|later|planning to|plans? to|about to|(?:is|are) (?:\w+ )?going to"
        r"|(?:has|have) (?:a|an|their) (?:\w+ )?(?:meeting|appointment|interview|exam|deadline|flight|date)"
        r"|on (?:a )?(?:trip|vacation|holiday|leave|sabbatical|break)",
        None,
    ),
)
DYNAMIC_CUES: Final = tuple((re.compile(rf"\b(?:{p})\b", re.IGNORECASE), ttl) for p, ttl in _CUE_TABLE)
# Passing conditions of health, and about how long they last: "User has a cold" is not true next year. Apart from the
# time cues above, which are stripped from "I'm <state>" before judging it: "I'm pregnant" must stay a fact.
_ILL = r"(?:has|have|had|got|caught|is down with|is getting|has been fighting|is fighting)"
_CONDITION_TABLE: Final[tuple[tuple[str, int], ...]] = (
    (rf"{_ILL} (?:a |an )(?:bad |terrible |nasty |slight |mild |little |splitting )?(?:headache|migraine)", 2 * DAY),
    (
        rf"{_ILL} (?:a |an )(?:bad |terrible |nasty |slight |mild |little |heavy |head )?"
        r"(?:cold|cough|sore throat|fever|stomach bug|ear infection|sinus infection)"
        r"|(?:is|are|was|were|been|feeling|feels|got|getting) (?:\w+ )?(?:sick|ill|unwell)(?! of)",
        7 * DAY,
    ),
    (rf"{_ILL} (?:the |a )?(?:bad |terrible |nasty |mild )?(?:flu|covid|covid-19|bronchitis|strep throat)", 14 * DAY),
    (r"pregnant|expecting a baby", 280 * DAY),
)
CONDITION_CUES: Final = tuple((re.compile(rf"\b(?:{p})\b", re.IGNORECASE), ttl) for p, ttl in _CONDITION_TABLE)

# Relative dates that `extractors.dates` resolves against the message's day: phrase -> days after it.
DAY_OFFSETS: Final[dict[str, int]] = {
    "the day before yesterday": -2,
    "yesterday": -1,
    "yesterday morning": -1,
    "yesterday afternoon": -1,
    "yesterday evening": -1,
    "last night": -1,
    "today": 0,
    "tonight": 0,
    "this morning": 0,
    "this afternoon": 0,
    "this evening": 0,
    "earlier today": 0,
    "later today": 0,
    "tomorrow": 1,
    "tomorrow morning": 1,
    "tomorrow afternoon": 1,
    "tomorrow evening": 1,
    "tomorrow night": 1,
    "the day after tomorrow": 2,
}
# "last Monday", "next week", "two days ago": the words, shifts and counts of the other relative dates.
WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SHIFTS: Final[dict[str, int]] = {"last": -1, "this": 0, "next": 1}
_NUMBERS = "one two three four five six seven eight nine ten eleven twelve"
COUNTS: Final[dict[str, int]] = {"a": 1, "an": 1} | {word: n for n, word in enumerate(_NUMBERS.split(), 1)}
# A bare weekday counts as a date after one of these ("until Friday"), not alone ("Friday night drinks").
_PREPOSITIONS: Final = ("since", "until", "till", "by", "before", "after", "from")
_AFTER_PREPOSITION: Final = "|".join(rf"(?<={p} )" for p in _PREPOSITIONS)
_DATE_CORE: Final = (
    rf"(?P<day>{_alternation(DAY_OFFSETS)})"
    rf"|(?:(?P<which>last|this|next|on) |{_AFTER_PREPOSITION})(?P<weekday>{'|'.join(WEEKDAYS)})"
    rf"|(?<!\bor )(?<!\bto )(?<!-)(?P<count>{_alternation(COUNTS)}|\d{{1,3}})"
    r" (?P<unit>day|week|month|year)s? ago"
    r"|(?P<shift>last|this|next) (?P<span>week|weekend|month|year)"
)
# A relative date anywhere in a fact, with the preposition that governs it ("since yesterday").
DATE_PHRASE: Final = re.compile(
    rf"(?<![\w-])(?:(?P<prep>{'|'.join(_PREPOSITIONS)}) )?(?:{_DATE_CORE})\b", re.IGNORECASE
)

# Seasons and quarters a fact may last for ("this summer"): the month each ends with, a season's as late as it
# ends in the northern hemisphere (summer ends on 22 or 23 September).
SEASON_PHRASE: Final = re.compile(r"\bthis (?P<season>spring|summer|fall|autumn|winter|quarter)\b", re.IGNORECASE)
SEASON_LAST_MONTH: Final[dict[str, int]] = {"spring": 6, "summer": 9, "fall": 12, "autumn": 12, "winter": 3}

# Time phrases that may open a clause ("Next week I'm flying to Tokyo"); moved to its end.
LEADING_TIME = re.compile(
    r"^(?P<time>currently|right now|at the moment|these days|lately|recently|for now"
    rf"|this (?:summer|winter|spring|fall|semester)|{_DATE_CORE})\s*,?\s+",
    re.IGNORECASE,
)


def time_cues(text: str) -> tuple[bool, int | None]:
    """Whether `text` names a recent or temporary time or state, and the longest lifetime its cues imply."""
    found = False
    ttls: list[int] = []
    for pattern, ttl in (*DYNAMIC_CUES, *CONDITION_CUES):
        if pattern.search(text):
            found = True
            if ttl is not None:
                ttls.append(ttl)
    return found, max(ttls) if ttls else None


# Openers that carry no content: greetings, discourse markers, "remember that ...".
LEADING_FILLER = re.compile(
    r"^(?:hi|hello|hey|hiya|yo|oh|ah|ok|okay|so|well|yeah|yes|yep|no|nope|um+|uh+|hmm+|lol|haha+|also"
    r"|and|but|plus|btw|by the way|fyi|fun fact|actually|honestly|anyway|anyways|just so you know"
    r"|for the record|for context|(?:please )?(?:remember|note|keep in mind)(?: that)?"
    r"|good (?:morning|afternoon|evening)|hi there|hey there|thanks|thank you)\b\s*[,:!.-]*\s*",
    re.IGNORECASE,
)
# Hedges in front of a clause: stripped, but they lower the confidence.
LEADING_HEDGE = re.compile(
    r"^(?:i think|i guess|i believe|i suppose|i reckon|i'm pretty sure|i am pretty sure"
    r"|i'm fairly sure|apparently)(?: that)?\s*,?\s+",
    re.IGNORECASE,
)
# Case-sensitive on purpose: "in May" is a month, not a hedge.
HEDGE_WORDS: Final = re.compile(r"\b(?:might|may|probably|maybe|perhaps|kind of|sort of|kinda)\b")
TRAILING_HEDGE: Final = re.compile(r"[\s,]+(?:i think|i guess|i believe|maybe|probably|i'm not sure)$", re.I)
# Clauses opening with these are speculation, not statements: skipped whole.
SPECULATIVE_OPENERS: Final = re.compile(r"^(?:maybe|perhaps|probably|possibly)\b", re.IGNORECASE)

TRAILING_FILLER = re.compile(
    r"(?:[\s,]+(?:lol|lmao|haha+|hehe|btw|tbh|fwiw|though|honestly|actually|anyway|anyways|too|as well"
    r"|also|thanks|thank you|ty|you know|right|ok|okay|xd|fyi))+$",
    re.IGNORECASE,
)

# A sentence opening with one of these is a condition or a hypothetical: nothing in it is a fact.
HYPOTHETICAL_SENTENCE = re.compile(
    r"^(?:if|when|whenever|unless|suppose|supposing|imagine|what if|let's say|hypothetically)\b", re.I
)
# Anywhere in a clause, these mark hypotheticals, requests or talk about the conversation itself.
SKIP_CLAUSE = re.compile(
    r"\b(?:you|your|yours|u(?!\.)|ya|please|pls|plz|if|wish|would|could|should|imagine|hypothetically"
    r"|pretend|help me|tell me|let me|remind me|i'd|jk|j/k|kidding|joking|sarcasm)\b"
    r"|[\"\u201c\u201d]",  # quoted speech is someone's words, not a statement
    re.IGNORECASE,
)
# Whole clauses that are conversation, not facts ("I don't know", "I have a question").
FILLER_CLAUSE = re.compile(
    r"^i (?:"
    r"(?:do not|don't|dont|didn't|did not) (?:know|think|care|mind|get|understand|remember|see|want|need"
    r"|have (?:a clue|any idea))"
    r"|(?:am|was) (?:just |really |so )?(?:not sure|unsure|wondering|thinking|curious|asking|kidding"
    r"|joking|saying|checking|trying to (?:understand|figure|find|decide|get))"
    r"|(?:am|was) like|am afraid (?:that|i|so|not)"
    r"|(?:am|was) (?:just )?looking for (?!(?:a )?(?:new )?(?:job|apartment|flat|house|place|roommate)\b)"
    r"|(?:just )?(?:wanted|want|need|needed|would like) (?:to )?(?:ask|know|say|check|confirm|clarify"
    r"|tell|make sure|thank|share|see|try)"
    r"|(?:have|had) (?:got )?(?:a|an|one|another|some|two|a few|no|one more|a quick|a small) ?"
    r"(?:quick |small |follow-up |few |more )?(?:questions?|idea|clue|problem|issue|request|doubts?"
    r"|suggestion|favou?r|bug|error)"
    r"|have to go|(?:can't|cannot|can not) (?:wait|believe|find|figure|get|seem|remember|decide|stop|tell"
    r"|see|thank)"
    r"|will (?:try|think|check|let|look|get back|keep|do|see|go with|take)"
    r")\b",
    re.IGNORECASE,
)

# Adverbs that may sit between "I" and its verb; kept in the text, skipped when finding the verb.
ADVERBS: Final = _words(
    "also really usually always never still just recently currently actually mostly often sometimes"
    " absolutely totally kinda definitely seriously genuinely generally normally typically rarely only"
    " even barely hardly finally already truly deeply literally basically occasionally regularly"
    " now personally mainly honestly certainly sort kind of"
)
LY_VERBS: Final = _words("apply fly rely reply supply comply multiply rally tally bully")

# After "I", these start no fact: conversation about the conversation, wishes, requests.
SKIP_VERBS: Final = _words(
    "need needed hope wish wonder wondered think thought guess believe suppose mean meant see saw know"
    " agree understand appreciate apologize forgot forget bet promise swear doubt admit recommend suggest"
    " say said ask asked tell told would could should must shall wanted wanna ain't"
    " couldn't wouldn't shouldn't mustn't feel felt"
)
# "I want to <goal>" is a fact about the user; "I want a recipe" is a request.
GOAL_VERBS: Final = _words("learn become move visit travel retire study live quit lose switch start run get buy write")
# Verb forms left unchanged in the third person.
INVARIANT_VERBS: Final = _words("can can't cannot might may didn't was wasn't had hadn't did used won't will")
IRREGULAR_PAST: Final = _words(
    "went grew got made met bought left took became began came found knew lost quit ran sold spent"
    " broke fell gave heard kept led paid said sent taught told understood won wrote drove flew ate"
    " drank swam sang slept stood sat brought caught fought built chose forgot froze hid held rode"
    " shook stole threw woke wore born"
)
ED_NOT_PAST: Final = _words("need feed bleed breed speed succeed proceed exceed embed shed shred wed")
# Past forms of auxiliaries, which lead a past-tense clause ("I was at the dentist on Friday").
PAST_AUXILIARIES: Final = _words("was were wasn't weren't had hadn't did didn't")
# Words that cannot be the only object of a verb in a self-contained fact ("I love it").
DEICTIC: Final = _words("it this that these those them so too one")

# Progressive forms that describe a stable state, not a passing activity.
STATIVE_ING: Final = _words("living residing based")
ING_NOT_VERBS: Final = _words(
    "boring amazing interesting outgoing caring loving willing easygoing charming annoying exciting"
    " thing something nothing everything anything king spring morning evening during string ring sibling"
    " wedding pudding ceiling darling hard-working"
)

# Words that soften "I'm X" into mood or conversation.
CHITCHAT_STATES: Final = _words(
    "sorry glad fine good ok okay great alright sure here back done ready lost confused curious happy"
    " grateful thankful kidding joking serious wondering thinking listening"
)
# Passing states: "I'm exhausted" is true today, not next month.
TRANSIENT_STATES: Final = _words(
    "tired exhausted sick ill stressed busy hungry sleepy bored anxious nervous worried sad upset"
    " frustrated overwhelmed hungover jet-lagged jetlagged injured swamped starving cold excited"
)
# Predicates of place that describe where the user is now, not where they live ("I'm at work").
WHEREABOUTS: Final = _words("at on out outside home away off")
# Heads of "my X is <-ing>" where the -ing word is a noun ("my hobby is hiking"), not an activity.
NOT_PROGRESSIVE_HEADS: Final = _words("hobby hobbies goal dream job name diet major field specialty role title")
# Words that do not count as content when judging a bare "I'm X".
INTENSIFIERS: Final = _words(
    "not so very really pretty super quite kinda extremely totally currently still also now just always"
    " usually actually definitely finally officially fully completely"
)

DIET_WORDS: Final = _words(
    "vegetarian vegan pescatarian pescetarian keto paleo gluten-free lactose-free dairy-free kosher halal"
    " flexitarian carnivore"
)
RELATIONSHIP_WORDS: Final = _words("married single engaged divorced widowed separated")
PARTNER_NOUNS: Final = _words("girlfriend boyfriend partner wife husband fiance fiancé fiancee fiancée spouse")
OCCUPATION_STATES: Final = _words("retired unemployed self-employed jobless")
DEMONYMS: Final = _words(
    "american british english scottish welsh irish canadian australian mexican brazilian argentinian"
    " chilean colombian peruvian spanish portuguese french german dutch belgian swiss austrian italian"
    " greek polish czech slovak hungarian romanian bulgarian ukrainian russian swedish norwegian danish"
    " finnish icelandic turkish israeli egyptian moroccan nigerian kenyan ethiopian ghanaian indian"
    " pakistani bangladeshi chinese japanese korean vietnamese thai filipino indonesian malaysian"
    " singaporean iranian iraqi lebanese syrian saudi emirati cuban venezuelan serbian croatian latino latina"
    " hispanic asian african european scandinavian"
)
RELIGIONS: Final = _words("christian catholic protestant jewish muslim hindu buddhist atheist agnostic mormon sikh")
# One-word predicates that make a fact on their own ("I'm pregnant").
SINGLE_WORD_OK: Final = (
    _words(
        "pregnant left-handed right-handed ambidextrous diabetic colorblind deaf blind introverted"
        " extroverted introvert extrovert lactose-intolerant asthmatic epileptic bilingual trilingual"
        " gay straight bisexual lesbian queer nonbinary non-binary transgender trans vaccinated sober"
        " autistic dyslexic"
    )
    | DIET_WORDS
    | RELATIONSHIP_WORDS
    | OCCUPATION_STATES
    | DEMONYMS
    | RELIGIONS
    | TRANSIENT_STATES
)

JOB_NOUNS: Final = _words(
    "nurse doctor physician surgeon dentist pharmacist therapist psychologist teacher professor lecturer"
    " tutor engineer developer programmer scientist researcher analyst designer architect manager"
    " director consultant accountant lawyer attorney paralegal journalist writer author editor"
    " translator artist musician photographer chef cook baker barista waiter waitress bartender"
    " electrician plumber carpenter mechanic pilot driver firefighter officer soldier farmer student"
    " intern freelancer contractor entrepreneur founder cto ceo vp librarian veterinarian vet"
    " paramedic cashier clerk salesperson recruiter marketer administrator admin sysadmin"
    " technician scientist economist banker trader broker investor realtor secretary assistant"
    " caregiver nanny coach trainer instructor principal counselor counsellor pastor priest"
    " rabbi imam actor actress dancer singer composer producer animator illustrator"
    " pharmacologist biologist chemist physicist mathematician statistician pm"
)
PET_NOUNS: Final = _words(
    "dog dogs cat cats puppy puppies kitten kittens hamster hamsters rabbit rabbits bunny bunnies"
    " parrot parrots bird birds fish goldfish turtle turtles tortoise snake snakes lizard gecko"
    " guinea pig pigs ferret ferrets horse horses chickens pet pets"
)
# Head nouns allowed after "my" as a clause subject ("my daughter is 4"); "my code" is not about the user.
PERSONAL_NOUNS: Final = _words(
    "name age birthday wife husband partner spouse girlfriend boyfriend fiance fiancé fiancee fiancée"
    " daughter daughters son sons kid kids child children baby babies mom mum mother dad father parents"
    " brother brothers sister sisters sibling siblings twin grandma grandmother grandpa grandfather"
    " grandparents aunt uncle cousin cousins niece nephew family dog dogs cat cats pet pets puppy"
    " kitten job boss manager employer company team coworker coworkers colleague colleagues roommate"
    " roommates friend friends neighbor neighbors neighbour neighbours hometown home house apartment"
    " flat car commute office salary major degree thesis goal dream hobby hobbies language diet"
    " doctor therapist anniversary wedding religion background field specialty role title startup"
    " business school university college height weight sign parrot hamster rabbit"
)
# "my X is ..." where X names a single-valued slot.
SLOT_NOUNS: Final[dict[str, str]] = {
    "name": "name",
    "age": "age",
    "birthday": "birthday",
    "hometown": "hometown",
    "native language": "native_language",
    "first language": "native_language",
    "mother tongue": "native_language",
    "job": "occupation",
    "occupation": "occupation",
    "profession": "occupation",
    "employer": "employer",
    "diet": "diet",
    "religion": "religion",
}
# Words that open an object of "lives in" that is no place ("different countries", "the same city").
NOT_PLACES: Final = _words(
    "a an different separate same two three both other another various several many multiple their his"
    " her our its this that these those some each every no"
)
# Topics that name who the user is; statements of them get the highest confidence.
IDENTITY_TOPICS: Final = _words(
    "name age location origin occupation employer nationality relationship_status diet native_language"
    " birthday hometown"
)
# Verbs that mean little without their object ("I go every weekend" after "I love hiking and").
LIGHT_VERBS: Final = _words("go goes do have get make take like love hate enjoy prefer want went did")
FREQUENCY_WORDS: Final = _words(
    "every each day days week weeks weekend weekends month year morning mornings night nights evening"
    " evenings often sometimes a lot all the time twice once daily weekly monthly always usually"
    " regularly there here now then again"
)
# Words that cannot be the verb after "I" ("I and my wife ...").
NON_VERBS: Final = _words("and or but the a an to in on at for with of from too as if so me myself i is are were")
NUMBER_WORDS: Final = _words("a an one two three four five six seven eight nine ten no some several many")


# A job named by its noun, with up to three words before it: "senior software engineer", "head chef".
_JOB: Final = rf"(?:[\w-]+ ){{0,3}}?(?:{_alternation(JOB_NOUNS)})s?\b(?!')"

# (pattern, topic) over a fact's content; the first match names the slot it fills.
TOPICS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.I), topic)
    for pattern, topic in (
        (r"^User's name is\b|^User goes by\b|^User is called\b", "name"),
        (
            r"^User (?:and their [\w -]+? (?:\w+ )?(?:live|are living|are based|reside)|(?:\w+ )?(?:lives|is living|is "
            r"based|resides)) in "
            rf"(?!(?:{_alternation(NOT_PLACES)})\b|(?-i:the [a-z]))",
            "location",
        ),
        (r"^User is (?:originally )?from\b", "origin"),
        (r"^User (?:is |has been )?(?:\w+ )?(?:works|working) as\b", "occupation"),
        (r"^User (?:is |has been )?(?:\w+ )?(?:works|working) (?:at|for) (?!home\b)", "employer"),
        (rf"^User is (?:not )?(?:(?:a|an) )?(?:strict )?(?:{_alternation(DIET_WORDS)})\b", "diet"),
        (
            rf"^User is (?:not )?(?:{_alternation(RELATIONSHIP_WORDS)}|in a relationship)\b"
            rf"|^User has (?:a|an) (?:{_alternation(PARTNER_NOUNS)})\b",
            "relationship_status",
        ),
        (rf"^User is (?:(?:a|an) )?(?:{_alternation(OCCUPATION_STATES)})\b", "occupation"),
        (rf"^User is (?:just |now |currently |still )?(?:a|an|the) {_JOB}", "occupation"),
        (
            rf"^User (?:\w+ )?(?:(?:started|began|got|took|landed|accepted) (?:a |an |the )?(?:new )?"
            rf"(?:job|position|role|work|working) as|(?:was |got |has been )?hired as|became) (?:a|an|the) {_JOB}"
            rf"|^User (?:\w+ )?(?:was|got|has been) promoted to (?:(?:a|an|the) )?{_JOB}"
            rf"|^User (?:[\w&.' -]+ and )?(?:just |recently |then )?joined [\w&.' -]+? as (?:a|an|the) {_JOB}"
            r"|^User (?:\w+ )?(?:switched|changed) careers? (?:to|and became)\b",
            "occupation",
        ),
        (
            r"^User is \d{1,3}(?: years old| years of age)?$|^User turned \d{1,3}\b|^User was born in \d{4}\b"
            r"|^User is in their (?:early |mid |late |mid-)?(?:\d0s|twenties|thirties|forties|fifties|sixties)$",
            "age",
        ),
        (rf"^User is (?:(?:a|an) )?(?:{_alternation(DEMONYMS)})$", "nationality"),
        (rf"^User is (?:(?:a|an) )?(?:{_alternation(RELIGIONS)})$", "religion"),
        (
            rf"^User (?:has|owns) (?:(?:{_alternation(NUMBER_WORDS)}|\d+) )(?:[\w-]+ ){{0,2}}?"
            rf"(?:{_alternation(PET_NOUNS)})\b(?! allerg)"
            rf"|^User (?:doesn't|does not) have (?:any )?(?:{_alternation(PET_NOUNS)})\b",
            "pet",
        ),
        (
            rf"^User has (?:(?:{_alternation(NUMBER_WORDS)}|\d+) )(?:[\w-]+ )?(?:kids|children)\b"
            r"|^User (?:doesn't|does not) have (?:any )?(?:kids|children)\b|^User has no (?:kids|children)\b",
            "children",
        ),
    )
)


def topic_of(content: str) -> str | None:
    """The slot a fact fills, when its shape makes that clear."""
    if match := re.match(r"^User's favou?rite ([\w -]+?) (?:is|are|was|were)\b", content, re.I):
        return "favorite_" + re.sub(r"[\s-]+", "_", match[1].lower())
    if match := re.match(r"^User's ([\w ]+?) (?:is|are|was)\b", content):
        return SLOT_NOUNS.get(match[1].lower())
    topic = next((topic for pattern, topic in TOPICS if pattern.search(content)), None)
    if topic == "pet":  # two cats and a new dog are different slots: only a new count of cats replaces the cats
        noun = re.search(rf"\b({_alternation(PET_NOUNS)})\b", content, re.I)
        if noun:
            topic = "pet_" + re.sub(r"ies$", "y", re.sub(r"(?<!s)s$", "", noun[1].lower()))
    return topic


def third_person(verb: str) -> str:
    """The third-person singular present of a regular (or common irregular) verb."""
    low = verb.lower()
    if low in {"have", "do", "go", "be"}:
        return {"have": "has", "do": "does", "go": "goes", "be": "is"}[low]
    if re.search(r"(?:s|x|z|ch|sh|o)$", low):
        return low + "es"
    if re.search(r"[^aeiou]y$", low):
        return low[:-1] + "ies"
    return low + "s"


def is_past(verb: str) -> bool:
    """Whether a verb form is (very likely) past tense, which needs no agreement."""
    low = verb.lower()
    return low in IRREGULAR_PAST or (low.endswith("ed") and low not in ED_NOT_PAST)


def is_adverb(word: str) -> bool:
    """Whether a word between "I" and its verb is an adverb to step over."""
    low = word.lower()
    return low in ADVERBS or (low.endswith("ly") and len(low) > 4 and low not in LY_VERBS)


def is_past_tense(verb: str) -> bool:
    """Whether a clause led by `verb` speaks of the past, so that "on Friday" means the one before."""
    return is_past(verb) or verb.lower() in PAST_AUXILIARIES
