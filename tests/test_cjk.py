"""CJK runs become overlapping bigrams, in the keyword index's text and in a query's terms alike; the rest of the
text is read as before."""

from __future__ import annotations

import sqlite3

from memory_server import cjk, search, terms


def test_mixed_text_keeps_its_words_and_splits_cjk_runs_into_bigrams():
    text = "I love 寿司 and ラーメン"
    assert cjk.bigrams(text).split() == ["I", "love", "寿司", "and", "ラー", "ーメ", "メン"]
    assert terms.words(text) == ["i", "love", "寿司", "and", "ラー", "ーメ", "メン"]
    assert terms.query_words(text) == {"love": "love", "寿司": "寿司", "ラー": "ラー", "ーメ": "ーメ", "メン": "メン"}


def test_a_sentence_without_spaces_gives_its_bigrams_and_a_letter_alone_a_unigram():
    assert cjk.grams("我最喜欢吃寿司") == ["我最", "最喜", "喜欢", "欢吃", "吃寿", "寿司"]
    assert cjk.grams("猫") == ["猫"]
    assert cjk.bigrams("猫、犬。") == " 猫 、 犬 。"  # punctuation separates runs
    assert terms.words("한국어를 배워요") == ["한국", "국어", "어를", "배워", "워요"]
    assert terms.words("iPhone很好") == ["iphone", "很好"]


def test_halfwidth_katakana_meets_its_usual_form():
    assert cjk.grams("ｶﾞｷﾞ") == ["ガギ"]
    assert terms.words("ラーメン") == terms.words("ﾗｰﾒﾝ")


def test_text_without_cjk_is_left_exactly_as_it_was():
    text = "Café owners' naïve résumés: 3 cats, ﬁve dogs_and e-mail"
    assert cjk.bigrams(text) is text
    assert terms.words(text) == ["cafe", "owners", "naive", "resumes", "3", "cats", "five", "dogs", "and", "e", "mail"]


def test_the_index_holds_exactly_the_terms_a_query_looks_for():
    """FTS5's unicode61 keeps every gram whole, so the query's terms are the index's vocabulary (and its counts)."""
    text = "昨日は友達と京都でラーメンを食べました。I loved the 味噌 broth! 한국어 ｶﾞｷﾞ 〇々"
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE f USING fts5 (content, tokenize = 'porter unicode61')")
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab (f, 'row')")
    db.execute("INSERT INTO f (content) VALUES (?)", (cjk.bigrams(text),))
    assert {row[0] for row in db.execute("SELECT term FROM v")} == {terms.stem(w) for w in terms.words(text)}


def test_facts_are_scored_on_the_same_bigrams():
    scores = search.keyword_scores("寿司", ["用户最喜欢吃寿司", "用户住在东京", "User likes sushi"])
    assert scores[0] > 0 and scores[1] == 0 and scores[2] == 0
