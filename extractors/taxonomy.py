"""The default taxonomy for customer conversations: the labels a tenant starts with before editing its own.

Descriptions and examples are embedded as prototypes, so they are written as a customer would put it; the
cues are phrases that, in a customer conversation, nearly always mean the label. The sentiment words fix
the lexicon where customer-service usage differs from everyday English ("support" and "credit" are nouns
here, not praise; "crashes" and "outage" are bad news). A complaint told as plain facts, which no lexicon
scores, is left to the embedding's vote against the polarity examples (`extractors/polarity_examples.py`); the
intentions' leans add what a request means for the mood (a polite refund request is still bad news).
"""

from __future__ import annotations

from typing import Any

from extractors.polarity_examples import POLARITY_EXAMPLES
from extractors.signals import Taxonomy


def _label(name: str, description: str, examples: list[str], cues: list[str], lean: float = 0.0) -> dict[str, Any]:
    return {"name": name, "description": description, "examples": examples, "cues": cues, "sentiment_lean": lean}


TOPICS = [
    _label(
        "billing",
        "Charges, invoices, receipts, payment methods, refunds and renewals.",
        [
            "I was charged twice for the same month.",
            "Where can I download my invoices?",
            "My credit card payment failed.",
            "When will the refund show up on my card?",
            "Please put our VAT number on the receipts.",
        ],
        ["invoice*", "charge", "charged", "charges", "billed", "billing", "receipt*", "payment*", "credit card",
         "card", "refund*", "renewal", "auto-renew", "statement", "vat", "overcharged", "paid"],
    ),
    _label(
        "pricing",
        "Prices, plans and tiers, discounts, and whether the product is worth what it costs.",
        [
            "How much does the Pro plan cost?",
            "Your prices are too high for a small team.",
            "Do you offer a discount for annual billing?",
            "Which plan includes more storage?",
            "It's not worth the money anymore.",
        ],
        ["price*", "pricing", "plan", "plans", "tier*", "discount*", "expensive", "cheap*", "cost*", "afford*",
         "per month", "a month", "per user", "budget", "pricey", "overpriced", "promo*", "coupon*", "worth",
         "value for money", "free", "$*"],
    ),
    _label(
        "support",
        "Contacting the support team: tickets, response times, agents, chat and callbacks.",
        [
            "Nobody from support has answered my ticket.",
            "The agent I chatted with was very helpful.",
            "Can I talk to a real person?",
            "I've been waiting days for a reply.",
        ],
        ["support", "ticket*", "agent*", "reply", "replied", "respond*", "chatbot", "on hold",
         "call me back", "customer service", "real person", "human"],
    ),
    _label(
        "onboarding",
        "Getting started: signing up, first setup, importing data, inviting the team, tutorials and guides.",
        [
            "I just signed up, where do I begin?",
            "Is there a guide for setting up my first project?",
            "How do I import my data from the tool we used before?",
            "The setup wizard was easy to follow.",
        ],
        ["signed up", "sign up", "getting started", "get started", "setup", "set up", "tutorial*", "guide",
         "onboard*", "first time", "import*", "migrat*", "trial", "invite*", "docs", "documentation"],
    ),
    _label(
        "bugs",
        "Something in the product is broken: errors, crashes, wrong results, features that stopped working.",
        [
            "The app crashes when I open the settings.",
            "I get an error message when I save.",
            "The export gives me an empty file.",
            "This button stopped working after the update.",
        ],
        ["bug*", "error*", "crash*", "broken", "doesn't work", "does not work", "not working", "stopped working",
         "fails", "failed", "glitch*", "freez*", "went wrong", "something is wrong", "doesn't load", "don't load",
         "won't load", "not loading", "didn't save", "not saving", "never arrive*", "duplicate*", "isn't being"],
    ),
    _label(
        "performance",
        "Speed and availability: slowness, timeouts, lag, downtime and outages.",
        [
            "The site is very slow today.",
            "Pages take forever to load.",
            "Your service is down again.",
            "Uploads keep timing out.",
            "The app got much faster after the update.",
        ],
        ["slow*", "lag*", "fast*", "faster", "speed", "to load", "forever", "timeout*", "timing out", "time out",
         "down", "outage*", "downtime", "uptime", "latency", "response time*", "spinning"],
    ),
    _label(
        "features",
        "What the product can do: capabilities, limits, new features and feature requests.",
        [
            "Can you add a dark mode?",
            "Does it support recurring tasks?",
            "The new automation feature is great.",
            "Is there a limit on how many projects I can have?",
            "It would be great to export reports as PDF.",
        ],
        ["feature*", "support for", "ability to", "option to", "would be nice", "would be great", "would be awesome",
         "dark mode", "limit", "does it support", "any plans", "no way to", "still no", "bring back", "shortcut*",
         "mode"],
    ),
    _label(
        "cancellation",
        "Ending the relationship: cancelling a subscription or an order, closing or deleting the account.",
        [
            "Please cancel my subscription.",
            "How do I close my account?",
            "I want to stop the automatic renewal.",
            "Delete my account and all my data.",
            "What happens to my data if I cancel?",
        ],
        ["cancel*", "close my account", "close our account", "delete my account", "delete our", "unsubscribe",
         "terminate", "stop renewing", "auto-renew", "end of the term", "i'm out", "i'm done"],
    ),
    _label(
        "account",
        "Access to and settings of an account: login, password, email address, users, seats, roles, workspaces.",
        [
            "I can't log in to my account.",
            "How do I reset my password?",
            "Can I add another admin to our workspace?",
            "I need to change the email address on my profile.",
            "How do I remove a user who left the company?",
        ],
        ["account", "log in", "login", "logged out", "password*", "sign in", "username", "email address",
         "profile", "admin*", "seat*", "workspace*", "owner*", "locked out"],
    ),
    _label(
        "integrations",
        "Connecting other tools and the API: Slack, Zapier, Salesforce, calendars, webhooks, SDKs, API keys.",
        [
            "How do I connect Slack?",
            "The Zapier integration stopped syncing.",
            "Do you have an API for creating tasks?",
            "Our webhooks are not firing.",
            "Is there a native Salesforce integration?",
        ],
        ["integrat*", "api", "webhook*", "sdk", "zapier", "slack", "salesforce", "hubspot", "shopify", "jira",
         "gmail", "google calendar", "sync*", "connect*", "plugin*", "oauth", "api key"],
    ),
    _label(
        "security",
        "Security and privacy: data protection, encryption, GDPR, compliance, SSO, two-factor, breaches.",
        [
            "Is our data encrypted at rest?",
            "Are you GDPR compliant?",
            "Someone logged into my account from another country.",
            "Do you support SSO?",
            "Why does the app need access to my contacts?",
        ],
        ["security", "secure", "privacy", "private", "gdpr", "dpa", "encrypt*", "sso", "2fa", "two-factor",
         "two factor", "hacked", "breach*", "compliance", "compliant", "soc 2", "suspicious", "permission*",
         "data protection"],
    ),
    _label(
        "shipping",
        "Physical orders: delivery, tracking, carriers, delays, damaged or wrong items, returns and exchanges.",
        [
            "Where is my package?",
            "The tracking number doesn't work.",
            "My order arrived damaged.",
            "Do you ship to Canada?",
            "How do I return an item?",
        ],
        ["ship*", "deliver*", "tracking", "package*", "parcel*", "order", "courier", "carrier", "return label",
         "returns", "exchange", "arrived", "express"],
    ),
    _label(
        "usability",
        "How easy the product is to use: interface, design, navigation, number of clicks, readability.",
        [
            "The new interface is confusing.",
            "I can't find anything since the redesign.",
            "It takes too many clicks to do anything.",
            "Really intuitive, easy to use.",
            "The text is too small to read.",
        ],
        ["ui", "ux", "interface", "design", "redesign", "confusing", "intuitive", "easy to use", "clicks",
         "navigat*", "layout", "font", "hard to find", "cluttered"],
    ),
]  # fmt: skip

