"""Long multi-session conversations with questions labelled by their evidence, for the evidence-recall benchmark.

    .venv/bin/python benchmarks/recall/generate.py --out /tmp/recall.json            # 12 users, seed 1
    .venv/bin/python benchmarks/recall/generate.py --users 2 --seed 3 --show 0       # print user 0's chat

Each user is one person talking to an assistant over ~45 sessions spread across about seven months (600+
messages, user and assistant alternating, each with `created_at` in UTC). A persona (family, job, city, pet,
hobby, health, a holiday, purchases, appointments) comes up in varied phrasing between plenty of small talk,
everyday chatter and requests for advice; some facts change (a move, a new job, a rescheduled appointment, a
hobby's progress, where the sister is moving) and some events are told relative to the day ("yesterday I
finally went to ..."). Every topic also comes back in messages that answer none of the questions (the pet
without its name, the old boss, the partner's flight, the brother's birthday, a second show recommendation),
as it does in a long real conversation.

Every message carries the keys of the facts it states. A question names the keys that answer it, and its
evidence is every message, in the roles it is asked over, that carries one of them: the labels come from the
same place as the text, so a follow-up that states the fact again ("Biscuit the beagle ate a sock") counts as
evidence too. Kinds: paraphrase (the question shares few words with its evidence), exact (a name or number),
time (needs the message's date, or a date found elsewhere), updated (the latest value is the evidence) and
assistant (what the assistant recommended; asked over user and assistant messages).

The output's `stats` give, per kind, the mean share of a question's content words (lowercased, stopwords
removed) found in its evidence, as written and as the Porter stems of SQLite FTS5 (what BM25 matches on).
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import re
import sqlite3
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

KINDS = ("paraphrase", "exact", "time", "updated", "assistant")
USER_ONLY = ("user",)
BOTH_ROLES = ("user", "assistant")


def options(text: str) -> list[str]:
    """Alternatives separated by "|"."""
    return text.split("|")


# --- persona pools -------------------------------------------------------------------------------------

FIRST_NAMES = options(
    "Maya|Daniel|Priya|Tom|Aisha|Marco|Hannah|Kofi|Sofia|Liam|Mei|Omar|Grace|Jonas|Leila|Ethan|Nadia|"
    "Callum|Rosa|Felix|Ines|Samir|Chloe|Tariq"
)
OTHER_NAMES = options(
    "Anna|Beth|Carla|Dana|Elena|Fiona|Gemma|Helen|Isla|Jess|Kira|Lucy|Mira|Nora|Olive|Petra|Rina|Sara|"
    "Tess|Uma|Vera|Wendy|Yara|Zoe|Adam|Ben|Chris|Dev|Eli|Frank|Gus|Hugo|Ian|Jake|Kai|Leo|Matt|Nico|Oscar|"
    "Paul|Raj|Sam|Theo|Victor|Will|Yusuf|Zach|Ruth|Moira|Kenji|Farah|Bea|Rafa|Lotte|Niamh|Aoife|Dmitri|"
    "Greta|Hamid|Joy"
)
FEMALE_OTHER = set(OTHER_NAMES[:25]) | {"Ruth", "Moira", "Farah", "Bea", "Lotte", "Niamh", "Aoife", "Greta", "Joy"}

LOCALES: dict[str, dict[str, Any]] = {
    "us": {
        "mum": "mom",
        "flat": "apartment",
        "holiday": "vacation",
        "cur": "$",
        "cities": options("Denver|Portland|Austin|Chicago|Minneapolis|Pittsburgh|Sacramento|Raleigh|Boston|Seattle"),
        "dentist": "the dentist's office called",
        "date_style": "us",
    },
    "uk": {
        "mum": "mum",
        "flat": "flat",
        "holiday": "holiday",
        "cur": "£",
        "cities": options("Leeds|Bristol|Manchester|Glasgow|Edinburgh|Brighton|Sheffield|Cardiff|Norwich|York"),
        "dentist": "the dental surgery rang",
        "date_style": "uk",
    },
    "ie": {
        "mum": "mam",
        "flat": "apartment",
        "holiday": "holiday",
        "cur": "€",
        "cities": options("Dublin|Cork|Galway|Limerick|Waterford|Kilkenny"),
        "dentist": "the dental surgery rang",
        "date_style": "uk",
    },
}

# title; employers; lines that show the job without naming it; a new title after the move
JOBS: list[dict[str, Any]] = [
    {
        "title": "ICU nurse",
        "says": [
            "I've been an ICU nurse for {years} years and night shifts still wreck me",
            "{years} years on intensive care wards and I still can't sleep after a night shift",
        ],
        "shop": "three nights in a row on the unit, two of my patients were ventilated the whole time",
        "employers": ["St Columba's Hospital", "Northfield General", "Riverside Medical Centre", "Mercy Vale Hospital"],
    },
    {
        "title": "secondary school chemistry teacher",
        "says": [
            "I've taught chemistry to teenagers for {years} years, you'd think I'd be used to the smell of burnt hair",
            "{years} years of teaching year 10 chemistry and they still try to set the bunsen burners on fire",
        ],
        "shop": "marking ninety lab reports on titration this weekend, send coffee",
        "employers": ["Lakeside Academy", "Hollybrook High", "St Aidan's College", "Westmere School"],
    },
    {
        "title": "civil engineer",
        "says": [
            "I've been doing bridge and drainage design as a civil engineer for {years} years now",
            "{years} years as a civil engineer and site visits in the rain are still the worst part",
        ],
        "shop": "spent the whole day on site checking rebar before the concrete pour, my boots are soaked",
        "employers": ["Meridian Engineering", "Arkwright & Cole", "Stonebridge Consulting", "Halden Infrastructure"],
    },
    {
        "title": "software developer",
        "says": [
            "I've written code for a living for {years} years and I still google how to reverse a list",
            "been a backend developer for {years} years, mostly payments systems",
        ],
        "shop": "prod went down at 2am because of a config typo, guess who was on call",
        "employers": ["Copperleaf Software", "Kestrel Labs", "Bluestem Analytics", "Harbor Tech"],
    },
    {
        "title": "pharmacist",
        "says": [
            "{years} years of counting pills behind a pharmacy counter and people still ask if I'm the cashier",
            "I've been a community pharmacist for {years} years",
        ],
        "shop": "flu jab clinic all morning, I vaccinated 64 people before lunch",
        "employers": ["Greenway Pharmacy", "Boots on Market Street", "Wellspring Chemists", "CareFirst Pharmacy"],
    },
    {
        "title": "accountant",
        "says": [
            "tax season again. {years} years of doing people's books and it never gets easier",
            "I've been a chartered accountant for {years} years, spreadsheets are my whole personality",
        ],
        "shop": "year-end close this week, I've reconciled the same bank account four times",
        "employers": ["Alder & Finch", "Mossgrove Partners", "Clearwater Accounting", "Brandt Liebowitz LLP"],
    },
    {
        "title": "paramedic",
        "says": [
            "{years} years on the ambulances and the night shifts are still brutal",
            "been a paramedic for {years} years now",
        ],
        "shop": "eleven call-outs last shift, one was a guy who'd glued his hand to a fence",
        "employers": ["the regional ambulance service", "Metro EMS", "County Ambulance Trust"],
    },
    {
        "title": "graphic designer",
        "says": [
            "I've been designing logos and packaging for {years} years",
            "{years} years as a graphic designer and clients still ask me to make the logo bigger",
        ],
        "shop": "the client wants the brand colour to be 'more energetic but calmer', whatever that means",
        "employers": ["Fold Studio", "Parade Creative", "Inkwell Agency", "Northlight Design"],
    },
    {
        "title": "architect",
        "says": [
            "I've been a practising architect for {years} years, mostly schools and libraries",
            "{years} years drawing buildings for a living and I still love it, mostly",
        ],
        "shop": "planning committee rejected our library scheme again, back to the drawing board, literally",
        "employers": ["Halvorsen Architects", "Studio Brae", "Cartwright Moss", "Lune Architecture"],
    },
    {
        "title": "electrician",
        "says": [
            "been a sparky for {years} years, rewiring old houses mostly",
            "I've been an electrician for {years} years",
        ],
        "shop": "pulled out a fuse box today that was older than my dad, scorch marks everywhere",
        "employers": ["Volt Brothers", "Brightspark Electrical", "Kerr & Sons", "Current Solutions"],
    },
]

PET_KINDS: list[dict[str, Any]] = [
    {"species": "dog", "young": "puppy", "breeds": "beagle|border collie|dachshund|cockapoo|labrador|corgi|whippet"},
    {"species": "dog", "young": "rescue", "breeds": "greyhound|staffie|lurcher|jack russell"},
    {"species": "cat", "young": "kitten", "breeds": "tabby|ginger|tuxedo|Maine Coon|black"},
]
PET_NAMES = options("Biscuit|Pickle|Mochi|Juniper|Waffles|Pepper|Bruno|Ziggy|Nacho|Miso|Dumpling|Pixel|Hazel|Toast")

HOBBIES: list[dict[str, Any]] = [
    {
        "name": "running",
        "start": [
            "did my first 5k without stopping today, lungs on fire but I'm weirdly proud",
            "started one of those couch-to-5k apps, week one done and I only cried once",
        ],
        "level": [
            "up to {n}k a week now, my legs have stopped hating me",
            "logged {n} km this week, longest week since I started",
        ],
        "level_range": (15, 45),
        "unit": "km a week",
        "q_level": ["how far am I running each week these days?", "what's my weekly mileage at the moment?"],
        "event": "finished the {race} half marathon in {result}!!! beat my goal by {gain} minutes",
        "q_event": ["what was my finishing time at the {race}?", "how long did the {race} take me?"],
        "q_what": ["what sport did I take up this year?", "which form of exercise did I get into recently?"],
    },
    {
        "name": "bouldering",
        "start": [
            "went bouldering for the first time with a friend, my forearms are completely destroyed",
            "signed up for an intro session at the climbing wall, I managed two of the easy routes",
        ],
        "level": [
            "finally topped a V{n}, took me three weeks of falling off the same hold",
            "sent my first V{n} today!!",
        ],
        "level_range": (2, 6),
        "unit": "V grade",
        "q_level": ["what grade am I able to climb now?", "what's the hardest problem I've managed so far?"],
        "event": "came {result} in the beginners' comp at {race}, out of {gain}0 people",
        "q_event": ["where did I place in the comp at {race}?", "how did I do in the {race} competition?"],
        "q_what": ["which sport did I take up this year?", "what new physical hobby did I start?"],
    },
    {
        "name": "pottery",
        "start": [
            "first wheel-throwing class tonight, everything I made collapsed into a sad clay puddle",
            "started a ceramics evening course, the teacher makes centring clay look so easy",
        ],
        "level": [
            "{n} of my pieces survived the kiln this term",
            "got {n} bowls out of the last firing, only one cracked",
        ],
        "level_range": (4, 15),
        "unit": "pieces",
        "q_level": ["how many of my pots made it through the latest firing?", "how many pieces came out of the kiln?"],
        "event": "sold {result} mugs at the {race} craft fair, {gain} people asked if I take commissions",
        "q_event": ["how many mugs did I sell at the {race} fair?", "how did the {race} fair go for me?"],
        "q_what": ["what creative hobby have I started?", "what craft am I learning?"],
    },
    {
        "name": "choir",
        "start": [
            "joined a community choir on a whim, I'm an alto apparently",
            "went to my first rehearsal with the local singing group, everyone was so welcoming",
        ],
        "level": [
            "we've got {n} songs learned for the summer concert",
            "{n} pieces in the repertoire now, my brain is full",
        ],
        "level_range": (5, 14),
        "unit": "songs",
        "q_level": ["how many pieces do we have ready for the concert?", "how much of the repertoire have we learned?"],
        "event": "concert at {race} went great, about {result} people came and I only came in early once",
        "q_event": ["how big was the audience at {race}?", "how many people turned up to the {race} concert?"],
        "q_what": ["what group activity did I join this year?", "what do I do on rehearsal nights?"],
    },
    {
        "name": "chess",
        "start": [
            "started playing chess online again after ten years, got absolutely destroyed by a twelve-year-old",
            "joined the chess club that meets in the pub on Tuesdays",
        ],
        "level": ["my online rating is up to {n}0!", "hit {n}0 on the rapid ladder this week"],
        "level_range": (95, 150),
        "unit": "rating (x10)",
        "q_level": ["what's my rating at the moment?", "how high have I climbed on the ladder?"],
        "event": "scored {result} out of 5 at the {race} weekend tournament, {gain} wins and the rest draws",
        "q_event": ["what was my score at the {race} tournament?", "how many points did I get at {race}?"],
        "q_what": ["what game have I got back into?", "which board game do I play competitively?"],
    },
]
EVENT_PLACES = options("Riverside|Millbrook|Harbourside|Oakfield|Castlegate|Brookhaven|Eastgate|Kingsmead")

INJURIES: list[dict[str, Any]] = [
    {
        "part": "knee",
        "how": ["went down the stairs wrong", "twisted it stepping off a kerb", "jumped off the last step"],
        "diag": ["patellar tendinopathy", "a small meniscus tear"],
        "rec": "Try slow step-downs off a low stair (ten each side, three seconds down), wall sits of 30 seconds, "
        "and straight-leg raises lying on your back. Ice for 15 minutes after, and skip deep squats until the "
        "physio says otherwise.",
        "rec_words": "step-downs, wall sits, straight-leg raises",
    },
    {
        "part": "shoulder",
        "how": ["lifted a suitcase into the overhead bin badly", "pulled something reaching for the top shelf"],
        "diag": ["a rotator cuff strain", "impingement from a swollen bursa"],
        "rec": "Gentle pendulum swings (let the arm hang and draw small circles), band external rotations with the "
        "elbow tucked at your side, 3 x 12, and a doorway chest stretch for 30 seconds. Avoid lifting above head "
        "height for now.",
        "rec_words": "pendulum swings, band external rotations, doorway stretch",
    },
    {
        "part": "lower back",
        "how": ["picked up a box of books the wrong way", "bent over to tie a shoelace and something went"],
        "diag": ["a bulging disc at L4-L5", "a muscle spasm around the sacroiliac joint"],
        "rec": "Cat-cow on all fours (ten slow rounds), knee-to-chest holds for 20 seconds each side, and bird dogs, "
        "3 x 8. Short walks every hour help more than lying still; a hot water bottle before the stretches.",
        "rec_words": "cat-cow, knee-to-chest, bird dogs",
    },
]

GROUPS: list[dict[str, str]] = [
    {"kind": "grief", "what": "grief support group", "why": "since dad died"},
    {"kind": "caregivers", "what": "carers' support group", "why": "for people looking after a parent with dementia"},
    {"kind": "anxiety", "what": "anxiety support group", "why": "the GP suggested it"},
    {"kind": "chronic pain", "what": "chronic pain support group", "why": "for people with long-term pain"},
    {"kind": "new parents", "what": "new parents' support group", "why": "for sleep-deprived zombies like us"},
]
GROUP_PLACES = options("the community centre|the library|St Mark's church hall|the leisure centre|the hospital annexe")

DIETS: list[dict[str, str]] = [
    {"says": "the blood test came back, I'm lactose intolerant. goodbye cheese, it was nice knowing you"},
    {"says": "so I'm officially coeliac. the gastro doctor says not even a crumb of bread"},
    {"says": "allergist confirmed it, I'm allergic to tree nuts. cashews were my whole personality"},
    {"says": "doctor says my blood sugar is in the prediabetic range, so I'm cutting out sweets and white bread"},
]

DESTINATIONS: list[dict[str, Any]] = [
    {
        "city": "Lisbon",
        "air": "TP",
        "eat": "grilled sardines at a tasca in Alfama, a bifana from a counter bar, and pastéis de nata warm from "
        "Manteigaria",
        "see": "take tram 28 before 9am, watch sunset from the Miradouro da Senhora do Monte, and spend an "
        "afternoon in Belém",
        "best": ["the sunset from the miradouro with a glass of vinho verde", "the fado night in a tiny bar"],
    },
    {
        "city": "Kyoto",
        "air": "JL",
        "eat": "a kaiseki lunch in Gion, yudofu near Nanzen-ji, and the stalls at Nishiki Market for skewers",
        "see": "walk Fushimi Inari at dawn before the crowds, the Philosopher's Path, and Arashiyama early",
        "best": ["walking up through the orange gates at 6am", "the tea ceremony in an old wooden house"],
    },
    {
        "city": "Mexico City",
        "air": "AM",
        "eat": "tacos al pastor at El Huequito, a tlayuda in Roma Norte, and churros at El Moro",
        "see": "Chapultepec park and the anthropology museum, a trajinera boat in Xochimilco, and Coyoacán",
        "best": ["the boat party in Xochimilco", "the anthropology museum, I could have stayed all week"],
    },
    {
        "city": "Reykjavik",
        "air": "FI",
        "eat": "lamb soup at a harbour café, a hot dog from Bæjarins Beztu, and langoustine in Stokkseyri",
        "see": "the Golden Circle by car, a soak at Sky Lagoon, and a northern lights tour if the sky is clear",
        "best": ["the northern lights on our last night", "swimming in the geothermal pool in the snow"],
    },
    {
        "city": "Naples",
        "air": "AZ",
        "eat": "a margherita at Da Michele, sfogliatella from Attanasio, and fried pizza on Via dei Tribunali",
        "see": "the underground tunnels, a day at Pompeii, and the ferry to Procida",
        "best": ["the day trip to Pompeii", "eating pizza standing up on the street at midnight"],
    },
    {
        "city": "Vancouver",
        "air": "AC",
        "eat": "spot prawns at Granville Island, a dim sum lunch in Richmond, and Japadog from a cart",
        "see": "cycle the Stanley Park seawall, the Capilano suspension bridge, and a ferry to Bowen Island",
        "best": ["cycling around the seawall at sunset", "seeing orcas from the ferry"],
    },
    {
        "city": "Seville",
        "air": "IB",
        "eat": "spinach with chickpeas at El Rinconcillo, carrillada at a tapas bar in Triana, and churros at dawn",
        "see": "the Real Alcázar first thing, the Metropol Parasol at dusk, and a flamenco show in Triana",
        "best": ["the flamenco show in Triana", "the gardens of the Alcázar"],
    },
    {
        "city": "Copenhagen",
        "air": "SK",
        "eat": "smørrebrød at Schønnemann, a cinnamon swirl from Juno, and the street food hall on Reffen",
        "see": "rent bikes, the Louisiana museum up the coast, and a harbour swim at Islands Brygge",
        "best": ["the Louisiana museum by the sea", "jumping into the harbour with the locals"],
    },
]
ABROAD = options("Berlin|Melbourne|Toronto|Madrid|Singapore|Oslo|Vienna|Auckland|Montreal|Zurich")
WORK_TRIPS = options("Frankfurt|Chicago|Amsterdam|Toronto|Madrid|Brussels|Atlanta|Warsaw")
WORK_AIRLINES = options("LH|UA|KL|AC|IB|SN|DL|LO")

PURCHASES: list[dict[str, Any]] = [
    {"item": "standing desk", "a": "a", "alias": "the desk that goes up and down", "price": (280, 640)},
    {"item": "road bike", "a": "a", "alias": "my new bicycle", "price": (850, 2100)},
    {"item": "espresso machine", "a": "an", "alias": "the coffee maker", "price": (320, 900)},
    {"item": "sofa", "a": "a", "alias": "the new couch", "price": (700, 1900)},
    {"item": "noise-cancelling headphones", "a": "some", "alias": "those fancy earphones", "price": (220, 420)},
    {"item": "robot vacuum", "a": "a", "alias": "the little cleaning robot", "price": (190, 560)},
    {"item": "winter coat", "a": "a", "alias": "my new parka", "price": (140, 390)},
    {"item": "mattress", "a": "a", "alias": "the new bed", "price": (600, 1500)},
    {"item": "air fryer", "a": "an", "alias": "that countertop fryer thing", "price": (79, 189)},
    {"item": "telescope", "a": "a", "alias": "the stargazing kit", "price": (260, 780)},
]

SHOWS = options(
    "Severance|The Bear|Slow Horses|Shogun|Taskmaster|Bake Off|Succession|Ted Lasso|"
    "Only Murders in the Building|Abbott Elementary|The Last of Us|Fleabag|Hacks|Derry Girls|"
    "Reservation Dogs|Blue Planet|The Traitors|Andor|Detectorists|Schitt's Creek|The White Lotus|Poldark|"
    "Happy Valley|Bluey"
)
SHOW_RECS = [
    ("Slow Horses", "a scruffy, funny spy drama about MI5 rejects, with Gary Oldman at his most disgusting"),
    ("Detectorists", "a gentle comedy about two metal detectorists; warm, quiet and very funny"),
    ("Severance", "a workplace thriller where office workers have their work memories split from their home lives"),
    ("Happy Valley", "a tense Yorkshire police drama with one of the best lead performances on TV"),
    ("Hacks", "a sharp comedy about an ageing Las Vegas stand-up and the young writer she is forced to work with"),
    ("Andor", "a grown-up, slow-burn political thriller set in the Star Wars universe"),
    ("The Rehearsal", "Nathan Fielder helping people rehearse hard conversations, deeply strange and brilliant"),
    ("Mare of Easttown", "a small-town murder mystery with Kate Winslet as a worn-out detective"),
]
RECIPES = [
    (
        "spinach, a tin of chickpeas and some feta",
        "Spinach and chickpea skillet: soften an onion and two garlic cloves in olive oil, add a teaspoon of cumin "
        "and smoked paprika, tip in the drained chickpeas for five minutes, wilt the spinach in, then crumble feta "
        "over the top and squeeze half a lemon. Great with flatbread.",
        "the spinach and chickpea skillet",
    ),
    (
        "leftover rice, two eggs and some frozen peas",
        "Egg fried rice: get the pan very hot, scramble the eggs first and set them aside, fry the cold rice with "
        "a little oil until it crackles, add the peas and a splash of soy sauce and sesame oil, fold the eggs back "
        "in and finish with spring onions.",
        "egg fried rice",
    ),
    (
        "a butternut squash and some coconut milk",
        "Thai-style squash soup: roast the squash in chunks for 30 minutes, fry a spoon of red curry paste with "
        "ginger, add the squash, the coconut milk and 500 ml stock, simmer ten minutes, blend, and finish with lime.",
        "the roasted squash and coconut soup",
    ),
    (
        "chicken thighs, lemons and a bag of potatoes",
        "Greek lemon chicken traybake: toss chicken thighs and quartered potatoes with olive oil, lemon juice, "
        "oregano and garlic, pour a splash of stock into the tray, and roast at 200°C for 50 minutes until golden.",
        "the lemon chicken traybake",
    ),
    (
        "a block of tofu, broccoli and some peanut butter",
        "Crispy tofu with peanut sauce: press and cube the tofu, toss in cornflour and pan-fry until crisp, steam "
        "the broccoli, and whisk peanut butter with soy, lime, honey and hot water into a sauce to pour over.",
        "the crispy tofu with peanut sauce",
    ),
    (
        "red lentils, a tin of tomatoes and an onion",
        "Red lentil dal: fry the onion with garlic, ginger, turmeric and cumin, add 200 g rinsed lentils, the "
        "tomatoes and 700 ml water, simmer 25 minutes until creamy, then pour over a tarka of mustard seeds in ghee.",
        "the red lentil dal",
    ),
]
GIFTS = [
    ("a pottery taster workshop for two", "so you can go together"),
    ("a framed print of a map of the town she grew up in", "sentimental without being soppy"),
    ("a subscription to a monthly book box in the genre she loves", "it keeps giving all year"),
    ("a hot-air balloon ride voucher", "a big memorable experience for a round birthday"),
    ("a personalised recipe book filled with family recipes you collect from relatives", "very personal"),
    ("a spa day with afternoon tea", "proper pampering"),
]
WEEKEND_ACTIVITIES = [
    "took the kayaks out on the river, I'm sunburnt in a perfect life-jacket shape",
    "finally tackled the back garden, filled four bags with weeds and found a lost trowel",
    "drove to the coast and ate fish and chips in the car because of the wind",
    "went to a friend's barbecue and ended up playing rounders until it got dark",
    "did a 14 km hike up the ridge, the views were worth the blisters",
    "spent the whole afternoon at a board game café, lost at Catan four times",
    "helped a mate move house, three flights of stairs and a piano, never again",
    "went strawberry picking and ate more than we paid for",
    "painted the spare room a colour called 'elephant's breath', which is just grey",
    "went to see a tribute band in the park, surprisingly good",
    "drove out to a car boot sale and came back with a lamp shaped like a duck",
    "cycled out to the reservoir with a picnic, saw a heron",
    "went to the farmers market and came home with far too many leeks",
    "had people round for a games night that ended at 2am",
    "took the train to the seaside and got rained on the whole time",
    "went to a pub quiz and came second to a team of retired teachers",
    "spent the day at a music festival in a field, still finding glitter everywhere",
    "went to the zoo and the penguins were the highlight, obviously",
    "finally cleared out the garage and found three broken lawnmowers",
    "went for a long walk in the woods and got properly lost",
    "drove to a stately home and spent an hour in the maze",
    "went to a friend's wedding and danced until my feet gave up",
    "built a bookshelf from a kit and only had two screws left over",
    "went to an open mic night and someone played the spoons",
    "watched the local football team lose 4-0 in the rain",
    "went swimming in the lido, absolutely freezing but glorious",
]


# --- small helpers -------------------------------------------------------------------------------------


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def say_date(d: date, rng: random.Random, style: str) -> str:
    """A date as people type it."""
    month = d.strftime("%B")
    options = [f"the {ordinal(d.day)}", f"{d.strftime('%A')} the {ordinal(d.day)}"]
    options.append(f"{month} {d.day}" if style == "us" else f"{d.day} {month}")
    options.append(f"{month} {ordinal(d.day)}" if style == "us" else f"the {ordinal(d.day)} of {month}")
    return rng.choice(options)


def say_clock(t: time, rng: random.Random) -> str:
    hour = t.hour % 12 or 12
    ampm = "am" if t.hour < 12 else "pm"
    options = [f"{hour}:{t.minute:02d}{ampm}", f"{hour}:{t.minute:02d}", f"{t.hour:02d}:{t.minute:02d}"]
    if t.minute == 30:
        options.append(f"half {hour}" if t.hour < 12 else f"half past {hour}")
    if t.minute == 15:
        options.append(f"quarter past {hour}")
    return rng.choice(options)


def said_ago(event: date, today: date, rng: random.Random) -> str:
    """How someone refers, on `today`, to a day up to six days ago."""
    days = (today - event).days
    weekday = event.strftime("%A")
    if days == 0:
        return rng.choice(["this morning", "today", "earlier today"])
    if days == 1:
        return rng.choice(["yesterday", "last night", "yesterday evening"])
    if days == 2 and rng.random() < 0.4:
        return "two days ago"
    if 2 <= days <= 6:
        return rng.choice([f"on {weekday}", weekday, f"on {weekday}"])
    raise ValueError(f"{days} days is too far back for a relative phrase")


def words(text: str) -> list[str]:
    return text.split()


def money(cur: str, amount: int) -> str:
    return f"{cur}{amount:,}"


STOPWORDS = frozenset(
    words(
        """a about above after again against all am an and any are aren't as at be because been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't
    down during each few for from further had hadn't has hasn't have haven't having he he'd he'll he's
    her here here's hers herself him himself his how how's i i'd i'll i'm i've if in into is isn't it
    it's its itself let's me more most mustn't my myself no nor not of off on once only or other ought
    our ours ourselves out over own same shan't she she'd she'll she's should shouldn't so some such
    than that that's the their theirs them themselves then there there's these they they'd they'll
    they're they've this those through to too under until up very was wasn't we we'd we'll we're we've
    were weren't what what's when when's where where's which while who who's whom why why's with won't
    would wouldn't you you'd you'll you're you've your yours yourself yourselves again remind tell know
    ok okay hey please yeah actually just exactly one ever also get got go going s t still now back last
    us will"""
    )
)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS}


_PORTER = sqlite3.connect(":memory:", check_same_thread=False)
_PORTER.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='porter unicode61')")
_PORTER.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'row')")


@functools.cache
def porter(word: str) -> frozenset[str]:
    """The terms SQLite FTS5's porter tokenizer makes of a word (named -> name, living -> live): what BM25 sees."""
    _PORTER.execute("DELETE FROM t")
    _PORTER.execute("INSERT INTO t (x) VALUES (?)", (word,))
    return frozenset(row[0] for row in _PORTER.execute("SELECT term FROM v"))


