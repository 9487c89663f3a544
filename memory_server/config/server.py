"""The doors and what guards them: address, keys and hosts, request limits, webhook delivery, the MCP and agent
plugin's own settings."""

from __future__ import annotations

import ipaddress

from pydantic import Field, SecretStr

from memory_server.config.base import Section
from memory_server.schemas import Identifier


class ServerSettings(Section):
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8765, ge=1, le=65535, description="Port to listen on.")
    insecure: bool = Field(
        False, description="Serve without API keys on a non-loopback address (never do this on a shared network)."
    )
    allow_open: bool = Field(
        False,
        description="Serve without API keys although this data directory has had keys (all now revoked). "
        "Only for recovering access; the start is recorded in the change log. Without it, revoking the last key "
        "never reopens the server.",
    )
    allowed_hosts: list[str] | None = Field(
        None,
        description="Host header values (names or addresses, any port) this server answers to, against DNS "
        "rebinding. Unset: 127.0.0.1, localhost and [::1] when listening on loopback, any host otherwise; "
        "['*'] turns the check off.",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origins (scheme://host[:port]) of other sites allowed to send state-changing requests; "
        "pages served from an allowed host are always allowed.",
    )
    console_secret: SecretStr | None = Field(
        None,
        min_length=32,
        description="The key that signs console sessions; give every server behind one address the same one "
        "(several processes on PostgreSQL). Unset: each data directory makes and keeps its own.",
    )

    @property
    def on_loopback(self) -> bool:
        """Listening only where this machine alone can connect."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


class LimitSettings(Section):
    max_body_bytes: int = Field(2_000_000, ge=1024, description="Largest accepted request body.")
    max_messages: int = Field(200, ge=1, description="Messages in one interaction.")
    max_batch_users: int = Field(1_000, ge=1, description="Users in one batch of interactions (Cipres's users).")
    max_content_chars: int = Field(20_000, ge=1, description="Characters in one message or fact.")
    max_top_k: int = Field(100, ge=1, description="Largest top_k a search may ask for.")
    max_page_size: int = Field(500, ge=1, description="Largest page of facts or change-log rows.")
    max_attributes_bytes: int = Field(8_192, ge=2, description="Size of a JSON attributes object.")
    requests_per_minute: int = Field(600, ge=1, description="Per API key; more answers 429 with Retry-After.")
    auth_failures_per_minute: int = Field(
        20, ge=1, description="Requests with a wrong key per client address; more answers 429 with Retry-After."
    )


class WebhookSettings(Section):
    """Delivering events (signed webhooks) to the URLs tenants register."""

    allow_private: bool = Field(
        False,
        description="Deliver to private, loopback, link-local and other non-public addresses (off: refused at "
        "creation for an address, and at every delivery for each address a name resolves to).",
    )
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="Longest one delivery attempt may take.")
    max_attempts: int = Field(10, ge=1, le=50, description="Tries before a delivery is marked failed.")
    backoff_base_seconds: float = Field(30.0, ge=0, le=86_400, description="First retry delay; doubles each try.")
    backoff_max_seconds: float = Field(3_600.0, ge=0, le=7 * 86_400, description="Longest delay between tries.")
    concurrency: int = Field(4, ge=1, le=64, description="Deliveries in flight at once.")
    per_webhook: int = Field(
        1,
        ge=1,
        le=64,
        description="Deliveries in flight to one webhook at once: a receiver that is slow or hangs holds only these "
        "(while it is 1, each webhook's events are first sent in the order they happened).",
    )
    max_per_tenant: int = Field(50, ge=1, le=1_000, description="Webhooks one tenant may register.")
    retention_days: int = Field(
        30, ge=1, le=3_650, description="Delivered and failed deliveries (and their events) are deleted after this."
    )


class McpSettings(Section):
    user: Identifier | None = Field(None, description="The user `memory-server mcp` serves (else --user or env).")


class AgentSettings(Section):
    """Read by `memory-server hook` (without importing this module) and `memory-server mcp --agent-user`."""

    url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="The server the agent plugin talks to; empty: this file's server.host and server.port.",
    )
    api_key: str | None = Field(None, description="The API key the agent plugin sends (else none).")
    user: Identifier | None = Field(None, description="Whose memory the agent plugin keeps; empty: the OS user.")
    user_per_project: bool = Field(False, description="One memory per project directory (user:project-hash).")
