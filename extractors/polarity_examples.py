"""Generic customer messages of each polarity: the default reference for the embedding's sentiment vote.

`SignalAnalyzer` adds to a message's sentiment how much closer its embedding sits to the centroid of the
positive examples than to the negative ones', with the neutral examples competing for the middle. The
examples are deliberately generic (shops, software, telecom, banking, games) and spread over topics, so that
each centroid carries how a message feels more than what it is about: a neutral question about a refund and
a complaint about one share a topic, so both the neutral and the negative lists speak of orders, bills and
bugs. Negative examples are mostly complaints told as plain facts, the ones a word lexicon cannot score.
Operators replace them with their own customers' phrasing in the taxonomy (`polarity_examples`).

They were written for this purpose, not taken from the benchmark's messages (benchmarks/signals/).
"""

from __future__ import annotations

POLARITY_EXAMPLES: dict[str, list[str]] = {
    "negative": [
        "I've been waiting two weeks and still nothing has arrived.",
        "This is the third time I've had to contact you about the same problem.",
        "Nobody has replied to my messages since last Thursday.",
        "I was charged for a month I had already cancelled.",
        "The app stopped working after the last update and I can't log in.",
        "Half of my files are gone after the sync.",
        "The order came with two items missing.",
        "My connection drops every evening around eight.",
        "I paid for next-day delivery and it took a week.",
        "The price keeps going up but the product hasn't changed.",
        "The money left my account but the payment never reached the seller.",
        "The game kicks me out in the middle of every match.",
        "I was told it would be sorted within 24 hours; that was last week.",
        "Everything has been slow since the migration.",
        "I'm not renewing, it isn't worth it anymore.",
        "Why is my balance still wrong after three calls?",
        "How many more times will I have to reset my password?",
        "Still broken. Still no answer.",
        "The numbers on my statement don't match what I spent.",
        "I lost a whole day of work because of this.",
    ],
    "neutral": [
        "How do I change my username?",
        "Can I get a paper copy of my contract?",
        "If I close my account, is my history deleted?",
        "Where can I find the tracking number for my order?",
        "Is there a limit on how many people can join a team?",
        "Please send the invoice to our finance department.",
        "Which plan includes phone support?",
        "Do you have an app for tablets?",
        "I'd like to update the delivery address on my account.",
        "How do I report a problem with a purchase?",
        "What are your opening hours for phone support?",
        "Can I move my number to a new SIM card?",
        "When will the next update be released?",
        "Is it possible to export my data as a spreadsheet?",
        "I'm writing to ask about the terms of the annual plan.",
        "We have five users at the moment and may add two more.",
        "I am asking because my contract ends in June.",
        "Could you tell me how refunds work for digital items?",
        "I'll be away next week, please reply by email.",
        "Does the basic plan include cloud saves?",
    ],
    "positive": [
        "Thank you for your help.",
        "The replacement was sent the same day.",
        "Everything works perfectly now.",
        "The new version is much better, well done.",
        "The item is exactly as described, very pleased.",
        "Really happy with the service so far.",
        "The support team was friendly and sorted it out in minutes.",
        "Love the new design, it's so easy to use.",
        "Great value for the price.",
        "The app is fast and reliable, no complaints.",
        "I appreciate you looking into this so quickly.",
        "Best purchase I've made this year.",
        "The instructions were clear and I had no trouble.",
        "You've been very helpful.",
        "The game is a lot of fun with friends.",
        "Nice work on the latest release.",
        "I'm impressed with how easy the transfer was.",
        "All good now, thanks again!",
        "Got it running in five minutes.",
        "Works exactly as I hoped.",
    ],
}