def overlap(question: str, evidence: Iterable[str], stem: bool) -> float:
    """Share of the question's content words found in the evidence texts (as Porter stems, with `stem`)."""
    q = content_words(question)
    e = set().union(*(content_words(t) for t in evidence))
    if not q:
        return 0.0
    if not stem:
        return len(q & e) / len(q)
    stems = set().union(*(porter(w) for w in e))
    return sum(porter(w) <= stems for w in q) / len(q)


# --- the conversation model ----------------------------------------------------------------------------


@dataclass
class Line:
    role: str
    text: str
    keys: frozenset[str] = frozenset()


Beat = Callable[[date], list[Line]]  # called with the session's day; returns user/assistant pairs


@dataclass
class Question:
    kind: str
    text: str
    keys: frozenset[str]
    answer: str
    roles: tuple[str, ...] = USER_ONLY


@dataclass
class Plan:
    """One user's persona, session days, the beats placed in each session, and the questions."""

    rng: random.Random
    user_id: str
    persona: dict[str, Any]
    days: list[date]
    beats: dict[int, list[Beat]] = field(default_factory=lambda: defaultdict(list))
    questions: list[Question] = field(default_factory=list)
    away: set[int] = field(default_factory=set)  # sessions during the holiday: no other story is placed there
    marks: dict[str, int] = field(default_factory=dict)  # where a story's turning point is (session index)
    bought: list[tuple[date, str, str]] = field(default_factory=list)  # (day, key, what) of each purchase told

    @property
    def loc(self) -> dict[str, Any]:
        return LOCALES[self.persona["locale"]]

    def session_in(self, lo: float, hi: float, after: int = -1, before: int | None = None) -> int:
        """A session index in the [lo, hi) share of the timeline, after `after` and before `before`."""
        n = len(self.days)
        first = max(after + 1, int(lo * n))
        last = min(before if before is not None else n, max(first + 1, int(hi * n)))
        if first >= last:
            raise ValueError(f"no session between {first} and {last}")
        free = [i for i in range(first, last) if i not in self.away]
        return self.rng.choice(free or list(range(first, last)))

    def first_session_after(self, d: date) -> int | None:
        return next((i for i, day in enumerate(self.days) if day > d), None)

    def place(self, session: int, beat: Beat) -> None:
        self.beats[session].append(beat)

    def ask(
        self, kind: str, texts: Sequence[str], keys: Iterable[str], answer: str, *, assistant: bool = False
    ) -> None:
        self.questions.append(
            Question(
                kind, self.rng.choice(list(texts)), frozenset(keys), answer, BOTH_ROLES if assistant else USER_ONLY
            )
        )

    def d(self, day: date) -> str:
        return say_date(day, self.rng, self.loc["date_style"])


