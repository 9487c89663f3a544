"""The `memory-server` console script: `hook` goes straight to its light module, everything else to the CLI.

Claude Code runs `memory-server hook` before every prompt, so it must start in tens of milliseconds; importing
the typer app would import the service and its dependencies first. `memory-server hook` is also a CLI command
(`memory-server hook --help` goes there), which runs the same `memory_server.hook.main`.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["hook"] and "--help" not in sys.argv[2:]:
        from memory_server.hook import main as run_hook

        raise SystemExit(run_hook(sys.argv[2:]))
    from memory_server.cli import app

    app()
