"""The extraction config: every setting with its help, errors next to the field they concern (and nothing saved),
and the version history with what each version changed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.responses import Response

from memory_server.config import ExtractionConfig
from memory_server.console.web import PREFIX, Caller, ConsoleRoute, Form, errors_by_field, redirect
from memory_server.errors import InvalidInput, ServiceError, field_path, problem
from memory_server.ids import row_number
from memory_server.models import ConfigVersion

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
HISTORY = 20
LONG_TEXT = ("prompt", "definition")


@dataclass(frozen=True)
class Setting:
    """One top-level setting as a form field: `widget` is checkbox, text, textarea or json."""

    name: str
    help: str
    widget: str
    value: str  # as the field shows it
    checked: bool = False


def _widget(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "checkbox"
    if isinstance(value, dict | list):
        return "json"
    return "textarea" if name.endswith(LONG_TEXT) else "text"


def settings_of(config: dict[str, Any], shown: dict[str, str] | None = None) -> list[Setting]:
    """The form's fields for `config`; `shown`: what the operator typed, kept when the form comes back with errors."""
    fields = []
    for name, info in ExtractionConfig.model_fields.items():
        value = config.get(name)
        widget = _widget(name, value)
        if shown is not None and widget != "checkbox":
            text = shown.get(name, "")
        elif widget == "json":
            text = json.dumps(value, indent=2, sort_keys=True)
        else:
            text = "" if value is None or widget == "checkbox" else str(value)
        checked = (shown.get(name) == "on") if shown is not None else bool(value)
        fields.append(Setting(name, info.description or "", widget, text, checked))
    return fields


def parse(config: dict[str, Any], fields: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings the form changes (validated whole, as the service will) and the errors by field."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for setting in settings_of(config):
        raw = fields.get(setting.name, "").replace("\r\n", "\n")  # browsers send a textarea's line breaks as CRLF
        if setting.widget == "checkbox":
            values[setting.name] = raw == "on"
        elif setting.widget == "json":
            try:
                values[setting.name] = json.loads(raw)
            except ValueError as exc:
                errors[setting.name] = f"not valid JSON: {exc}"
        else:
            nullable = ExtractionConfig.model_fields[setting.name].default is None
            values[setting.name] = None if raw.strip() == "" and nullable else raw
    try:  # also with JSON errors: every setting to fix is named at once
        merged = ExtractionConfig.model_validate({**config, **values}).model_dump()
    except ValidationError as exc:
        for error in exc.errors():
            name, rest = str(error["loc"][0]), field_path(error["loc"][1:])
            errors.setdefault(name, f"{rest}: {problem(error)}" if rest else problem(error))
    if errors:
        return {}, errors
    return {name: value for name, value in merged.items() if value != config.get(name)}, {}


@dataclass(frozen=True)
class Difference:
    path: str
    before: str
    after: str


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        return {k: v for key, item in value.items() for k, v in _flat(item, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): value}


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[Difference]:
    """What changed from one version to the next, setting by setting (nested ones by their dotted path)."""
    old, new = _flat(before), _flat(after)
    return [
        Difference(path, json.dumps(old.get(path)), json.dumps(new.get(path)))
        for path in sorted(old.keys() | new.keys())
        if old.get(path) != new.get(path)
    ]


async def _page(caller: Caller, shown: dict[str, str] | None = None, errors: dict[str, str] | None = None) -> Response:
    service, scope = caller.service, caller.scope
    current = await service.config(scope)
    history = await service.config_history(scope, HISTORY)
    if len(history) < HISTORY:  # the whole history fits: the settings file's version 0 starts it
        history.append(await service.config_initial(scope))
    versions: list[tuple[ConfigVersion, list[Difference] | None]] = [
        (version, diff(older.config, version.config)) for version, older in pairwise(history)
    ]
    versions.append((history[-1], None))
    return caller.render(
        "config.html",
        400 if errors else 200,
        current=current,
        settings=settings_of(current.config, shown),
        errors=errors or {},
        versions=versions,
    )


@router.get("/config")
async def config(caller: Caller) -> Response:
    return await _page(caller)


@router.post("/config")
async def save_config(caller: Caller, fields: Form) -> Response:
    caller.scope.require("admin")
    current = await caller.service.config(caller.scope)
    changes, errors = parse(current.config, fields)
    if not errors and changes:
        try:
            await caller.service.update_config(caller.scope, changes)
        except ServiceError as exc:
            errors = errors_by_field(exc, ExtractionConfig.model_fields)
    if errors:
        return await _page(caller, fields, errors)
    return redirect("/config")


@router.post("/config/restore")
async def restore(caller: Caller, fields: Form) -> Response:
    """Make a new version equal to an old one (the history itself is never rewritten)."""
    version = row_number(fields.get("version", ""))
    if version is None:
        raise InvalidInput("version: a config version is a positive integer", field="version")
    await caller.service.restore_config(caller.scope, version)
    return redirect("/config")