def pairs(*items: tuple[str, str, Iterable[str]] | tuple[str, str]) -> list[Line]:
    """Alternating lines from (role, text[, keys]) tuples."""
    out = []
    for item in items:
        role, text = item[0], item[1]
        keys = frozenset(item[2]) if len(item) > 2 else frozenset()
        out.append(Line(role, text, keys))
    return out


def u(text: str, *keys: str) -> tuple[str, str, tuple[str, ...]]:
    return ("user", text, keys)


def a(text: str, *keys: str) -> tuple[str, str, tuple[str, ...]]:
    return ("assistant", text, keys)


# --- persona -------------------------------------------------------------------------------------------


def make_persona(rng: random.Random, index: int) -> dict[str, Any]:
    locale = rng.choice(list(LOCALES))
    cities = rng.sample(LOCALES[locale]["cities"], 2)
    others = rng.sample(OTHER_NAMES, 12)
    job = rng.choice(JOBS)
    employers = rng.sample(job["employers"], 2)
    kind = rng.choice(PET_KINDS)
    partner = others[1]
    kids_n = rng.choice([0, 1, 2])
    kids = [{"name": others[4 + i], "age": rng.randint(4, 12)} for i in range(kids_n)]
    for kid in kids:
        kid["rel"] = "daughter" if kid["name"] in FEMALE_OTHER else "son"
    return {
        "name": FIRST_NAMES[index % len(FIRST_NAMES)],
        "locale": locale,
        "city_old": cities[0],
        "city_new": cities[1],
        "sister": others[0],
        "sister_age": rng.choice([30, 35, 40, 45, 50]) + rng.choice([0, 0, 0, 1]),
        "partner": partner,
        "partner_rel": ("wife" if partner in FEMALE_OTHER else "husband") if rng.random() < 0.7 else "partner",
        "married_years": rng.randint(3, 19),
        "friend": rng.choice(sorted(FEMALE_OTHER - set(others))),
        "manager": others[3],
        "facilitator": rng.choice(sorted(FEMALE_OTHER - set(others))),
        "neighbour": others[7],
        "kids": kids,
        "job": job,
        "job_years": rng.randint(3, 16),
        "employer_old": employers[0],
        "employer_new": employers[1],
        "pet": {
            "species": kind["species"],
            "young": kind["young"],
            "breed": rng.choice(kind["breeds"].split("|")),
            "name": rng.choice(PET_NAMES),
            "he": rng.choice(["he", "she"]),
        },
        "other_pet_name": rng.choice([n for n in PET_NAMES]),
        "hobby": rng.choice(HOBBIES),
        "injury": rng.choice(INJURIES),
        "group": rng.choice(GROUPS),
        "diet": rng.choice(DIETS),
        "trip": rng.choice(DESTINATIONS),
        "work_trip": rng.choice(WORK_TRIPS),
        "purchases": rng.sample(PURCHASES, 3),
        "gift": rng.choice(GIFTS),
        "recipe": rng.choice(RECIPES),
        "show_rec": rng.choice(SHOW_RECS),
        # for the crowd of same-topic messages that answer none of the questions
        "brother": others[8],
        "brother_age": rng.choice([30, 35, 40, 45, 50]) + rng.choice([-3, -2, 2, 3, 4]),
        "mum_city": rng.choice([c for c in LOCALES[locale]["cities"] if c not in cities]),
        "friend_city": rng.choice([c for c in LOCALES[locale]["cities"] if c not in cities]),
        "old_boss": others[9],
        "colleague": others[10],
        "partner_trip": rng.choice(WORK_TRIPS),
        "sister_moves": rng.sample(ABROAD, 2),
    }


def make_days(rng: random.Random) -> list[date]:
    """Session days: ~42-50 sessions over about seven months, a few days apart, at most one a day."""
    day = date(2024, 1, 3) + timedelta(days=rng.randrange(0, 60))
    days = []
    for _ in range(rng.randint(42, 50)):
        days.append(day)
        day += timedelta(days=rng.choice([1, 2, 2, 3, 3, 4, 4, 5, 6, 7, 9]))
    return days


# --- storylines: each places beats in sessions and asks questions about them ---------------------------


def pet_story(p: Plan) -> None:
    pet, rng = p.persona["pet"], p.rng
    name, breed, young, he = pet["name"], pet["breed"], pet["young"], pet["he"]
    him = "him" if he == "he" else "her"
    his = "his" if he == "he" else "her"
    s = p.session_in(0.08, 0.25)
    ago = rng.choice([0, 1, 2, 3])
    got = p.days[s] - timedelta(days=ago)
    is_cat = pet["species"] == "cat"

    def adopt(today: date) -> list[Line]:
        when = said_ago(got, today, rng)
        kind_of = f"{breed} {young}" if young != "rescue" else f"rescue {breed}"
        voted = "the kids voted" if p.persona["kids"] else f"{p.persona['partner']} won the naming argument"
        opening = rng.choice(
            [
                f"we did it!! brought home a little {kind_of} {when}. {voted} and {he}'s called {name}",
                f"so {when} we picked up a {kind_of} from the shelter. {name}. {he} has already chewed a shoe",
                f"meet {name}, our new {kind_of}! collected {him} {when} and I'm already obsessed",
            ]
        )
        follow, reply = (
            (
                f"{he} has claimed the radiator shelf and hisses at the hoover",
                "Sounds like a cat who knows what they want! A warm spot and a hiding place of their own help them "
                "feel safe; the hoover will stay the enemy, though.",
            )
            if is_cat
            else (
                f"{he} cried all night in the crate, I slept on the kitchen floor next to {him}",
                "That's very normal in the first few nights. A warm water bottle wrapped in a towel and an item that "
                "smells of you can help, and it usually gets better within a week.",
            )
        )
        return pairs(
            u(opening, "pet.name", "pet.breed", "pet.got"),
            a(
                f"Congratulations! {name} is a lovely name. The first weeks are a big adjustment for a {young}: "
                f"lots of sleep, short play sessions and a quiet spot of {his} own help a lot. How is {he} settling in?"
            ),
            u(follow),
            a(reply),
        )

    p.place(s, adopt)
    p.marks["pet"] = s
    later = sorted(rng.sample(range(s + 2, len(p.days)), 2))

    def mention_a(today: date) -> list[Line]:
        line = rng.choice(
            [
                f"{name} the {breed} menace stole a whole baguette off the counter today",
                f"our {breed} {name} has figured out how to open the treat drawer. I give up",
            ]
        )
        return pairs(
            u(line, "pet.name", "pet.breed"),
            a(
                "Ha, clever and shameless! A child lock on the drawer and keeping the counters clear are about the "
                "only defences; some people swear by a puzzle feeder to keep them busy."
            ),
        )

    p.place(later[0], mention_a)
    bill = rng.randint(85, 420)
    cur = p.loc["cur"]
    problem = rng.choice(
        ["an ear infection", "a tummy upset after eating a sock", "a limp that turned out to be a thorn"]
    )

    def vet(today: date) -> list[Line]:
        return pairs(
            u(
                rng.choice(
                    [
                        f"vet visit for {name} today, {problem}. {cur}{bill} later {he}'s fine and acting like nothing "
                        "happened",
                        f"{name} had {problem}, vet charged {cur}{bill}. {he}'s asleep on my feet now like a "
                        "little hero",
                    ]
                ),
                "pet.name",
                "pet.vet",
            ),
            a(
                "Glad it was nothing serious! Vet bills add up quickly; pet insurance or a monthly savings pot can "
                "soften the next one."
            ),
        )

    p.place(later[1], vet)

    def neighbour_pet(today: date) -> list[Line]:
        other = p.persona["other_pet_name"]
        if other == name:
            other = "Rufus"
        return pairs(
            u(f"the neighbour's dog {other} barked from 5am, I could cry"),
            a("That's rough. Earplugs or a white noise app might get you through until you can have a word."),
        )

    p.place(p.session_in(0.0, 1.0), neighbour_pet)
    animal = "cat" if is_cat else "dog"
    p.ask(
        "paraphrase",
        [f"what's my {animal} called?", "what name did we give our pet?", f"what do we call our {animal}?"],
        ["pet.name"],
        name,
    )
    p.ask(
        "time",
        [f"when did we bring {name} home?", f"what day did we adopt {name}?", f"when did {name} join the family?"],
        ["pet.got"],
        got.isoformat(),
    )
    p.ask(
        "exact",
        [f"how much did the vet charge for {name}?", f"what did {name}'s last trip to the vet cost me?"],
        ["pet.vet"],
        f"{cur}{bill}",
    )


def city_story(p: Plan) -> None:
    rng, old, new = p.rng, p.persona["city_old"], p.persona["city_new"]
    flat, partner = p.loc["flat"], p.persona["partner"]
    move_s = p.session_in(0.55, 0.8)
    plan_s = p.session_in(0.35, 0.55, before=move_s)
    early = sorted(rng.sample(range(0, plan_s), 2))

    def here_a(today: date) -> list[Line]:
        return pairs(
            u(
                rng.choice(
                    [
                        f"it has rained every single day this month here in {old}, I'm growing moss",
                        f"{old} in winter is so grim, the sun sets at like 4pm and I live in a cave",
                    ]
                ),
                "city.old",
            ),
            a("That sounds properly dreary. A daylight lamp in the morning and a walk at lunch can help a bit."),
        )

    def here_b(today: date) -> list[Line]:
        return pairs(
            u(
                rng.choice(
                    [
                        f"our landlord in {old} wants to put the rent up again, this {flat} is not worth it",
                        f"the buses in {old} are on strike so I walked 40 minutes to work, calves of steel",
                    ]
                ),
                "city.old",
            ),
            a("Annoying! It might be worth checking what similar places nearby go for before you agree to anything."),
        )

    p.place(early[0], here_a)
    p.place(early[1], here_b)

    def thinking(today: date) -> list[Line]:
        return pairs(
            u(f"{partner} got an offer in {new}, we're seriously thinking about moving. it's a big step"),
            a(
                "That is a big decision. It could help to list what you'd miss, what you'd gain, and what a trial "
                "weekend there feels like before you commit."
            ),
            u("yeah we're going to visit next month and look at a few places"),
            a("Good idea. Try to see the neighbourhoods on a weekday evening too, not just a sunny Saturday."),
        )

    p.place(plan_s, thinking)
    moved = p.days[move_s] - timedelta(days=rng.choice([1, 2, 3]))
    floor = rng.randint(2, 6)

    def move(today: date) -> list[Line]:
        when = said_ago(moved, today, rng)
        return pairs(
            u(
                rng.choice(
                    [
                        f"the van came {when} and that's it, we've left {old}. officially living in {new} now!",
                        f"moved {when}!! goodbye {old}, hello {new}. everything we own is in boxes",
                    ]
                ),
                "city.new",
                "city.old",
                "city.moved",
            ),
            a(
                "Congratulations on the move! Unpack the kitchen and the bed first and leave the rest; everything else "
                "can wait. How does the new place feel?"
            ),
            u(
                f"we're on the {ordinal(floor)} floor with no lift, carrying the fridge up nearly killed us",
                "city.floor",
            ),
            a("Oof, that's a workout. At least you'll never need a stair machine!"),
        )

    p.place(move_s, move)
    p.marks["move"] = move_s
    after = rng.sample(range(move_s + 1, len(p.days)), 2)

    def there_a(today: date) -> list[Line]:
        return pairs(
            u(
                rng.choice(
                    [
                        f"still getting lost in {new}, every street looks the same to me",
                        f"found a great bakery round the corner from our new place in {new}, dangerous",
                    ]
                ),
                "city.new",
            ),
            a("It takes a few weeks for a new city to click. Walking a different way home each day speeds it up."),
        )

    def there_b(today: date) -> list[Line]:
        return pairs(
            u(f"registered with a GP here in {new} finally, only took three phone calls", "city.new"),
            a("Good to have that sorted before you need it!"),
        )

    p.place(after[0], there_a)
    p.place(after[1], there_b)
    p.ask(
        "updated",
        [
            "which city do I live in these days?",
            "where am I based at the moment?",
            "what town is home right now?",
            "where do I live now?",
        ],
        ["city.new"],
        new,
    )
    p.ask(
        "paraphrase",
        ["where was home before we relocated?", "which town did we leave behind?", "where did I used to reside?"],
        ["city.old"],
        old,
    )
    p.ask("time", ["when did we move house?", "what day did the removal van come?"], ["city.moved"], moved.isoformat())
    p.ask(
        "exact",
        ["which floor is the new place on?", "how many storeys up do we live now?"],
        ["city.floor"],
        ordinal(floor),
    )


