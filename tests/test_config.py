"""Settings: the example file documents every setting, env overrides it, bad values stop start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from memory_server.config import ConfigError, Settings, load_settings

EXAMPLE = Path(__file__).parent.parent / "config.example.yaml"


#: Settings documented as one value (too big to spell out in the example; null stands for the default).
WHOLE = {"extraction.signals.taxonomy"}


def _fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    names = set()
    for name, info in model.model_fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel) and prefix + name not in WHOLE:
            names |= _fields(kind, f"{prefix}{name}.")
        else:
            names.add(prefix + name)
    return names


MAPPINGS = {
    "extraction.ttl_seconds",
    "extraction.extractor_options",
    "embedder.options",
}  # settings whose value is itself a mapping


def _keys(tree: dict, prefix: str = "") -> set[str]:
    names = set()
    for key, value in tree.items():
        nested = isinstance(value, dict) and prefix + key not in MAPPINGS
        names |= _keys(value, f"{prefix}{key}.") if nested else {prefix + key}
    return names


def test_example_config_documents_every_setting_with_its_default(monkeypatch):
    monkeypatch.delenv("MEMORY_SERVER_CONFIG", raising=False)
    assert _keys(yaml.safe_load(EXAMPLE.read_text())) == _fields(Settings)
    assert load_settings(EXAMPLE).model_dump() == Settings().model_dump()


def test_environment_overrides_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("MEMORY_SERVER_SERVER__PORT", "9123")
    monkeypatch.setenv("MEMORY_SERVER_EXTRACTION__DYNAMIC_TTL_SECONDS", "3600")
    settings = load_settings(EXAMPLE)
    assert settings.server.port == 9123
    assert settings.extraction.dynamic_ttl_seconds == 3600


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("server:\n  port: 70000\n", "server.port"),
        ("embedder:\n  provider: magic\n", "embedder.provider"),
        ("workers:\n  concurrency: 0\n", "workers.concurrency"),
        ("extraction:\n  duplicate_threshold: 2\n", "extraction.duplicate_threshold"),
        ("surprise: 1\n", "surprise"),
    ],
)
def test_invalid_config_names_the_setting(tmp_path, monkeypatch, text, named):
    monkeypatch.delenv("MEMORY_SERVER_CONFIG", raising=False)
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert f"{named}:" in str(err.value)
    assert "config.example.yaml" in str(err.value)


def test_missing_config_file_says_so(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml")


def test_unparseable_yaml_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.delenv("MEMORY_SERVER_CONFIG", raising=False)
    path = tmp_path / "config.yaml"
    path.write_text("server: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_settings(path)