INTENTIONS = [
    _label(
        "wants refund",
        "The user asks for their money back, or for a charge to be reversed or credited.",
        [
            "I want a refund.",
            "Please give me my money back.",
            "Reverse this charge.",
            "Can I get credit for the months I didn't use?",
            "I'd like to be reimbursed for this order.",
            "Please credit my account for the outage.",
            "I expect the charge to be returned to my card.",
        ],
        ["refund", "refund it", "money back", "reverse*", "reimburs*", "chargeback", "dispute", "credited",
         "fee back"], -0.4,
    ),
    _label(
        "considering alternatives",
        "The user is looking at, comparing with or switching to a competitor or another tool.",
        [
            "We're evaluating other tools.",
            "Another company does this for half the price.",
            "I'm thinking about switching.",
            "We're moving to another provider next month.",
            "Other apps do this much better.",
            "If this isn't fixed we'll find another vendor.",
            "We're trialling a competitor right now.",
        ],
        ["switch*", "competitor*", "alternative*", "other options", "other tools", "another tool", "another provider",
         "other providers", "providers", "elsewhere", "evaluating", "instead", "moving to", "going back to",
         "will try", "looking at", "free tool"], -0.4,
    ),
    _label(
        "needs help",
        "The user is stuck, asks how to do something, or asks for help to solve a problem.",
        [
            "How do I do this?",
            "Can you help me set this up?",
            "Where do I find this setting?",
            "I can't figure out how to make it work.",
            "Can you check what's wrong with my order?",
            "I can't find where to change my notification settings.",
            "What am I doing wrong? The import keeps failing.",
            "Could you reset my account for me?",
            "Why does my dashboard show no data?",
        ],
        ["how do i", "how can i", "how do we", "how does", "how to", "where do i", "where can i", "where is",
         "where are", "can you help", "help me", "please help", "can someone", "can you check", "can you update",
         "can you change", "stuck", "can't figure", "is there a way", "what's going on", "not sure how"],
    ),
    _label(
        "wants to cancel",
        "The user wants to cancel or leave: end a subscription, cancel an order or close the account.",
        [
            "Cancel my subscription.",
            "I'm cancelling.",
            "Close my account.",
            "I'm done with this, end my plan.",
            "Please don't renew my plan.",
            "I no longer want this service.",
            "We won't be continuing after this month.",
        ],
        ["cancel", "cancelling", "canceling", "close my account", "close our account", "delete my account",
         "delete our account", "delete our workspace", "i'm out", "i'm done", "stop renewing", "unsubscribe",
         "leaving", "terminate"], -0.4,
    ),
    _label(
        "wants upgrade",
        "The user wants a higher plan, more seats or capacity, or to start paying.",
        [
            "How do I upgrade to Pro?",
            "We need ten more seats.",
            "We're ready to buy the annual plan.",
            "Which plan has higher limits?",
            "We've outgrown our current plan.",
            "We'd like to buy more licences.",
        ],
        ["upgrad*", "more seats", "higher plan", "enterprise", "business plan", "ready to pay", "ready to buy"],
    ),
    _label(
        "wants downgrade",
        "The user wants a lower or cheaper plan, fewer seats or less capacity.",
        [
            "Can I downgrade to the basic plan?",
            "We only need two seats now.",
            "Move me to a cheaper plan.",
            "Switch us to a smaller tier.",
            "We don't need all these features, is there a smaller plan?",
            "Reduce our licences to three.",
        ],
        ["downgrad*", "cheaper plan", "lower plan", "lower tier", "basic plan", "starter plan", "fewer seats"], -0.2,
    ),
    _label(
        "reporting a bug",
        "The user reports that something is broken, shows an error, crashes or is down.",
        [
            "I'm getting an error when I save.",
            "The app keeps crashing.",
            "This stopped working after the update.",
            "Your service is down.",
            "The page shows a blank screen.",
            "My data disappeared after syncing.",
            "The numbers in the report are wrong.",
        ],
        ["bug", "error*", "crash*", "broken", "not working", "doesn't work", "stopped working", "fails", "failed",
         "glitch*", "something is wrong", "doesn't load", "don't load", "won't load", "not loading", "didn't save",
         "never arrive*", "duplicate*", "isn't being"], -0.4,
    ),
    _label(
        "requesting a feature",
        "The user asks for a new capability or an improvement to the product.",
        [
            "Please add a dark mode.",
            "It would be great to have a PDF export.",
            "Any plans to support recurring tasks?",
            "Could you add bulk editing?",
            "I wish I could filter by date.",
            "Please let us customise the colours.",
            "You should support exporting to Excel.",
        ],
        ["please add", "would be nice", "would be great", "would be awesome", "would love", "any plans",
         "any chance", "could you add", "feature request", "bring back", "bring it back", "ability to", "no way to",
         "still no", "make it"],
    ),
    _label(
        "praising",
        "The user compliments or thanks the product or the team.",
        [
            "Love it, great job!",
            "Thank you so much, that fixed it.",
            "Your support team is amazing.",
            "Best tool we've ever used.",
            "You made my day, thanks!",
            "Really impressed with how easy this was.",
            "Fantastic update, keep it up.",
        ],
        ["thank*", "love", "great", "awesome", "amazing", "excellent", "impress*", "kudos", "shoutout",
         "well done", "nice work", "best", "genius", "lifesaver", "intuitive", "brilliant", "perfect*",
         "appreciate*", "fantastic", "helpful", "value for money", "happy with", "fair"], 0.3,
    ),
]  # fmt: skip