def job_story(p: Plan) -> None:
    rng, job = p.rng, p.persona["job"]
    old, new, boss = p.persona["employer_old"], p.persona["employer_new"], p.persona["manager"]
    years = p.persona["job_years"]
    start_s = p.session_in(0.6, 0.85)
    offer_s = p.session_in(0.45, 0.6, before=start_s)
    interview_s = p.session_in(0.3, 0.45, before=offer_s)
    intro_s, shop_s = sorted(rng.sample(range(0, interview_s), 2))

    def intro(today: date) -> list[Line]:
        return pairs(
            u(rng.choice(job["says"]).format(years=years), "job.title"),
            a("That's a long time in one line of work! What keeps you in it, and what would you change if you could?"),
            u(f"honestly the people. though {old} has been a mess since the restructure", "job.old"),
            a("A restructure can change a place a lot. Is it the workload, or how decisions get made now?"),
        )

    def shop(today: date) -> list[Line]:
        return pairs(
            u(job["shop"], "job.title"),
            a("That sounds exhausting. Make sure you get a proper meal and some downtime before the next one."),
        )

    p.place(intro_s, intro)
    p.place(shop_s, shop)

    def interview(today: date) -> list[Line]:
        return pairs(
            u(
                f"I have an interview at {new} on Thursday. haven't interviewed in years, I'm terrified",
                "job.interview",
            ),
            a(
                "You'll be fine! Prepare three stories that show what you did, how and the result, read up on what "
                "they've been working on lately, and have two questions ready for them at the end."
            ),
        )

    p.place(interview_s, interview)
    # a weekday at most three days before the session that tells of it
    start = rng.choice([d for k in range(4) if (d := p.days[start_s] - timedelta(days=k)).weekday() < 5])

    def offer(today: date) -> list[Line]:
        return pairs(
            u(
                rng.choice(
                    [
                        f"I GOT IT. {new} offered me the job this morning. handing my notice in at {old} tomorrow",
                        f"{new} called, the job's mine!! bye bye {old}",
                    ]
                ),
                "job.new",
                "job.old",
            ),
            a("Congratulations, that's fantastic news! You earned it. Do you know your start date yet?"),
            u(f"yep, {p.d(start)}", "job.start"),
            a("Perfect, that gives you a little breather in between. Enjoy it!"),
        )

    p.place(offer_s, offer)

    def first_day(today: date) -> list[Line]:
        when = said_ago(start, today, rng)
        return pairs(
            u(
                f"first day at {new} was {when}, my manager {boss} took me for lunch and I didn't spill anything",
                "job.new",
                "job.start",
                "job.boss",
            ),
            a("What a good start! Having a manager who takes you to lunch on day one is a great sign. How's the team?"),
        )

    p.place(start_s, first_day)
    p.marks["job_start"] = start_s
    later = p.session_in(0.85, 1.0, after=start_s)

    def settled(today: date) -> list[Line]:
        return pairs(
            u(f"one month in at {new} and I don't miss the old place at all", "job.new"),
            a("That's great to hear. Sounds like the move was the right call."),
        )

    p.place(later, settled)
    p.ask(
        "updated",
        [
            "who is my employer now?",
            "which company am I working for at the moment?",
            "where do I work these days?",
            "who do I work for now?",
        ],
        ["job.new"],
        new,
    )
    p.ask(
        "paraphrase",
        ["what do I do for a living?", "what's my profession?", "what line of work am I in?"],
        ["job.title"],
        job["title"],
    )
    p.ask("exact", ["what's my new boss called?", "who do I report to at the new place?"], ["job.boss"], boss)
    p.ask(
        "time",
        ["when did I start the new job?", "what was my first day at the new company?"],
        ["job.start"],
        start.isoformat(),
    )


def sister_story(p: Plan) -> None:
    """The birthday, the gift the assistant suggested, and what happened the weekend after it."""
    rng, sis, age = p.rng, p.persona["sister"], p.persona["sister_age"]
    # The weekend after the birthday is told in the first session after that Saturday, one to six days later.
    n = len(p.days)
    candidates = []
    for j in range(int(0.3 * n), int(0.75 * n)):
        saturday = p.days[j] - timedelta(days=(p.days[j].weekday() - 5) % 7 or 7)
        if 1 <= (p.days[j] - saturday).days <= 6 and p.first_session_after(saturday) == j and j not in p.away:
            candidates.append((j, saturday))
    j, saturday = rng.choice(candidates)
    birthday = saturday - timedelta(days=rng.choice([2, 3, 4]))  # a Tuesday, Wednesday or Thursday
    announce = max(i for i, day in enumerate(p.days) if day <= birthday - timedelta(days=4))
    gift, why = p.persona["gift"]
    activity = rng.choice(WEEKEND_ACTIVITIES)

    def announce_beat(today: date) -> list[Line]:
        return pairs(
            u(
                rng.choice(
                    [
                        f"my little sister {sis} turns {age} on {p.d(birthday)} and I have zero gift ideas. help?",
                        f"need a present for my sister {sis}, it's her {ordinal(age)} on {p.d(birthday)}. any ideas?",
                    ]
                ),
                "sister.name",
                "sister.age",
                "sister.birthday",
            ),
            a(
                rng.choice(
                    [
                        f"For a {ordinal(age)} I'd go for something she'll remember: {gift}, {why}. Add a handwritten "
                        "card with a favourite memory of the two of you and it becomes something she keeps.",
                        f"A gift idea for your sister's {ordinal(age)}: {gift}, {why}. Pair it with a card about a "
                        "favourite memory of the two of you.",
                    ]
                ),
                "rec.gift",
            ),
            u("ooh I like that, I'll look into it tonight"),
            a("Let me know how it goes, and happy early birthday to her!"),
        )

    p.place(announce, announce_beat)

    def weekend(today: date) -> list[Line]:
        when = said_ago(saturday, today, rng)
        return pairs(
            u(f"{when} we {activity}", "weekend.after"),
            a("That sounds like a lovely way to spend a Saturday. Are you recovered?"),
        )

    p.place(j, weekend)
    between = [k for k in range(announce + 1, j) if p.days[k] > birthday]
    if between:

        def dinner(today: date) -> list[Line]:
            return pairs(
                u(f"{sis}'s birthday dinner was lovely, she cried at the slideshow and so did I", "sister.name"),
                a("That's so sweet. Slideshows get everyone; sounds like she felt very loved."),
            )

        p.place(between[0], dinner)
    # The same kind of Saturday at other times: without the date, the evidence cannot be told apart from these.
    # (A Monday to Wednesday session tells of the Saturday just gone; one Saturday, one story.)
    others: dict[date, int] = {}
    for k in rng.sample(range(n), n):
        sat = p.days[k] - timedelta(days=(p.days[k].weekday() - 5) % 7 or 7)
        if k != j and k not in p.away and p.days[k].weekday() <= 2 and sat != saturday and sat not in others:
            others[sat] = k
    told = []
    acts = [x for x in rng.sample(WEEKEND_ACTIVITIES, 13) if x != activity]
    for (sat, k), act in zip(list(others.items())[:12], acts, strict=False):

        def other_weekend(today: date, act: str = act, sat: date = sat, key: str = f"weekend.{k}") -> list[Line]:
            return pairs(
                u(f"{said_ago(sat, today, rng)} we {act}", key), a("Sounds like a proper weekend. Good for you!")
            )

        p.place(k, other_weekend)
        told.append((sat, k, act))
    if told:
        sat, k, act = rng.choice(told)
        month = sat.strftime("%B")
        day = f"{month} {sat.day}" if p.loc["date_style"] == "us" else f"the {ordinal(sat.day)} of {month}"
        p.ask(
            "time",
            [f"what did we do on Saturday {day}?", f"how did I spend Saturday {day}?"],
            [f"weekend.{k}"],
            act,
        )
    p.ask(
        "time",
        [
            "what did I do the weekend after my sister's birthday?",
            f"what did we get up to the Saturday after {sis}'s birthday?",
        ],
        ["weekend.after"],
        activity,
    )
    p.ask(
        "exact", [f"how old did {sis} turn?", "what age was my sister on her last birthday?"], ["sister.age"], str(age)
    )
    p.ask(
        "assistant",
        [f"what present did you suggest for {sis}?", "what did you recommend I give my sister?"],
        ["rec.gift"],
        gift,
        assistant=True,
    )


def partner_story(p: Plan) -> None:
    rng, partner, rel, years = p.rng, p.persona["partner"], p.persona["partner_rel"], p.persona["married_years"]
    s = p.session_in(0.1, 0.9)

    def anniversary(today: date) -> list[Line]:
        text = rng.choice(
            [
                f"{partner} and I have been married {years} years on Friday and he/she thinks I forgot lol",
                f"it's our {ordinal(years)} wedding anniversary this weekend, {partner} booked somewhere fancy",
            ]
        )
        pronoun = {"wife": "she thinks", "husband": "he thinks"}.get(rel, "they think")
        text = text.replace("he/she thinks", pronoun)
        return pairs(
            u(text, "partner.name", "partner.years"),
            a(
                f"Happy almost-anniversary to you both! {years} years is worth celebrating. A note about your "
                f"favourite moment from each year would make a lovely surprise."
            ),
        )

    p.place(s, anniversary)
    spouse = {"wife": "wife", "husband": "husband"}.get(rel, "spouse")
    p.ask(
        "paraphrase",
        [f"what's my {spouse}'s name?", "who am I married to?", f"what is my {spouse} called?"],
        ["partner.name"],
        partner,
    )


def kids_story(p: Plan) -> None:
    rng = p.rng
    if not p.persona["kids"]:
        return
    kid = p.persona["kids"][0]
    s = p.session_in(0.1, 0.9)
    age = kid["age"]

    def party(today: date) -> list[Line]:
        return pairs(
            u(
                rng.choice(
                    [
                        f"our {kid['name']} turned {age} on the weekend, we survived a party with fourteen screaming "
                        "kids",
                        f"can't believe my {kid['rel']} {kid['name']} is {age} already, where did the time go",
                    ]
                ),
                "kid.age",
            ),
            a(
                f"Happy birthday to {kid['name']}! {age} is such a fun age. Did the party have a theme?",
            ),
        )

    p.place(s, party)
    p.ask(
        "exact",
        [f"how old is {kid['name']} now?", f"what age is my {kid['rel']}?"],
        ["kid.age"],
        str(age),
    )


