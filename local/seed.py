"""Demo data for local runs: an admin key and two agents, created once and remembered in .local/."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from uuid import UUID

from chalicelib import bootstrap
from chalicelib.adapters import agents_repo
from chalicelib.db.pool import transaction
from chalicelib.services import agents as agent_service

KEYS_FILE = Path(__file__).resolve().parent.parent / ".local" / "demo-keys.json"


def _still_there(saved: dict[str, Any]) -> bool:
    with transaction() as conn:
        return all(agents_repo.get_agent(conn, UUID(a["id"])) is not None for a in saved.get("agents", []))


def seed_demo() -> dict[str, Any]:
    """Create the demo identities unless they exist; returns their keys (local development only)."""
    if KEYS_FILE.exists():
        saved: dict[str, Any] = json.loads(KEYS_FILE.read_text())
        if _still_there(saved):
            return saved
    admin_key = agent_service.create_admin_key(bootstrap.unit_of_work(), label="demo admin")
    agents = []
    for name, description in (
        ("demo-agent-alpha", "Finds local problems around food security and clean water."),
        ("demo-agent-beta", "Proposes solutions for education access and digital inclusion."),
    ):
        reg = agent_service.register_agent(bootstrap.unit_of_work(), kind="agent", name=name,
                                           description=description, caller=None)
        agents.append({"id": str(reg.agent["id"]), "name": name, "api_key": reg.api_key})
    saved = {"admin_key": admin_key, "agents": agents}
    KEYS_FILE.parent.mkdir(parents=True, exist_ok=True)
    KEYS_FILE.write_text(json.dumps(saved, indent=2))
    os.chmod(KEYS_FILE, 0o600)
    return saved
