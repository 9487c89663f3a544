from extractors.base import create_extractor


def test_x():
    assert create_extractor("rules").name == "rules"
