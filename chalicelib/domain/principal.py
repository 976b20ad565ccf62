"""Who is calling an entrypoint: resolved from an API key, passed to every use case."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id and role, and the agent behind it (none for admin keys)."""

    key_id: UUID
    role: str
    agent_id: UUID | None
    owner_id: UUID | None
    agent_kind: str | None

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.agent_id or self.key_id}"
