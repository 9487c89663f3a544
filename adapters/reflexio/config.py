"""Reflexio's organisation config over this server's extraction config.

`get_config` answers the whole object the client's `Config` model reads; `set_config` takes it back whole. One
profile extractor (`profile_extractor_configs[0]`, or `profile_extractor_config` from later clients) maps onto
the tenant's extraction config: extraction_definition_prompt (older name
profile_content_definition_prompt), context_prompt, should_extract_profile_prompt_override and
request_sources_enabled. What this server has no counterpart for (playbooks, agent success evaluation, tools,
batching, LLM provider keys, storage) is answered with Reflexio's empty values and accepted back without
effect; provider keys sent here are never stored. The extractor's name is not stored either: every profile
reports EXTRACTOR_NAME.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field

from adapters.reflexio.models import EXTRACTOR_NAME, _Lenient
from extractors import prompts
from memory_server.errors import InvalidInput, ServiceError
from memory_server.schemas import Identifier

#: Reflexio's StorageConfigTest.SUCCEEDED: the storage works (it is this server's own).
STORAGE_SUCCEEDED = 3
#: Reflexio's names of the mapped settings, by this server's names.
_FIELDS = {
    "extraction_definition_prompt": "extraction_definition_prompt",
    "context_prompt": "context_prompt",
    "should_extract_prompt": "should_extract_profile_prompt_override",
    "sources": "request_sources_enabled",
}


class ProfileExtractorIn(_Lenient):
    extractor_name: str | None = None
    extraction_definition_prompt: str | None = Field(
        None, validation_alias=AliasChoices("extraction_definition_prompt", "profile_content_definition_prompt")
    )
    context_prompt: str | None = None
    should_extract_profile_prompt_override: str | None = None
    request_sources_enabled: list[Identifier] | None = None
    manual_trigger: bool = False


class ConfigIn(_Lenient):
    storage_config: dict[str, Any] | None = None
    profile_extractor_configs: list[ProfileExtractorIn] | None = None
    profile_extractor_config: ProfileExtractorIn | None = None  # later clients: one extractor, not a list

    def extractors(self) -> list[ProfileExtractorIn]:
        if self.profile_extractor_configs is not None:
            return self.profile_extractor_configs
        return [] if self.profile_extractor_config is None else [self.profile_extractor_config]


def to_reflexio(config: dict[str, Any]) -> dict[str, Any]:
    """The tenant's extraction config as Reflexio's Config (the whole object its client reads)."""
    extractor = {
        "extractor_name": EXTRACTOR_NAME,
        "extraction_definition_prompt": config.get("extraction_definition_prompt") or prompts.DEFAULT_DEFINITION,
        "context_prompt": config.get("context_prompt"),
        "metadata_definition_prompt": None,
        "should_extract_profile_prompt_override": config.get("should_extract_prompt"),
        "request_sources_enabled": config.get("sources") or None,
        "manual_trigger": False,
        "batch_size_override": None,
        "batch_interval_override": None,
    }
    common = ("extractor_name", "extraction_definition_prompt", "context_prompt", "request_sources_enabled")
    return {
        "storage_config": {"db_path": None},
        "storage_config_test": STORAGE_SUCCEEDED,
        "agent_context_prompt": None,
        "tool_can_use": None,
        "profile_extractor_configs": [extractor],
        # What later clients (one extractor, a closed model) read; earlier ones ignore it.
        "profile_extractor_config": {
            **{k: extractor[k] for k in common},
            "should_extract_profile_prompt_override": extractor["should_extract_profile_prompt_override"],
            "manual_trigger": False,
        },
        "user_playbook_extractor_configs": None,
        "agent_success_configs": None,
        "extraction_preset": None,
        "batch_size": 10,
        "batch_interval": 5,
        "api_key_config": None,
        "llm_config": None,
        "enable_document_expansion": False,
    }


def changes_from(body: ConfigIn) -> dict[str, Any]:
    """The extraction settings a Reflexio Config sets (no extractor: the defaults)."""
    extractors = body.extractors()
    if len(extractors) > 1:
        raise InvalidInput(
            "profile_extractor_configs: this server runs one profile extractor per tenant: send one",
            field="profile_extractor_configs",
        )
    if not extractors:
        return {
            "extraction_definition_prompt": None,
            "context_prompt": None,
            "should_extract_prompt": None,
            "sources": [],
        }
    [extractor] = extractors
    if extractor.manual_trigger:
        field = "profile_extractor_configs.0.manual_trigger"
        raise InvalidInput(f"{field}: this server extracts on every publish; it has no manual trigger", field=field)
    definition = _text(extractor.extraction_definition_prompt)
    return {
        "extraction_definition_prompt": None if definition == prompts.DEFAULT_DEFINITION else definition,
        "context_prompt": _text(extractor.context_prompt),
        "should_extract_prompt": _text(extractor.should_extract_profile_prompt_override),
        "sources": extractor.request_sources_enabled or [],
    }


def _text(value: str | None) -> str | None:
    return (value or "").strip() or None


def renamed(exc: ServiceError) -> ServiceError:
    """An error about an extraction setting, named the way Reflexio names it."""
    name = (exc.field or "").split(".")[0]
    if name not in _FIELDS:
        return exc
    field = f"profile_extractor_configs.0.{_FIELDS[name]}"
    message = exc.message.replace(name, field, 1) if exc.message.startswith(name) else exc.message
    return type(exc)(message, field=field)