PRICE_CUES = [
    "too expensive", "expensive", "pricey", "overpriced", "afford", "can't afford", "cannot afford", "cheaper",
    "discount*", "promo code*", "coupon*", "price hike", "price increase", "prices went up", "budget*",
    "money's tight", "save money", "save some money", "not worth", "for this price", "full price",
    "free alternative", "half the price", "for half", "costs too much", "a lot of money", "keep paying",
    "price went", "went up", "increase*",
]  # fmt: skip

#: Customer-service usage that VADER's general lexicon misreads (valence -4…4; 0 makes a word neutral).
SENTIMENT_WORDS = {
    "support": 0.0, "help": 0.0, "credit": 0.0, "credited": 0.0, "free": 0.0, "please": 0.0, "promised": 0.0,
    "security": 0.0, "charged": 0.0, "created": 0.0, "effective": 0.0, "offline": 0.0, "attachment": 0.0,
    "attachments": 0.0, "invite": 0.0,
    "crashes": -1.7, "crashed": -1.7, "crashing": -1.7, "buggy": -1.8, "outage": -2.0, "outages": -2.0,
    "laggy": -1.5, "lags": -1.4, "overcharged": -2.2, "overpriced": -1.8, "unusable": -2.3, "freezes": -1.5,
    "dealbreaker": -2.0, "joke": -1.5, "joking": -1.5, "creepy": -1.8, "expensive": -1.0, "pricey": -1.0,
    "delayed": -1.0, "intuitive": 1.8, "seamless": 1.8, "painless": 1.5, "smooth": 1.5, "genius": 2.0,
}  # fmt: skip


def default_taxonomy() -> Taxonomy:
    """The taxonomy a tenant starts with: common topics and intentions of customer conversations."""
    # Validated from plain data, as an operator's edited copy is, so no two taxonomies share a list.
    return Taxonomy.model_validate(
        {
            "topics": TOPICS,
            "intentions": INTENTIONS,
            "price_cues": PRICE_CUES,
            "price_topic": "pricing",
            "sentiment_words": SENTIMENT_WORDS,
            "polarity_examples": POLARITY_EXAMPLES,
            "polarity_weight": 0.5,
            "polarity_temperature": 0.08,
            "neutral_band": 0.2,
        }
    )
