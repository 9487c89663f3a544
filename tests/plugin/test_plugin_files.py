"""The plugin's files hold to Claude Code's documented formats (JSON schemas written from its docs)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from memory_server.hook import EVENTS

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "adapters" / "claude_code"
SCHEMAS = Path(__file__).parent / "schemas"


def load(path: Path) -> dict:
    return json.loads(path.read_text("utf-8"))


@pytest.mark.parametrize(
    ("document", "schema"),
    [
        (PLUGIN / ".claude-plugin" / "plugin.json", "plugin"),
        (PLUGIN / "hooks" / "hooks.json", "hooks"),
        (PLUGIN / ".mcp.json", "mcp"),
        (ROOT / ".claude-plugin" / "marketplace.json", "marketplace"),
    ],
)
def test_each_file_validates_against_its_documented_schema(document, schema):
    jsonschema.Draft202012Validator(load(SCHEMAS / f"{schema}.schema.json")).validate(load(document))


def test_the_schemas_refuse_what_the_docs_refuse():
    manifest = jsonschema.Draft202012Validator(load(SCHEMAS / "plugin.schema.json"))
    assert not manifest.is_valid({"name": "Memory Server"})
    assert not manifest.is_valid({"name": "memory-server", "hooks": "/abs/hooks.json"})
    market = jsonschema.Draft202012Validator(load(SCHEMAS / "marketplace.schema.json"))
    assert not market.is_valid({"name": "claude-plugins-official", "owner": {"name": "x"}, "plugins": []})
    hooks = jsonschema.Draft202012Validator(load(SCHEMAS / "hooks.schema.json"))
    assert not hooks.is_valid({"hooks": {"BeforePrompt": [{"hooks": [{"type": "command", "command": "x"}]}]}})


def test_every_documented_event_calls_the_hook_command_with_its_own_name():
    hooks = load(PLUGIN / "hooks" / "hooks.json")["hooks"]
    assert sorted(hooks) == sorted(EVENTS)
    for event, groups in hooks.items():
        commands = [h["command"] for g in groups for h in g["hooks"]]
        assert commands == [f"memory-server hook {event}"]


def test_the_marketplace_points_at_the_plugin_and_agrees_on_its_name():
    entry = load(ROOT / ".claude-plugin" / "marketplace.json")["plugins"][0]
    assert (ROOT / entry["source"]).resolve() == PLUGIN
    assert entry["name"] == load(PLUGIN / ".claude-plugin" / "plugin.json")["name"]


def frontmatter(path: Path) -> dict:
    """The YAML between the leading `---` lines of a Markdown file."""
    _, front, _ = path.read_text("utf-8").split("---\n", 2)
    return yaml.safe_load(front)


def test_the_show_and_forget_skills_validate_against_the_documented_frontmatter():
    skills = sorted((PLUGIN / "skills").glob("*/SKILL.md"))
    assert [s.parent.name for s in skills] == ["forget", "memory"]
    validator = jsonschema.Draft202012Validator(load(SCHEMAS / "skill.schema.json"))
    for skill in skills:
        front = frontmatter(skill)
        validator.validate(front)
        assert front["name"] == skill.parent.name
        assert "$ARGUMENTS" in skill.read_text("utf-8")
    assert frontmatter(PLUGIN / "skills" / "forget" / "SKILL.md")["disable-model-invocation"] is True
    assert not (PLUGIN / "commands").exists()


def test_the_skill_schema_refuses_what_the_docs_refuse():
    skill = jsonschema.Draft202012Validator(load(SCHEMAS / "skill.schema.json"))
    assert skill.is_valid({"name": "forget", "description": "Forget something."})
    assert not skill.is_valid({"name": "Forget", "description": "Forget something."})
    assert not skill.is_valid({"name": "forget", "description": "x", "disable_model_invocation": True})
    assert not skill.is_valid(
        {"name": "x", "description": "x", "disable-model-invocation": True, "user-invocable": False}
    )