def hobby_story(p: Plan) -> None:
    rng, h = p.rng, p.persona["hobby"]
    start = p.session_in(0.02, 0.2)
    v1 = p.session_in(0.25, 0.5, after=start)
    v2 = p.session_in(0.6, 0.9, after=v1)
    ev = p.session_in(0.5, 0.95, after=v1)
    lo, hi = h["level_range"]
    n1 = rng.randint(lo, (lo + hi) // 2)
    n2 = rng.randint(n1 + 2, hi + 2)
    place = rng.choice(EVENT_PLACES)
    if h["name"] == "running":
        result = f"1:{rng.randint(45, 59)}:{rng.randint(0, 59):02d}"
    elif h["name"] == "bouldering":
        result = ordinal(rng.randint(2, 12))
    elif h["name"] == "pottery":
        result = str(rng.randint(8, 30))
    elif h["name"] == "choir":
        result = str(rng.randint(60, 250))
    else:
        result = rng.choice(["3.5", "4", "3", "2.5"])
    gain = rng.randint(2, 9)

    def begin(today: date) -> list[Line]:
        return pairs(
            u(rng.choice(h["start"]), "hobby.what"),
            a("Good for you for trying something new! The first few weeks are the hardest; it gets fun quickly."),
            u("we'll see, I have a habit of quitting things after three weeks"),
            a("Then pick a small goal for the next four weeks and tell someone about it, that helps it stick."),
        )

    def level(n: int, key: str) -> Beat:
        def beat(today: date) -> list[Line]:
            return pairs(
                u(rng.choice(h["level"]).format(n=n), key),
                a("That's real progress! Remember to rest too; that's when you actually get better."),
            )

        return beat

    def event(today: date) -> list[Line]:
        return pairs(
            u(h["event"].format(race=place, result=result, gain=gain), "hobby.event"),
            a("Amazing, congratulations! All those evenings paid off. How are you celebrating?"),
        )

    p.place(start, begin)
    p.place(v1, level(n1, "hobby.level.old"))
    p.place(v2, level(n2, "hobby.level"))
    p.place(ev, event)
    p.ask("paraphrase", h["q_what"], ["hobby.what"], h["name"])
    p.ask("updated", h["q_level"], ["hobby.level"], f"{n2} ({h['unit']})")
    p.ask("exact", [q.format(race=place) for q in h["q_event"]], ["hobby.event"], result)


def health_story(p: Plan) -> None:
    rng, inj, grp = p.rng, p.persona["injury"], p.persona["group"]
    part = inj["part"]
    hurt_s = p.session_in(0.1, 0.4)
    hurt = p.days[hurt_s] - timedelta(days=rng.choice([0, 1, 2]))
    diag_s = p.session_in(0.1, 0.6, after=hurt_s)
    diagnosis = rng.choice(inj["diag"])
    weeks = rng.randint(4, 10)

    def onset(today: date) -> list[Line]:
        return pairs(
            u(
                f"{said_ago(hurt, today, rng)} I {rng.choice(inj['how'])} and now my {part} is killing me",
                "injury.when",
            ),
            a(
                "Ouch, sorry! Rest it, ice for 15 minutes at a time, and if it's still bad in a couple of days or you "
                "can't put weight on it, get it looked at."
            ),
            u("any exercises I can do in the meantime?"),
            a(rng.choice([inj["rec"], f"Some gentle exercises for your {part}: {inj['rec']}"]), "rec.exercise"),
        )

    def diag(today: date) -> list[Line]:
        return pairs(
            u(
                rng.choice(
                    [
                        f"saw the physio, it's {diagnosis}. {weeks} weeks of boring exercises and no fun",
                        f"finally got a proper answer: {diagnosis}. they want me doing rehab for {weeks} weeks",
                    ]
                ),
                "injury.diag",
            ),
            a("At least you know what it is now. Consistency with the rehab matters more than doing a lot at once."),
        )

    p.place(hurt_s, onset)
    p.marks["hurt"] = hurt_s
    p.place(diag_s, diag)
    p.ask(
        "paraphrase",
        ["what did the specialist conclude was wrong with me?", "what's the medical name for my injury?"],
        ["injury.diag"],
        diagnosis,
    )
    p.ask(
        "time",
        [f"when did I hurt my {part}?", f"what day did my {part} problem start?"],
        ["injury.when"],
        hurt.isoformat(),
    )
    p.ask(
        "assistant",
        [f"which exercises did you suggest for my {part}?", f"what rehab moves did you tell me to try for the {part}?"],
        ["rec.exercise"],
        inj["rec_words"],
        assistant=True,
    )

    first_s = p.session_in(0.25, 0.6)
    first = p.days[first_s] - timedelta(days=rng.choice([1, 1, 2, 3]))
    place = rng.choice(GROUP_PLACES)
    people = rng.randint(5, 14)
    lead = p.persona["facilitator"]

    def group_first(today: date) -> list[Line]:
        return pairs(
            u(
                f"{said_ago(first, today, rng)} I finally went to that {grp['what']} at {place}. "
                f"{people} of us in a circle, way less awkward than I feared",
                "group.kind",
                "group.first",
                "group.size",
            ),
            a(
                "I'm really glad you went; the first time is the hardest part. How did you feel afterwards?",
            ),
            u(f"drained but lighter? the woman who runs it, {lead}, is lovely", "group.lead"),
            a("That's a really good sign. Having someone warm running it makes such a difference."),
        )

    p.place(first_s, group_first)
    again = p.session_in(0.6, 1.0, after=first_s)

    def group_again(today: date) -> list[Line]:
        return pairs(
            u(f"group tonight was heavy, but I'm glad I went. {lead} brought biscuits", "group.lead"),
            a("It sounds like it's becoming a real support. Be gentle with yourself tonight."),
        )

    p.place(again, group_again)
    p.ask(
        "time",
        ["when did I first go to the support group?", "what day was my first group meeting?"],
        ["group.first"],
        first.isoformat(),
    )
    p.ask(
        "paraphrase",
        ["what are those weekly meetings I go to about?", "what sort of circle have I been attending?"],
        ["group.kind"],
        grp["what"],
    )
    p.ask("exact", ["who runs the support group?", "what's the name of the group's facilitator?"], ["group.lead"], lead)

    diet_s = p.session_in(0.15, 0.7)

    def diet(today: date) -> list[Line]:
        return pairs(
            u(p.persona["diet"]["says"], "diet"),
            a("That's a lot to adjust to. Plenty of good food still works for you; want some easy meal ideas?"),
            u("maybe later, I'm still grieving lol"),
            a("Fair enough. I'm here when you're ready."),
        )

    p.place(diet_s, diet)
    p.ask(
        "paraphrase",
        [
            "is there any food I'm supposed to avoid?",
            "what can't I eat anymore?",
            "do I have any dietary restrictions?",
        ],
        ["diet"],
        p.persona["diet"]["says"],
    )


def trip_story(p: Plan) -> None:
    rng, trip = p.rng, p.persona["trip"]
    dest, holiday = trip["city"], p.loc["holiday"]
    n = len(p.days)
    during = p.session_in(0.35, 0.65)
    fly = p.days[during] - timedelta(days=rng.choice([0, 1, 2]))
    length = rng.randint(5, 10)
    home = fly + timedelta(days=length)
    book = max((i for i, day in enumerate(p.days) if day <= fly - timedelta(days=12)), default=0)
    p.away = {i for i, day in enumerate(p.days) if fly <= day <= home}
    flight = f"{trip['air']}{rng.randint(100, 2999)}"
    room = rng.randint(1, 9) * 100 + rng.randint(1, 40)
    clock = time(rng.randint(6, 20), rng.choice([0, 5, 15, 30, 40, 50]))

    def booked(today: date) -> list[Line]:
        return pairs(
            u(
                rng.choice(
                    [
                        f"booked!! {flight} to {dest} on {p.d(fly)}, leaves at {say_clock(clock, rng)}. first proper "
                        f"{holiday} in three years",
                        f"ok flights done: {dest}, {p.d(fly)}, {flight}, {say_clock(clock, rng)} departure. "
                        f"{length} nights, I can't wait",
                    ]
                ),
                "trip.flight",
                "trip.date",
            ),
            a(f"How exciting! {dest} is a wonderful choice. Want any tips on what to see or eat while you're there?"),
            u("yes please, food especially"),
            a(f"In {dest}, try {trip['eat']}. For sights: {trip['see']}.", "rec.trip"),
        )

    p.place(book, booked)
    p.bought.append((p.days[book], "trip.flight", f"flights to {dest}"))

    def there(today: date) -> list[Line]:
        when = said_ago(fly, today, rng)
        return pairs(
            u(
                rng.choice(
                    [
                        f"landed in {dest} {when}! our room is {room}, tiny but there's a balcony",
                        f"made it to {dest} {when}. hotel gave us room {room}, right next to the ice machine lol",
                    ]
                ),
                "trip.room",
                "trip.date",
            ),
            a("Welcome! A balcony makes up for a lot. Have a wonderful time and don't over-plan it."),
        )

    p.place(during, there)
    p.marks["trip"] = during
    back = p.first_session_after(home)
    best = rng.choice(trip["best"])
    if back is not None:

        def back_home(today: date) -> list[Line]:
            return pairs(
                u(f"home again. honestly {best} was the highlight of the whole year so far", "trip.best"),
                a("That sounds magical. Holidays like that stay with you. What's the first thing you did back home?"),
            )

        p.place(back, back_home)
    # A work trip: another flight and another hotel room, told the same way.
    work = p.session_in(0.7, 1.0) if during < 0.7 * n else p.session_in(0.0, 0.3)
    other_flight = f"{rng.choice(WORK_AIRLINES)}{rng.randint(100, 2999)}"

    def work_trip(today: date) -> list[Line]:
        return pairs(
            u(
                f"work is sending me to a conference in {p.persona['work_trip']}, flight {other_flight} on Monday "
                f"at {say_clock(time(rng.randint(6, 9), 10), rng)}, hotel room {room + rng.randint(101, 700)}"
            ),
            a("Conferences are tiring! Pack snacks, a charger and comfy shoes, and take an hour off in the afternoon."),
        )

    p.place(work, work_trip)
    p.ask(
        "exact",
        [f"what was my flight number to {dest}?", f"which flight did I take to {dest}?"],
        ["trip.flight"],
        flight,
    )
    p.ask(
        "exact",
        [f"what room were we in on the {dest} trip?", f"what was our hotel room number in {dest}?"],
        ["trip.room"],
        str(room),
    )
    p.ask(
        "time",
        [f"when did I fly out to {dest}?", f"what date did we leave for {dest}?"],
        ["trip.date"],
        fly.isoformat(),
    )
    if back is not None:
        p.ask(
            "paraphrase",
            [f"what was the best part of my {holiday}?", "what did I enjoy most about getting away?"],
            ["trip.best"],
            best,
        )
    p.ask(
        "assistant",
        [f"what food did you recommend I try in {dest}?", f"what did you suggest we eat in {dest}?"],
        ["rec.trip"],
        trip["eat"],
        assistant=True,
    )


def purchases_story(p: Plan) -> None:
    rng, cur, partner = p.rng, p.loc["cur"], p.persona["partner"]
    for i, item in enumerate(p.persona["purchases"]):
        s = p.session_in(0.05 + 0.3 * i, 0.35 + 0.3 * i)
        price = rng.randint(*item["price"])
        name, article = item["item"], item["a"]
        plural = name if name.endswith("s") else name + "s"
        look = max(0, s - rng.randint(1, 3))

        def browsing(today: date, plural: str = plural, price: int = price) -> list[Line]:
            fancy = int(price * rng.uniform(1.4, 2.2))
            return pairs(
                u(f"looking at {plural} online, why is the one everyone recommends {money(cur, fancy)}??"),
                a(
                    "Prices on those vary wildly. Check last year's model or a refurbished one; you often get 90% of "
                    "the quality for much less."
                ),
            )

        def bought(
            today: date, name: str = name, article: str = article, price: int = price, key: str = f"buy.{i}"
        ) -> list[Line]:
            return pairs(
                u(
                    rng.choice(
                        [
                            f"finally caved and bought the {name}. {money(cur, price)}. do not tell {partner}",
                            f"the {name} arrived today! {money(cur, price)} with the discount code, very pleased",
                            f"spent {money(cur, price)} on {article} {name} and the buyer's remorse has already "
                            "kicked in",
                        ]
                    ),
                    key,
                ),
                a("Enjoy it! If it's something you'll use every day, the cost per use ends up tiny."),
            )

        if look != s:
            p.place(look, browsing)
        p.place(s, bought)
        p.bought.append((p.days[s], f"buy.{i}", name))
        if i < 2:
            p.ask(
                "exact",
                [f"how much did I pay for {item['alias']}?", f"what did {item['alias']} cost me?"],
                [f"buy.{i}"],
                money(cur, price),
            )


def appointment_story(p: Plan) -> None:
    rng = p.rng
    booked_s = p.session_in(0.2, 0.6)
    when1 = p.days[booked_s] + timedelta(days=rng.randint(10, 20))
    t1 = time(rng.randint(8, 16), rng.choice([0, 15, 30, 45]))
    moved = [i for i in range(booked_s + 1, len(p.days)) if p.days[i] < when1 - timedelta(days=1)]
    if not moved:
        return
    moved_s = rng.choice(moved)
    when2 = when1 + timedelta(days=rng.randint(3, 12))
    t2 = time(rng.randint(8, 16), rng.choice([0, 15, 30, 45]))

    def book(today: date) -> list[Line]:
        return pairs(
            u(
                f"booked the dentist for {p.d(when1)} at {say_clock(t1, rng)}, that filling has been bugging me",
                "dentist.first",
            ),
            a("Good call not leaving it. Until then, avoid very cold drinks on that side if it's sensitive."),
        )

    def move(today: date) -> list[Line]:
        return pairs(
            u(
                f"{p.loc['dentist']}, they've moved me to {p.d(when2)} at {say_clock(t2, rng)} instead",
                "dentist.now",
            ),
            a("Annoying, but at least they let you know. Pop it in your calendar so the old time doesn't confuse you."),
        )

    p.place(booked_s, book)
    p.place(moved_s, move)
    p.ask(
        "updated",
        ["when is my dentist appointment?", "what time am I seeing the dentist?"],
        ["dentist.now"],
        f"{when2.isoformat()} {t2.strftime('%H:%M')}",
    )


def recipe_and_show_story(p: Plan) -> None:
    rng = p.rng
    have, recipe, short = p.persona["recipe"]
    s = p.session_in(0.1, 0.9)

    def cook(today: date) -> list[Line]:
        return pairs(
            u(f"what can I make for dinner with {have}? not in the mood for anything fancy"),
            a(rng.choice([recipe, f"With {have} you can make {short}. {recipe}"]), "rec.recipe"),
            u("perfect, doing that"),
            a("Enjoy! It keeps well for lunch the next day too."),
        )

    p.place(s, cook)
    tried = p.session_in(0.1, 1.0, after=s)

    def tried_it(today: date) -> list[Line]:
        return pairs(
            u(f"made {short} again tonight, it's in the rotation now", "rec.recipe"),
            a("Love that! Once a recipe is in the rotation, it's yours."),
        )

    p.place(tried, tried_it)
    p.ask(
        "assistant",
        [f"what did you tell me to cook with {have.split(',')[0]}?", "what dinner idea did you give me that I liked?"],
        ["rec.recipe"],
        short,
        assistant=True,
    )
    show, blurb = p.persona["show_rec"]
    watched = rng.choice([x for x in SHOWS if x != show])
    t = p.session_in(0.1, 0.9)

    def show_beat(today: date) -> list[Line]:
        return pairs(
            u(f"just finished {watched} and now I feel empty. what should I watch next?"),
            a(
                rng.choice(
                    [
                        f"Try {show}: {blurb}. It scratches a similar itch without being the same thing.",
                        f"If you liked {watched}, watch {show} next: {blurb}.",
                    ]
                ),
                "rec.show",
            ),
        )

    p.place(t, show_beat)
    p.ask(
        "assistant",
        [f"what series did you suggest after I finished {watched}?", f"what did you say to watch after {watched}?"],
        ["rec.show"],
        show,
        assistant=True,
    )


def sister_move_story(p: Plan) -> None:
    """An updated fact about someone else: where the sister is moving (she changes her mind)."""
    rng, sis = p.rng, p.persona["sister"]
    first, second = p.persona["sister_moves"]
    s1 = p.session_in(0.15, 0.5)
    s2 = p.session_in(0.55, 0.95, after=s1)

    def plan(today: date) -> list[Line]:
        return pairs(
            u(f"{sis} just told us she's moving to {first} for work. I'm happy for her but gutted", "sister.move.old"),
            a("That's bittersweet. Video calls and one big visit a year keep a lot of sisters close across oceans."),
        )

    def change(today: date) -> list[Line]:
        return pairs(
            u(
                rng.choice(
                    [
                        f"plot twist: {sis} turned down the {first} job and is going to {second} instead",
                        f"{sis} changed her mind, it's {second} now, not {first}. keep up, everyone",
                    ]
                ),
                "sister.move",
            ),
            a("Ha, that's quite the switch! At least the decision is made. Will you visit?"),
        )

    p.place(s1, plan)
    p.place(s2, change)
    p.ask(
        "updated",
        [f"where is {sis} relocating to?", "which city is my sister moving to?"],
        ["sister.move"],
        second,
    )


def crowd_story(p: Plan) -> None:
    """Messages on the same topics as the facts that answer none of the questions: other people's names, ages,
    flights and appointments, the pet without its name, more recommendations of the same sort. A long real
    conversation comes back to its topics again and again; these are what make finding the evidence hard."""
    rng, per, loc = p.rng, p.persona, p.loc
    pet, partner, friend, cur = per["pet"], per["partner"], per["friend"], loc["cur"]
    n = len(p.days)

    def after(mark: str, lo: float = 0.0, hi: float = 1.0) -> int:
        return p.session_in(lo, hi, after=p.marks.get(mark, -1))

    def before(mark: str) -> int:
        return p.session_in(0.0, 1.0, before=max(1, p.marks.get(mark, n)))

    young = {"puppy": "the puppy", "rescue": "the dog", "kitten": "the kitten"}[pet["young"]]
    he = pet["he"]
    if pet["species"] == "dog":
        pet_lines = [
            (
                f"{young} pulls on the lead so hard my arm nearly came off. how do I stop that?",
                "Stop dead whenever the lead goes tight and only walk on when it's slack; reward with a treat at your "
                "side every few steps when it's loose. A front-clip harness helps while you train. Short, frequent "
                "sessions work better than one long walk.",
            ),
            (
                f"obedience class tonight, {he} was the only one who ate every treat and ignored every command",
                "Ha, a food-motivated student! That's actually great for training; it just takes patience.",
            ),
            (
                f"{young} dug up the tulip bulbs and then looked so proud of it",
                "Digging is very natural for dogs. A sandpit corner where digging is allowed can save the rest.",
            ),
        ]
    else:
        pet_lines = [
            (
                f"{young} is shredding the arm of the sofa. any way to stop that?",
                "Give a sturdy scratching post right next to the sofa, rub catnip on it, and cover the arm with "
                "double-sided tape for a few weeks. Trimming the claws helps too.",
            ),
            (
                f"{young} sleeps 18 hours a day and then goes feral at 3am",
                "Classic cat schedule! A good play session with a wand toy before bed, then food, helps them sleep.",
            ),
            (
                f"{young} brought a live frog into the kitchen this morning",
                "A gift! It's a compliment, apparently, though the frog would disagree.",
            ),
        ]
    mum, bro, bro_age = loc["mum"], per["brother"], per["brother_age"]
    other_pet = per["other_pet_name"] if per["other_pet_name"] != pet["name"] else "Rufus"
    gift = rng.choice([g for g in GIFTS if g != per["gift"]])
    have, recipe, _ = rng.choice([r for r in RECIPES if r != per["recipe"]])
    show, blurb = rng.choice([x for x in SHOW_RECS if x != per["show_rec"]])
    dest2 = rng.choice([d["city"] for d in DESTINATIONS if d != per["trip"]])
    flight2 = f"{rng.choice(WORK_AIRLINES)}{rng.randint(100, 2999)}"
    part = per["injury"]["part"]
    appt = p.days[min(n - 1, p.session_in(0.2, 0.9))] + timedelta(days=rng.randint(3, 9))
    shoes = rng.randint(70, 160)
    beats: list[tuple[int, list[Line]]] = []

    def add(session: int, *items: tuple[str, str, tuple[str, ...]]) -> None:
        beats.append((session, pairs(*items)))

    for line, reply in rng.sample(pet_lines, 2):
        add(after("pet"), u(line), a(reply))
    add(
        p.session_in(0.0, 1.0),
        u(f"{per['sister']}'s {rng.choice(['cat', 'dog'])} {other_pet} is staying with us this week, send help"),
        a("A houseguest with fur! Keep their routine the same and they'll settle in a day or two."),
    )
    add(
        p.session_in(0.0, 1.0),
        u(f"visiting my {mum} in {per['mum_city']} this weekend, the train is already delayed"),
        a("Ugh, trains. Bring snacks and a good book, and enjoy the time with her."),
    )
    add(
        p.session_in(0.0, 1.0),
        u(f"{friend} just moved to {per['friend_city']}, she says the rent there is half what we pay"),
        a("That's tempting! Though cheaper rent often comes with other trade-offs. Is she happy there?"),
    )
    add(
        before("job_start"),
        u(f"my boss {per['old_boss']} just scheduled a 'quick sync' for 5pm on a Friday"),
        a("The dreaded late-Friday sync. Ask for an agenda; it often shrinks the meeting to ten minutes."),
    )
    add(
        p.session_in(0.0, 1.0),
        u(f"{partner}'s company is doing layoffs, everyone over there is on edge"),
        a("That's stressful for both of you. Updating the CV quietly, just in case, can give some sense of control."),
    )
    add(
        after("job_start"),
        u(f"{per['colleague']} from the team showed me where the good coffee machine is, I have a friend"),
        a("The most important onboarding there is!"),
    )
    add(
        p.session_in(0.0, 1.0),
        u(f"my brother {bro} turns {bro_age} next week and wants a curry night, very on brand"),
        a(f"Happy early birthday to {bro}! A curry night sounds perfect."),
    )
    add(
        p.session_in(0.0, 1.0),
        u(f"{mum}'s birthday is coming up. what do you get someone who says they want nothing?"),
        a(f"Something you do together works well: {gift[0]}, {gift[1]}. Time together is usually what they mean."),
    )
    add(
        p.session_in(0.0, 1.0),
        u(f"{friend} and her husband are celebrating twenty years married, I'm in charge of the cake"),
        a("Twenty years! A naked sponge with fresh berries is easy to make look impressive."),
    )
    add(
        p.session_in(0.0, 1.0),
        u(f"{friend}'s little boy turned six and asked me if I was alive when the dinosaurs were"),
        a("Ha! Six-year-olds are brutally honest. Hopefully you told him yes, and that you rode one."),
    )
    add(
        p.session_in(0.0, 1.0),
        u(
            f"{partner} has the dentist {appt.strftime('%A')} at {say_clock(time(rng.randint(8, 17), 30), rng)}, "
            "so I'm on school-run duty"
        ),
        a("Fair trade. Hope the appointment goes smoothly."),
    )
    add(
        p.session_in(0.0, 1.0),
        u(f"got a GP appointment on {p.d(appt)} for my yearly check-up, they want bloods"),
        a("Good to keep on top of. Drink plenty of water beforehand; it makes the blood test easier."),
    )
    add(
        after("hurt"),
        u(f"{part} still stiff in the mornings but better than last week"),
        a("Steady improvement is the goal. Keep the exercises going even on the good days."),
    )
    add(
        after("hurt"),
        u("did my rehab exercises at the bus stop, got some looks"),
        a("Commitment! Anyone judging is just jealous of your dedication."),
    )
    add(
        p.session_in(0.0, 1.0),
        u("book club tonight and nobody had read the book, we just ate cheese for two hours"),
        a("Honestly, that's what most book clubs are. The cheese is the real book."),
    )
    add(
        p.session_in(0.0, 1.0),
        u(f"{partner} flies to {per['partner_trip']} on Tuesday for work, {flight2}, so it's just me and the chaos"),
        a("Solo week! Batch-cook something on Monday and it'll feel much easier."),
    )
    add(
        p.session_in(0.0, 1.0),
        u(f"looking at flights to {dest2} for the autumn, the cheap ones all leave at 5am"),
        a("The 5am flight tax. Sometimes paying a little more for a sane time saves a hotel night anyway."),
    )
    shoes_s = p.session_in(0.0, 1.0)
    add(
        shoes_s,
        u(
            f"new trainers, {money(cur, shoes)}, because the old ones had a hole you could see my sock through",
            "buy.shoes",
        ),
        a("A worthy investment. Your feet will thank you."),
    )
    p.bought.append((p.days[shoes_s], "buy.shoes", "trainers"))
    add(
        p.session_in(0.0, 1.0),
        u(f"got a {money(cur, rng.choice([35, 50, 70, 90]))} parking fine outside my own house. furious"),
        a("That's infuriating. Check the signage and appeal if anything was unclear; many do get cancelled."),
    )
    add(
        p.session_in(0.0, 1.0),
        u("I need something funny and short to watch, my brain is fried"),
        a(f"Try {show}: {blurb}."),
    )
    add(
        p.session_in(0.0, 1.0),
        u(f"ideas for a quick lunch with {have}?"),
        a(recipe),
    )
    add(
        p.session_in(0.0, 1.0),
        u(f"{friend} wants me to try padel with her. is that the one with the walls?"),
        a(
            "Yes: a doubles racket sport on an enclosed court where the ball can bounce off the glass walls. Easy to "
            "pick up and very social."
        ),
    )
    for session, lines in beats:
        p.place(session, lambda today, lines=lines: lines)


def purchase_month_question(p: Plan) -> None:
    """What did I buy in <month>? For a month with one purchase told in it (last: every purchase is known)."""
    months: dict[tuple[int, int], list[tuple[str, str]]] = defaultdict(list)
    for day, key, what in p.bought:
        months[(day.year, day.month)].append((key, what))
    single = sorted((ym, told[0]) for ym, told in months.items() if len(told) == 1)
    if single:
        (year, month), (key, what) = p.rng.choice(single)
        name = date(year, month, 1).strftime("%B")
        p.ask("time", [f"what did I buy in {name}?", f"what did I splash out on in {name}?"], [key], what)


STORIES = (
    trip_story,  # first: the sessions of the holiday are kept free of the other stories
    pet_story,
    city_story,
    job_story,
    sister_story,
    partner_story,
    kids_story,
    hobby_story,
    health_story,
    purchases_story,
    appointment_story,
    recipe_and_show_story,
    sister_move_story,
    crowd_story,  # after the stories it places its messages around
    purchase_month_question,  # last: every purchase is placed
)

# --- small talk and advice: most of every conversation ------------------------------------------------

WEATHER_BAD = options("pouring|freezing|grey and drizzly|blowing a gale|foggy|sleeting|muggy and horrible")
WEATHER_GOOD = options("sunny|gorgeous|actually warm|clear and crisp|bright")
FOODS = options(
    "ramen|a massive curry|homemade pizza|pancakes|a roast|tacos|leftover lasagne|toast, again|pho|a stir fry"
)
CHORES = options("the laundry mountain|the oven|the fridge|the gutters|my inbox|the garage|the bathroom grout")

# A condition first ("@mon", "@fri", "@weekend", "@winter", "@summer", "@evening", "@morning") limits when an
# exchange can come up; the rest alternate user, assistant.
SMALL_TALK: list[tuple[str, ...]] = [
    (
        "it's {bad} again",
        "Sounds like a day for a hot drink and staying in. Anything planned?",
        "not really, maybe bake something",
        "Baking on a grim day is the best medicine.",
    ),
    (
        "it's {good} out for once, I'm going to eat lunch outside",
        "Enjoy it! A bit of sun in the middle of the day does wonders.",
    ),
    (
        "@notsun",
        "had {food} for dinner, 10/10",
        "That sounds excellent. Homemade or out?",
        "homemade, I'm very proud",
        "As you should be!",
    ),
    (
        "cannot stop watching {show}",
        "It's very bingeable! How far in are you?",
        "halfway through the second season",
        "Oh, the best bits are still ahead of you then.",
    ),
    (
        "just started {show}, is it worth sticking with?",
        "Most people say it finds its feet after the first couple of episodes. Give it three?",
    ),
    (
        "@notsun",
        "finished {show} last night, that ending!!",
        "I know, right? Did it land for you or did you want more closure?",
        "I need to lie down",
        "Fair. Give it a day before you start anything new.",
    ),
    (
        "I slept eleven hours and I feel worse somehow",
        "Oversleeping can do that. Some water, daylight and a short walk usually reset things.",
    ),
    (
        "procrastinating on {chore}",
        "Set a timer for 15 minutes and just start; it's usually less awful than it looks.",
        "ok timer set",
        "You've got this!",
    ),
    (
        "finally dealt with {chore}, feel like a new person",
        "That's a great feeling. Treat yourself to something small!",
    ),
    (
        "@morning",
        "my coffee went cold three times this morning",
        "A sign of a busy morning! Maybe a thermos mug is in order.",
    ),
    (
        "@evening",
        "long day. just want to lie on the floor",
        "Sounds well earned. Floor time is valid. Anything I can help take off your plate?",
        "nah, just venting",
        "Vent away, I'm listening.",
    ),
    ("@mon", "ugh mondays", "Mondays are the worst. Small wins today: one thing done is enough."),
    (
        "@fri",
        "friday finally!!",
        "Happy Friday! Any plans for the weekend?",
        "not much, maybe a film",
        "Sounds perfect. Popcorn and blanket mandatory.",
    ),
    (
        "@winter",
        "the heating is broken and it's {bad}",
        "Oh no. Layers, a hot water bottle and maybe call the landlord first thing.",
    ),
    (
        "my phone screen cracked, third time this year",
        "That's rotten luck. A case with raised edges and a glass protector might save the next one.",
    ),
    (
        "I've had this song stuck in my head for three days",
        "The only cure is to listen to it all the way through, apparently!",
        "haha it did not work",
        "Then I'm afraid you live there now.",
    ),
    (
        "the guy at the cinema asked for my ID, I'm framing the moment",
        "As you should! Take the compliment.",
    ),
    (
        "do you ever get bored?",
        "Not really; every conversation is a bit different. What made you wonder?",
        "just curious haha",
        "Ha, fair enough!",
    ),
    (
        "can you remind me to drink water",
        "Consider this your reminder: go drink a glass of water now 💧",
        "done",
        "Excellent. Hydration champion.",
    ),
    ("hmm", "Something on your mind?", "nah all good", "Good to hear!"),
    (
        "I accidentally replied-all to the whole company",
        "Oof. It happens to everyone; a quick 'apologies, wrong reply' and move on.",
    ),
    ("the cat from next door keeps coming in through the window", "Ha! Sounds like you've been adopted part-time."),
    (
        "repotted all my plants, the kitchen is covered in soil",
        "Worth it for happy roots! Any favourites among them?",
        "just a pothos, it's unkillable apparently",
        "Very true; it'll forgive almost anything except drowning.",
    ),
    (
        "I think I'm getting a cold",
        "Rest, fluids and honey in hot water. Hope it passes quickly.",
        "thanks, that helps",
        "Feel better soon!",
    ),
    ("feeling much better today", "So glad to hear that!"),
    (
        "traffic was a nightmare",
        "Ugh, the worst. A podcast makes it a bit more bearable.",
        "any good podcasts?",
        "Depends on your taste: 'No Such Thing as a Fish' for trivia, 'Hardcore History' for deep dives, "
        "'Reply All' archives for internet stories.",
        "I'll try the fish one",
        "Good choice, it's very easy listening.",
    ),
    ("it's {good} so I did nothing productive and I regret nothing", "Perfect use of a nice day, honestly."),
    ("@winter", "why is it already dark at 5", "Winter is rude. Not long until the days start stretching again."),
    (
        "I burnt the toast. again.",
        "The toaster's setting might have drifted; try one notch lower.",
        "lol no, it's a skill issue",
        "Fair enough 😄",
    ),
    (
        "@morning @notsun",
        "watched {show} with {partner} instead of sleeping",
        "Worth it? Or regretting it this morning?",
        "both",
        "Ha, the classic combination.",
    ),
    (
        "@weekend",
        "my neighbour is drilling at 8am on a weekend",
        "That's cruel. Noise-cancelling headphones or a trip to a café?",
    ),
    (
        "what's a good word for 'very tired'",
        "Exhausted, drained, shattered, frazzled, knackered, bone-weary.",
        "shattered, that's the one",
        "Ha, a good one. Hope you get some rest.",
    ),
    ("I keep forgetting my umbrella", "Maybe keep a cheap one in your bag or at work permanently."),
    (
        "made {food} for tea and it was actually good",
        "Nice! What was the secret?",
        "too much garlic, there's no such thing",
        "Correct. Garlic is always measured with the heart.",
    ),
    (
        "I think {partner} is planning a surprise for something",
        "Ooh! Any guesses?",
        "no idea, they're being shifty",
        "The suspense! Enjoy it.",
    ),
    ("it's {bad} and I have to walk to the shop", "Brave! Proper coat and a hot drink waiting for you after."),
    (
        "sorry I've been quiet, busy week",
        "No need to apologise! Hope it's calming down.",
        "a bit, yeah",
        "Good. Go easy on yourself.",
    ),
    (
        "tried yoga this morning, I am not flexible",
        "Everyone starts there; flexibility comes with time. Gentle is good.",
    ),
    ("you're very patient with me", "Happy to help, always."),
    (
        "@mon",
        "happy new week",
        "Happy new week to you too! What's the main thing on your plate?",
        "nothing much, just work and sleep",
        "Sometimes a quiet week is exactly what's needed.",
    ),
    ("it's {good} today, went for a long walk at lunch", "Lovely! Walks like that do a lot for the afternoon."),
    (
        "my internet has been dying all day",
        "Frustrating! Restarting the router and checking the provider's status page usually narrows it down.",
        "restarting it fixed it, thanks",
        "Great, glad it's back!",
    ),
    (
        "@evening",
        "I ate an entire bag of crisps for dinner",
        "Sometimes that's what the day calls for. Maybe some veg tomorrow 😄",
    ),
    ("my {mum} called for an hour about the neighbour's hedge", "Ha, the hedge saga! Sounds like she needed a chat."),
    (
        "{mum} wants me to come for Sunday lunch, again",
        "Could be nice? A roast you didn't have to cook is hard to beat.",
        "true, and she does great gravy",
        "Then it's settled.",
    ),
    ("@winter", "wish I could hibernate", "Honestly, same energy as most of the animal kingdom in winter."),
    (
        "@summer",
        "it's so hot I'm sleeping with a wet towel on my feet",
        "Ha, whatever works! A bowl of ice in front of a fan helps too.",
    ),
    (
        "@summer",
        "{partner} wants to have a barbecue and it's {bad}",
        "Classic. An umbrella over the grill and optimism.",
    ),
    (
        "what's the difference between baking soda and baking powder again",
        "Baking soda is pure bicarbonate and needs an acid (yoghurt, lemon, buttermilk) to rise; baking powder "
        "already has the acid mixed in.",
    ),
    (
        "how do you spell 'necessary', I always get it wrong",
        "N-e-c-e-s-s-a-r-y: one collar, two sleeves.",
        "oh that's a good trick",
        "It sticks once you've heard it!",
    ),
    ("random question, how many teaspoons in a tablespoon", "Three teaspoons make one tablespoon."),
    (
        "my plant finally flowered!!",
        "Amazing! All that patience paid off. What kind is it?",
        "a peace lily, it's been sulking for a year",
        "They do sulk! Looks like it's forgiven you.",
    ),
    (
        "got a beautiful notebook as a present and now I'm scared to write in it",
        "The first page curse! Write something deliberately silly on page one and the spell breaks.",
    ),
    (
        "spent twenty minutes looking for my glasses, they were on my head",
        "A rite of passage. At least they were close!",
    ),
    (
        "ok random but what's a good name for a sourdough starter",
        "Some classics: Clint Yeastwood, Bread Pitt, Doughlene, or Jabba the Hutt.",
        "Bread Pitt it is",
        "Excellent choice. Long may he rise.",
    ),
    (
        "the washing machine is making a noise like a jet engine",
        "Could be a coin or something stuck in the drum or the filter; worth checking the filter at the bottom "
        "front first.",
        "it was a hair clip!",
        "Mystery solved! Well done.",
    ),
    (
        "I should go to bed but I'm reading wikipedia articles about shipwrecks",
        "The classic 1am rabbit hole. Bookmark it; the shipwrecks will still be there tomorrow.",
    ),
    (
        "@evening",
        "can't decide between pizza or curry tonight",
        "Flip a coin, and notice which side you're hoping for while it's in the air.",
        "curry. obviously",
        "The coin knew. Enjoy!",
    ),
    (
        "I signed up for a newsletter and now I get four emails a day",
        "Unsubscribe with no mercy! Most have a link right at the bottom.",
    ),
    (
        "I've got a dentist-style fear of haircuts, is that weird",
        "Not weird at all, lots of people find it stressful. Telling the hairdresser helps; good ones slow "
        "down for you.",
    ),
    (
        "went to the cinema alone for the first time, it was great actually",
        "Solo cinema is underrated: perfect seat, no sharing popcorn, no talking.",
    ),
    (
        "it's {bad} and the dog walker cancelled, someone else's dog obviously",
        "Ha, sounds like a soggy favour. Hope the dog appreciated it!",
    ),
    (
        "what's a good stretch for my neck, I slept funny",
        "Slowly tilt your ear towards your shoulder and hold 20 seconds, then chin to chest, and gentle "
        "shoulder rolls. Warmth helps too.",
    ),
    (
        "the supermarket moved everything around again",
        "They do it on purpose so you wander past more things! Annoying though.",
    ),
    ("@weekend", "lazy weekend, still in pyjamas at 2pm", "That's the dream. No regrets allowed."),
    (
        "@evening",
        "can't sleep, brain won't shut up",
        "Try writing down whatever's looping, then a slow breath pattern: in for 4, hold 4, out for 6. It "
        "gives the mind something dull to do.",
    ),
    (
        "I keep meaning to call my old school friend and never do",
        "Send a short message now saying you were thinking of them; it's easier than a call and opens the door.",
        "did it, she replied straight away",
        "Lovely! Sounds like she was happy to hear from you.",
    ),
    ("my parking ticket appeal got accepted!!", "Ha, justice! Well done for bothering to appeal."),
    (
        "I want to learn an instrument but I'm too old",
        "You're really not; adults learn faster at the start because they practise deliberately. Ukulele and "
        "piano are friendly first ones.",
    ),
]

OPENERS: list[tuple[str, ...]] = [
    ("hey", "Hey! How's it going?"),
    ("hi again", "Hi! What's up?"),
    ("@morning", "morning!", "Morning! How did you sleep?"),
    ("@evening", "evening", "Good evening! How was your day?"),
    ("me again 🙂", "Always happy to hear from you! What's on your mind?"),
    ("quick question", "Sure, go ahead!"),
    ("hello hello", "Hello! How are things?"),
    ("you around?", "Always! What can I do for you?"),
]

CLOSERS: list[tuple[str, ...]] = [
    ("ok gotta run, thanks!", "Anytime! Have a good one."),
    ("@evening", "night!", "Good night, sleep well!"),
    ("thanks, that's all for now", "You're welcome! Talk soon."),
    ("brb, dinner", "Enjoy your dinner!"),
    ("ok that makes sense, thanks", "Glad it helped!"),
    ("cheers", "Anytime 🙂"),
    ("haha yeah", "😄"),
    ("right, back to work", "Good luck with the rest of the day!"),
]

ADVICE: list[tuple[str, ...]] = [
    (
        "how do I get red wine out of a carpet?",
        "Blot (don't rub) with a clean cloth, pour a little cold water on and blot again, then cover with a paste "
        "of baking soda and water, let it dry and vacuum. For old stains, a mix of washing-up liquid and hydrogen "
        "peroxide works, but test it on a hidden patch first.",
    ),
    (
        "any tips for falling asleep faster?",
        "Keep a fixed wake-up time even on weekends, no screens for the last half hour, a cool dark room, and if "
        "you're awake for more than 20 minutes, get up and read something dull in dim light until you're sleepy.",
    ),
    (
        "what's a good quick lunch I can take to work?",
        "Jar salads work well: dressing at the bottom, then grains like farro or couscous, chickpeas or chicken, "
        "then crunchy veg and leaves on top. Shake it into a bowl at lunch. They keep three days in the fridge.",
    ),
    (
        "how do I stop my houseplants from dying",
        "Most die from overwatering: water only when the top two centimetres of soil are dry, make sure pots "
        "drain, and put them where they get bright indirect light. Cut back in winter when they grow slowly.",
    ),
    (
        "how should I start budgeting, I'm terrible with money",
        "Start simple: list fixed costs, set up an automatic transfer to savings on payday, and give yourself a "
        "weekly spending amount for everything else. Track it for a month before trying anything fancier.",
    ),
    (
        "what's a good stretch for sitting all day",
        "Every hour: stand up, do a hip flexor stretch (kneel on one knee, push the hips forward) for 30 seconds "
        "a side, roll your shoulders back ten times and do a chin tuck. A short walk beats any stretch though.",
    ),
    (
        "how long do I boil an egg for a runny yolk",
        "Six minutes from boiling water for a large egg, then straight into cold water for a minute. Six and a "
        "half if you like the white fully set, seven for jammy.",
    ),
    (
        "how do I get better at remembering people's names?",
        "Say the name back when you hear it ('nice to meet you, Sam'), link it to something vivid about them, "
        "and use it once more before you part. Writing it down afterwards helps it stick.",
    ),
    (
        "is it worth learning to touch type at my age",
        "Absolutely; most people get back to their old speed within two to three weeks of 15 minutes' daily "
        "practice, and then overtake it. Free sites like keybr or monkeytype make it almost fun.",
    ),
    (
        "how do I descale a kettle",
        "Fill it halfway with equal parts water and white vinegar (or a couple of spoons of citric acid), boil, "
        "leave for an hour, then rinse well and boil fresh water once or twice to get rid of the taste.",
    ),
    (
        "what should I pack for a rainy weekend camping",
        "A good tent with a proper footprint, a waterproof jacket and trousers, wool layers instead of cotton, "
        "spare socks in a dry bag, a tarp to cook under, head torch, and something fun for the tent in the evening.",
    ),
    (
        "any ideas for a cheap date night at home",
        "Cook a dish from a country neither of you has visited, with music from there; or a 'blind tasting' of "
        "cheap snacks or wines; or a board game tournament with a silly trophy.",
    ),
    (
        "how do I write a polite complaint email",
        "Keep it short: what happened with dates and reference numbers, how it affected you, and exactly what you "
        "want them to do by when. Friendly but firm, and no more than three paragraphs.",
    ),
    (
        "what can I do with overripe bananas besides banana bread",
        "Freeze them in chunks for smoothies, blend frozen ones into 'nice cream', make banana pancakes with just "
        "two eggs and one banana, or bake oat cookies with mashed banana and peanut butter.",
    ),
    (
        "how do I make my small living room look bigger",
        "A large mirror opposite the window, furniture on legs, one big rug rather than several small ones, "
        "lighter walls, and clearing the floor near the door so the first view is open.",
    ),
    (
        "I want to read more, any tricks?",
        "Keep a book where you usually scroll (bedside, bag, sofa), read ten pages before bed, and give yourself "
        "permission to drop books you're not enjoying. Audiobooks on walks count too.",
    ),
    (
        "how often should I wash my running shoes",
        "Rarely in the machine; it breaks down the foam. Brush off mud once dry and hand-wash with mild soap when "
        "they smell. Stuff them with newspaper to dry, never on a radiator.",
    ),
    (
        "how do I keep basil alive",
        "Supermarket basil is several plants crammed in one pot: split it into three pots, keep it in a sunny "
        "window, water from below, and pinch off the tops above a pair of leaves so it bushes out.",
    ),
    (
        "what's a nice thing to do for a friend who's having a hard time",
        "Something practical often means the most: drop off a meal, offer a specific time to walk together, or "
        "send a message that doesn't need an answer. Keeping in touch over weeks matters more than one big gesture.",
    ),
    (
        "how do I say no to extra work without sounding lazy",
        "Name your current priorities and ask which should move: 'I'm on X and Y this week; if this is more "
        "urgent, which one should slip?' It shows you're committed, and puts the trade-off where it belongs.",
    ),
    (
        "best way to clean a cast iron pan?",
        "Hot water and a stiff brush while it's still warm; a little soap is fine. Dry it on the hob, then wipe "
        "a thin film of oil over it. For rust, scrub it off, then oil and bake upside down at 230°C for an hour.",
    ),
    (
        "how do I get motivated to exercise when it's dark out",
        "Lay your kit out the night before, arrange to meet someone, and make the first goal tiny (ten minutes). "
        "Indoor options like a home workout video count on the worst days.",
    ),
    (
        "can you suggest a good soup for a cold day",
        "French onion soup: slowly caramelise four sliced onions in butter for 40 minutes, add a splash of wine, "
        "a litre of beef stock and thyme, simmer 20 minutes, and finish under the grill with bread and gruyère.",
    ),
    (
        "what's the trick to fluffy rice",
        "Rinse until the water runs clear, use 1.5 parts water to 1 part rice for long grain, bring to a boil, "
        "cover and cook on the lowest heat for 12 minutes, then leave it covered off the heat for 10.",
    ),
]


# Everyday chatter built from slots: many distinct messages, none about the facts asked.
SLOTS: dict[str, list[str]] = {
    "tv_verb": options(
        "I've been watching|I finally started|I'm halfway through|I keep falling asleep during|I'm rewatching|"
        "{partner} got me into"
    ),
    "tv_verb_we": options("binging|slowly working through|rewatching|arguing about|hooked on"),
    "tv_take": options(
        "so good|not sure about it yet|the soundtrack is amazing|{partner} hated it|I cried, don't tell anyone|"
        "the plot makes no sense but I can't stop|the last episode was a bit of a letdown"
    ),
    "meal": options("dinner|lunch|breakfast|tea"),
    "dish": options(
        "gnocchi|bagels|dumplings|a lemon drizzle cake|focaccia|tortillas|a proper risotto|croissants|ramen broth|"
        "pad thai|hummus|a pie"
    ),
    "result": options(
        "a total disaster|surprisingly edible|better than the shop ones|the smoke alarm disagreed|"
        "gone in ten minutes|a bit wonky but we ate it anyway"
    ),
    "errand": options(
        "queueing at the post office to return two parcels|on hold with the bank|looking for a parking space|"
        "at the tip with a car full of cardboard|sorting out the recycling|"
        "waiting for the boiler engineer|at the garage for an MOT|untangling the garden hose"
    ),
    "duration": options("an hour|forty minutes|the whole morning|two hours|most of the afternoon"),
    "transport": options("train|bus|tram|ferry"),
    "late": options("twenty minutes late|cancelled|packed like sardines|stuck outside the station for ages"),
    "slept": options("terribly|like a log|about four hours|badly"),
    "because": options(
        "the neighbours had a party|my brain wouldn't stop|it was way too hot|a fox was screaming outside|"
        "no idea why|{partner} snores like a tractor"
    ),
    "meetings": options("four|five|six|seven"),
    "treat": options("brownies|a box of doughnuts|homemade flapjacks|cinnamon buns|a huge fruit platter"),
    "someone": options("someone at work|my colleague|the new guy on the team|a neighbour"),
    "appliance": options("dishwasher|boiler|printer|toaster|hoover|fridge|washing machine"),
    "broken": options(
        "making a grinding noise|playing up again|flashing an error code|completely dead|"
        "doing something new and alarming"
    ),
    "room": options("living room|kitchen|spare room|hallway|bedroom"),
    "sky": options(
        "pouring|freezing|grey and drizzly|blowing a gale|foggy|sunny|gorgeous|actually warm|clear and crisp|humid"
    ),
    "when": options("this morning|this afternoon|all day|tonight"),
    "plan": options(
        "so I'm staying in|perfect excuse for soup|so obviously I forgot my coat|so I'm off for a walk|"
        "so the washing is never going to dry"
    ),
    "thing": options(
        "my phone|my wallet|the TV remote|my bike lock|the charger|my library card|the spare key|my water bottle"
    ),
    "where": options("in the fridge|in my coat pocket|in the car|under the sofa|in the washing basket|on my head"),
    # habits and wishes, never what happened on one particular Saturday or what was actually bought
    "saturday": options(
        "Saturday mornings are for lie-ins and nothing else|the Saturday market near us has the best bread|"
        "supermarkets on a Saturday are pure chaos|I love a slow Saturday with nowhere to be|"
        "why do Saturdays go so much faster than Mondays|Saturday is the only day I make a proper breakfast|"
        "Saturday night TV is so bad these days|every Saturday the neighbours mow their lawn at 8am"
    ),
    "wish": options(
        "a new phone|a coffee grinder|a kayak|a smartwatch|a second-hand piano|a new duvet|a fancy blender|"
        "a rowing machine|a pizza oven|an e-bike"
    ),
}

# (user, replies separated by "|")
FAMILIES: list[tuple[str, str]] = [
    (
        "{tv_verb} {show}, {tv_take}",
        "Ha, good to hear what you make of it. Would you recommend it?|Fair! Some shows take a while to click."
        "|Sounds like a cosy evening. Are you going to keep going with it?",
    ),
    (
        "we're {tv_verb_we} {show}. {tv_take}",
        "Sounds like a proper evening in. Anything else on the watchlist?|Ha, that's the sign of a good show."
        "|Shared TV is the best TV, even when you disagree about it.",
    ),
    (
        "tried making {dish} from scratch, {result}",
        "Good for you for trying! It always gets easier the second time.|Ha, the first attempt is always the test run."
        "|Respect for making it from scratch at all!",
    ),
    (
        "made {dish} for {meal}, {result}",
        "Ha, that's the joy of home cooking. Would you make it again?|Sounds like a win to me."
        "|Homemade always tastes better, even when it goes a bit wrong.",
    ),
    (
        "spent {duration} {errand}",
        "What a way to lose a chunk of the day. Hope the rest of it is kinder.|Ugh, the admin of being an adult."
        "|That deserves a biscuit and a sit-down.",
    ),
    (
        "the {transport} was {late} again",
        "Ugh, the worst. A podcast or a book at least makes the wait less awful.|So frustrating. Hope you got there "
        "in the end!|Public transport roulette. Sorry!",
    ),
    (
        "slept {slept}, {because}",
        "Sleep makes such a difference. Maybe an early night tonight?|Sleep is so easily wrecked. Go easy today."
        "|Hope tonight is a better one.",
    ),
    (
        "{meetings} meetings today and none of them needed to happen",
        "Meeting fatigue is real. Block some focus time in your calendar?|Could have been an email, every one of them."
        "|Oof. Hope you got some actual work done in between.",
    ),
    (
        "{someone} brought in {treat}, best day of the week",
        "Treat days are the best days. Did you save some for later?|That's the kind of colleague everyone needs."
        "|Lovely! Small things like that make a week.",
    ),
    (
        "the {appliance} is {broken}",
        "Annoying! Worth checking the manual's troubleshooting page before calling anyone out.|Oh no. Appliances "
        "always pick the worst week.|Try turning it off at the wall for a minute; it fixes more than you'd think.",
    ),
    (
        "{partner} rearranged the {room} again, I walked into a chair",
        "Ha! Rearranging is fun until the night-time walk to the kitchen.|Ouch! Any better than the old layout though?",
    ),
    ("it's {sky} {when}, {plan}", "Fair enough! Make the most of it either way.|Ha, sounds about right."),
    (
        "lost {thing} for twenty minutes, found it {where}",
        "Classic. At least it turned up!|Ha, it's always the last place.",
    ),
    ("{saturday}", "Ha, so true.|Weekends have their own rules.|Honestly, fair."),
    (
        "thinking about buying {wish}, talk me out of it",
        "Ask yourself if you'd still want it in a month; if yes, it's probably worth it.|Sleep on it for a week and "
        "see if the urge survives.|Would you use it every week? If not, maybe borrow or rent one first.",
    ),
]

TRIVIA: list[tuple[str, ...]] = [
    (
        "what's the capital of Australia, I always forget",
        "Canberra, not Sydney; it was built as a compromise between Sydney and Melbourne.",
    ),
    ("how many teaspoons in a tablespoon", "Three teaspoons make one tablespoon."),
    (
        "how long do you rest a steak",
        "About half the cooking time, so five minutes for a steak cooked ten minutes in total.",
    ),
    ("what temperature is a moderate oven", "Around 180°C, 350°F or gas mark 4."),
    ("is a tomato a fruit", "Botanically yes, it's a berry; in the kitchen it's treated as a vegetable."),
    ("how many weeks in a year exactly", "52 weeks and one day, or two in a leap year."),
    (
        "why do onions make you cry",
        "Cutting them releases a sulphur compound that irritates your eyes; a sharp knife and a cold onion help.",
    ),
    (
        "what's the difference between a cold and the flu",
        "Flu usually hits suddenly with fever and aches; a cold comes on gradually and stays in the nose and throat.",
    ),
    (
        "how do I convert grams of flour to cups",
        "Roughly 125 g of plain flour is one US cup, but weighing is always more accurate.",
    ),
    ("what does 'per se' actually mean", "'By itself' or 'in itself': the thing as such, not what comes with it."),
    (
        "how many hours of sleep does an adult need",
        "Most adults need seven to nine hours; consistency matters as much as the total.",
    ),
    (
        "why is the sky blue",
        "Air scatters short blue wavelengths of sunlight much more than red ones, so blue light reaches you "
        "from every direction.",
    ),
    ("how do you pronounce 'quinoa'", "KEEN-wah."),
    (
        "can you freeze cooked rice",
        "Yes: cool it quickly, freeze within an hour or so, and reheat until piping hot. Use within a month.",
    ),
    (
        "what's a good tip for a cheap but nice bottle of wine",
        "Look for lesser-known regions: Portuguese reds, Spanish Garnacha, or Chilean Carménère often punch "
        "above their price.",
    ),
]


def fits(conditions: str, day: date, hour: int) -> bool:
    """Whether an exchange marked with these conditions can come up on this day at this hour."""
    holds = {
        "@mon": day.weekday() == 0,
        # "last night" on a Sunday is a Saturday, which some questions ask about: kept out of Sundays.
        "@notsun": day.weekday() != 6,
        "@fri": day.weekday() == 4,
        "@weekend": day.weekday() >= 5,
        "@winter": day.month in (11, 12, 1, 2),
        "@summer": day.month in (6, 7, 8),
        "@evening": hour >= 18,
        "@morning": hour < 11,
    }
    return all(holds[c] for c in conditions.split())


def chat(p: Plan, pool: Sequence[tuple[str, ...]], used: set[str], day: date, hour: int) -> Beat:
    """One exchange from `pool` that fits the day, not used before by this user while fresh ones are left."""
    rng = p.rng
    fitting = [e for e in pool if not e[0].startswith("@") or fits(e[0], day, hour)]
    fresh = [e for e in fitting if e[-1] not in used] or fitting
    entry = rng.choice(fresh)
    used.add(entry[-1])
    values = {
        "bad": rng.choice(WEATHER_BAD),
        "good": rng.choice(WEATHER_GOOD),
        "food": rng.choice(FOODS),
        "show": rng.choice(SHOWS),
        "chore": rng.choice(CHORES),
        "partner": p.persona["partner"],
        "mum": p.loc["mum"],
    }
    texts = [t.format(**values) for t in entry if not t.startswith("@")]

    def beat(today: date) -> list[Line]:
        return [Line("user" if k % 2 == 0 else "assistant", t) for k, t in enumerate(texts)]

    return beat


def family_chat(p: Plan) -> Beat:
    """An exchange from FAMILIES with its slots filled."""
    rng = p.rng
    user, replies = rng.choice(FAMILIES)
    reply = rng.choice(options(replies))
    values = {k: rng.choice(v) for k, v in SLOTS.items()}
    values |= {"show": rng.choice(SHOWS), "partner": p.persona["partner"]}
    text = user.format(**values).format(partner=p.persona["partner"])
    return lambda today: pairs(u(text), a(reply))


def filler(p: Plan, used: set[str], day: date, hour: int) -> Beat:
    """Everyday chatter, small talk, a request for advice, or a quick question."""
    roll = p.rng.random()
    if roll < 0.4:
        return family_chat(p)
    if roll < 0.75:
        return chat(p, SMALL_TALK, used, day, hour)
    return chat(p, ADVICE if roll < 0.9 else TRIVIA, used, day, hour)


# --- putting one user together -------------------------------------------------------------------------


def build_user(index: int, seed: int) -> dict[str, Any]:
    rng = random.Random(f"{seed}-{index}")
    user_id = f"recall-u{index:02d}"
    plan = Plan(rng, user_id, make_persona(rng, index), make_days(rng))
    for story in STORIES:
        story(plan)
    used: set[str] = set()
    seen: set[str] = set()
    sessions = []
    total = 0
    for s, day in enumerate(plan.days):
        hour = rng.randint(7, 21)
        beats = list(plan.beats.get(s, []))
        target = rng.randint(4, 7)  # exchanges besides opener and closer; story beats have one or two pairs each
        middle = beats + [filler(plan, used, day, hour) for _ in range(max(1, target - len(beats)))]
        rng.shuffle(middle)
        if rng.random() < 0.6:
            middle.insert(0, chat(plan, OPENERS, used, day, hour))
        if rng.random() < 0.4:
            middle.append(chat(plan, CLOSERS, used, day, hour))
        lines = [line for beat in middle for line in beat(day)]
        stamp = datetime.combine(day, time(hour, rng.randrange(60)), UTC)
        messages = []
        for turn, line in enumerate(lines):
            text = line.text
            if line.role == "user" and rng.random() < (0.35 if line.keys else 0.15):
                text = ramble(text, rng, plan.persona)
            text = unique(text, line.role, seen, rng)
            messages.append(
                {
                    "turn": turn,
                    "role": line.role,
                    "content": text,
                    "created_at": stamp.isoformat().replace("+00:00", "Z"),
                    "keys": sorted(line.keys),
                }
            )
            stamp += timedelta(seconds=rng.randint(8, 50) if line.role == "user" else rng.randint(25, 240))
        total += len(messages)
        sessions.append({"session_id": f"{user_id}-s{s:02d}", "messages": messages})
    # Top up with small talk until the conversation is long enough (rarely needed).
    while total < 320:
        session = rng.choice(sessions)
        last = session["messages"][-1]
        stamp = datetime.fromisoformat(last["created_at"].replace("Z", "+00:00"))
        for line in filler(plan, used, stamp.date(), stamp.hour)(stamp.date()):
            stamp += timedelta(seconds=rng.randint(20, 120))
            session["messages"].append(
                {
                    "turn": len(session["messages"]),
                    "role": line.role,
                    "content": unique(line.text, line.role, seen, rng),
                    "created_at": stamp.isoformat().replace("+00:00", "Z"),
                    "keys": [],
                }
            )
            total += 1
    questions = label(plan, sessions)
    return {
        "user_id": user_id,
        "persona": public_persona(plan.persona),
        "sessions": sessions,
        "questions": questions,
    }


# People often wrap news in other chatter; a message then carries more than one topic.
RAMBLE_BEFORE = [
    "ugh what a week.",
    "sorry, been a mad few days.",
    "news!",
    "random update:",
    "right, news:",
    "the kids have been sick all week so I'm running on fumes.",
    "{partner} says hi btw.",
    "it's {bad} here again.",
    "work was mental today.",
    "finally sat down with a cup of tea.",
    "so much to tell you.",
    "I'm on the bus so excuse typos.",
    "can't sleep so here I am.",
    "quick one before I forget:",
]
RAMBLE_AFTER = [
    "anyway, how's your day going?",
    "also what should I make for dinner, I have no ideas left",
    "also I need to remember to call the bank tomorrow",
    "anyway. back to the washing mountain",
    "also is it normal to be this tired all the time?",
    "in other news I've run out of coffee",
    "also {partner} ate my leftovers again",
    "and my phone is on 3% so if I vanish that's why",
    "also I think I'm coming down with something",
    "in unrelated news, it's {bad} and my umbrella broke",
    "anyway, the {show} finale is tonight so I'm hiding from spoilers",
    "also the car is making a new noise, which is great",
]


def ramble(text: str, rng: random.Random, persona: dict[str, Any]) -> str:
    """The message with some unrelated chatter before or after it."""
    values = {"partner": persona["partner"], "bad": rng.choice(WEATHER_BAD), "show": rng.choice(SHOWS)}
    if rng.random() < 0.5:
        return f"{rng.choice(RAMBLE_BEFORE).format(**values)} {text}"
    return f"{text}. {rng.choice(RAMBLE_AFTER).format(**values)}"


_TAILS = {
    "user": (" haha", " lol", "!", " :)", " 🙂", "...", " tbh", " anyway", " ha", "!!"),
    "assistant": (" 🙂", " 😊", " 👍", "!", " ✨", " 💪"),
}


def unique(text: str, role: str, seen: set[str], rng: random.Random) -> str:
    """Contents are unique per user, so a message can be found by its text alone."""
    out = text
    while out in seen:
        out = text + "".join(rng.choice(_TAILS[role]) for _ in range(1 + (rng.random() < 0.4)))
    seen.add(out)
    return out


def label(plan: Plan, sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each question's evidence: every message in its roles that carries one of its keys."""
    out = []
    for n, q in enumerate(plan.questions):
        evidence = [
            {"session_id": s["session_id"], "turn": m["turn"]}
            for s in sessions
            for m in s["messages"]
            if m["role"] in q.roles and q.keys & set(m["keys"])
        ]
        if not evidence:
            raise AssertionError(f"{plan.user_id}: no evidence for {q.text!r} ({sorted(q.keys)})")
        texts = [
            m["content"]
            for s in sessions
            for m in s["messages"]
            if {"session_id": s["session_id"], "turn": m["turn"]} in evidence
        ]
        out.append(
            {
                "id": f"{plan.user_id}-q{n:02d}",
                "kind": q.kind,
                "question": q.text,
                "answer": q.answer,
                "roles": list(q.roles),
                "evidence": evidence,
                "overlap": round(overlap(q.text, texts, stem=False), 3),
                "overlap_stemmed": round(overlap(q.text, texts, stem=True), 3),
            }
        )
    return out


def public_persona(persona: dict[str, Any]) -> dict[str, Any]:
    """The persona as plain data, for a reader of the JSON."""
    out = dict(persona)
    out["job"] = persona["job"]["title"]
    out["hobby"] = persona["hobby"]["name"]
    out["injury"] = persona["injury"]["part"]
    out["group"] = persona["group"]["what"]
    out["diet"] = persona["diet"]["says"]
    out["trip"] = persona["trip"]["city"]
    out["purchases"] = [x["item"] for x in persona["purchases"]]
    out["gift"] = persona["gift"][0]
    out["recipe"] = persona["recipe"][2]
    out["show_rec"] = persona["show_rec"][0]
    return out


def stats(users: list[dict[str, Any]]) -> dict[str, Any]:
    questions = [q for user in users for q in user["questions"]]
    per_kind: dict[str, Any] = {}
    for kind in KINDS:
        qs = [q for q in questions if q["kind"] == kind]
        if qs:
            per_kind[kind] = {
                "questions": len(qs),
                "overlap": round(statistics.mean(q["overlap"] for q in qs), 3),
                "overlap_stemmed": round(statistics.mean(q["overlap_stemmed"] for q in qs), 3),
                "evidence_per_question": round(statistics.mean(len(q["evidence"]) for q in qs), 2),
            }
    messages = [m for user in users for s in user["sessions"] for m in s["messages"]]
    days = [datetime.fromisoformat(s["messages"][0]["created_at"]) for user in users for s in user["sessions"]]
    return {
        "users": len(users),
        "sessions": sum(len(user["sessions"]) for user in users),
        "messages": len(messages),
        "user_messages": sum(m["role"] == "user" for m in messages),
        "messages_per_user_min": min(sum(len(s["messages"]) for s in user["sessions"]) for user in users),
        "questions": len(questions),
        "questions_per_user_min": min(len(user["questions"]) for user in users),
        "first_day": min(days).date().isoformat(),
        "last_day": max(days).date().isoformat(),
        "per_kind": per_kind,
    }


def generate(users: int, seed: int) -> dict[str, Any]:
    data = [build_user(i, seed) for i in range(users)]
    return {"seed": seed, "generator": "benchmarks/recall/generate.py", "stats": stats(data), "users": data}


def show(user: dict[str, Any]) -> None:
    for s in user["sessions"]:
        print(f"\n=== {s['session_id']} {s['messages'][0]['created_at']}")
        for m in s["messages"]:
            keys = f"   [{', '.join(m['keys'])}]" if m["keys"] else ""
            print(f"{m['turn']:>3} {m['role'][:4]}: {m['content']}{keys}")
    print()
    for q in user["questions"]:
        print(f"{q['kind']:>10} {q['overlap']:.2f} {q['question']}  -> {q['answer']}  {len(q['evidence'])} ev")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write the JSON here (default: print the stats only)")
    parser.add_argument("--show", type=int, metavar="USER", help="print this user's conversation and questions")
    args = parser.parse_args()
    data = generate(args.users, args.seed)
    if args.out:
        args.out.write_text(json.dumps(data, ensure_ascii=False, indent=1))
        print(f"wrote {args.out}")
    if args.show is not None:
        show(data["users"][args.show])
    print(json.dumps(data["stats"], indent=1))


if __name__ == "__main__":
    main()
