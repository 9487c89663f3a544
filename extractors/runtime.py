"""Environment that keeps third-party libraries offline; applied before any of them is imported.

It lives with the extractors because they must stand alone (they import nothing from `memory_server`),
and the server, which imports them anyway, applies the same environment from here.
"""

import os
from pathlib import Path
from typing import Any


def apply() -> None:
    """No telemetry, no remote cost map, tiktoken encodings from litellm's bundled copies."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        bundled = _litellm_tokenizers_dir()
        if bundled is not None:
            os.environ["TIKTOKEN_CACHE_DIR"] = str(bundled)


def import_litellm() -> Any:
    """litellm, imported on first use only (it costs seconds), offline and quiet.

    Its help banner goes to stdout, which MCP over stdio owns; the cost map stays local (set by apply()).
    """
    apply()
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


def _litellm_tokenizers_dir() -> Path | None:
    """litellm ships cl100k_base/o200k_base under litellm/litellm_core_utils/tokenizers; find it without importing."""
    from importlib.util import find_spec

    spec = find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
    return path if path.is_dir() else None
