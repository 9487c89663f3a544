"""Serving: the HTTP API with its workers (`serve`), the workers alone beside servers on PostgreSQL (`worker`),
and the MCP tools over stdio (`mcp`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from memory_server.cli.common import (
    ConfigOption,
    DataDirOption,
    ProjectOption,
    id_option,
    run_async,
    settings_from,
)
from memory_server.hook_settings import HookError, HookSettings
from memory_server.hook_settings import agent_user as hook_user
from memory_server.service import MemoryService

#: The longest a stopping server waits for its open requests (a client's long stream, say) before it closes them:
#: under the 10 s a container runtime gives by default before it kills the process, with room to close the service.
GRACEFUL_SECONDS = 5


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(worker)
    app.command("mcp")(mcp_stdio)
    app.command("hook")(hook)


def serve(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port to listen on.")] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow serving without API keys on a non-loopback address.")
    ] = False,
    allow_open: Annotated[
        bool,
        typer.Option(
            "--allow-open", help="Serve without API keys although every key was revoked (recorded in the change log)."
        ),
    ] = False,
) -> None:
    """Start the HTTP API (and the extraction workers)."""
    import uvicorn

    from memory_server.api.app import create_app

    settings = settings_from(
        config, data_dir, host=host, port=port, insecure=insecure or None, allow_open=allow_open or None
    )

    async def serving() -> None:
        # The service opens before uvicorn starts, so a start-up refusal (a data directory in use, no keys on a
        # public address) is one line with its reason, not a lifespan traceback.
        async with MemoryService.running(settings) as service:
            app = create_app(settings, service)
            server = settings.server
            config = uvicorn.Config(
                app,
                host=server.host,
                port=server.port,
                log_level=settings.log_level,
                access_log=False,
                timeout_graceful_shutdown=GRACEFUL_SECONDS,
            )
            await _uvicorn_server(service)(config).serve()

    run_async(serving())


def _uvicorn_server(service: MemoryService) -> type:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, except that the SIGTERM or SIGINT it stopped on is not raised again once it has
        stopped: the service still has to close (a raised SIGTERM would kill the process first, and a SIGINT
        would cancel the close), and the process then ends normally. On that signal the service stops taking
        jobs and answers the publishes waiting on one, so the open requests uvicorn waits for end at once."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            with contextlib.suppress(RuntimeError):  # no loop running: nothing waits
                asyncio.get_running_loop().call_soon_threadsafe(service.stopping)

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                yield
                self._captured_signals.clear()

    return Server


def worker(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Run extraction, the vector outbox and webhook deliveries without serving HTTP, until SIGTERM or Ctrl-C.

    For a deployment of several processes on one PostgreSQL database (storage.url) and one Chroma server
    (index.url); every `serve` runs the same workers too. With SQLite, one process owns the data: use `serve`.
    """
    settings = settings_from(config, data_dir)
    if not settings.storage.shared or settings.index.url is None:
        typer.echo(
            "error: a worker shares the database and the index with servers: set storage.url (postgresql://…) and "
            "index.url (a Chroma server); with SQLite, `serve` runs the workers",
            err=True,
        )
        raise typer.Exit(2)

    async def working() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with MemoryService.running(settings, listening=False):
            typer.echo("worker: running (SIGTERM or Ctrl-C to stop)", err=True)
            await stop.wait()

    run_async(working())


def mcp_stdio(
    user: Annotated[
        str | None,
        typer.Option("--user", envvar="MEMORY_SERVER_MCP_USER", help="The user this agent's memory is about."),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", envvar="MEMORY_SERVER_URL", help="A running server to use, not the data dir."),
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", envvar="MEMORY_SERVER_API_KEY", help="API key for the server at --url.")
    ] = None,
    agent_user: Annotated[
        bool,
        typer.Option(
            "--agent-user",
            help="Act as the agent hooks do: for their user (MEMORY_SERVER_USER, else the OS user; per project "
            "directory with MEMORY_SERVER_USER_PER_PROJECT=1), on their server and key (--url and --key, else "
            "the config's agent section).",
        ),
    ] = False,
    project: ProjectOption = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Serve the memory tools to an agent over stdio (Claude Desktop, Claude Code, Cursor...).

    With --user (or mcp.user in the config), every tool acts for that user only. Without --url (or --agent-user)
    this process opens the data directory itself, so no server may be running on it.
    """
    from memory_server.mcp.stdio import serve_stdio

    settings = settings_from(config, data_dir)
    if agent_user:
        hooks, hooks_user = _as_the_hooks(config)
        user, url, key = user if user is not None else hooks_user, url or hooks.url, key or hooks.api_key
    user = user if user is not None else settings.mcp.user
    if user is not None:
        user = id_option("--user", user)
    run_async(serve_stdio(settings, user_id=user, url=url, api_key=key, project=project))


def _as_the_hooks(config: Path | None) -> tuple[HookSettings, str]:
    """The settings and the user the agent hooks use in this directory; exit 2 with the reason if they are bad."""
    try:
        hooks = HookSettings.from_env(os.environ, str(config) if config else None)
        return hooks, hook_user(hooks, Path.cwd())
    except HookError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def hook(
    event: Annotated[str, typer.Argument(help="SessionStart, UserPromptSubmit, Stop, SessionEnd or PreCompact.")],
    config: ConfigOption = None,
    host: Annotated[
        str, typer.Option(help="claude-code (every event above) or cursor (sessionStart: the profile as context).")
    ] = "claude-code",
) -> None:
    """Agent hooks: print the memory for a prompt, publish the new turns (the host's hook JSON on stdin).

    Talks to the server at MEMORY_SERVER_URL (key: MEMORY_SERVER_API_KEY) for MEMORY_SERVER_USER (default: the OS
    user); what the environment leaves unset comes from the config's agent section. Never fails the session: any
    error is one line in the state directory's hook.log, and the exit is 0.
    """
    from memory_server.hook import main

    raise typer.Exit(main([*(["--config", str(config)] if config else []), "--host", host, event]))
