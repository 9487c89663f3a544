"""The console's signing secret: made whole once, kept, and made again when an older version left it cut short."""

from __future__ import annotations

from memory_server.console.session import SECRET_BYTES, SECRET_FILE, signing_secret


def test_the_secret_is_made_whole_once_and_kept(tmp_path):
    data = tmp_path / "data"
    first = signing_secret(data)
    assert len(first) == SECRET_BYTES and signing_secret(data) == first
    assert [p.name for p in data.iterdir()] == [SECRET_FILE]  # no temporary file left beside it
    assert (data / SECRET_FILE).stat().st_mode & 0o777 == 0o600


def test_a_secret_cut_short_is_made_again(tmp_path):
    (tmp_path / SECRET_FILE).write_bytes(b"short")  # a full disk while an older version wrote it
    secret = signing_secret(tmp_path)
    assert len(secret) == SECRET_BYTES and (tmp_path / SECRET_FILE).read_bytes() == secret
