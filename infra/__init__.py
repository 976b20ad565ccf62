"""Deployment: CloudFormation stacks, the merge template for `chalice package`, and the packaging step.

Stacks deploy in this order; each one imports only exports of the stacks before it (see docs/deploy.md).
"""

from __future__ import annotations

from pathlib import Path

INFRA_DIR = Path(__file__).resolve().parent
ROOT = INFRA_DIR.parent

# (stack suffix, template) in deployment order; "app" is the template `make package` writes.
STACKS: tuple[tuple[str, str], ...] = (
    ("queues", "infra/queues.yaml"),
    ("storage", "infra/storage.yaml"),
    ("database", "infra/database.yaml"),
    ("app", "build/package/sam.json"),
    ("privacy", "infra/privacy-function.yaml"),
)

# Merged into Chalice's own template; not a stack by itself, so it is linted as part of the packaged template.
MERGE_TEMPLATE = INFRA_DIR / "chalice-merge.yaml"


def standalone_templates() -> list[Path]:
    """Every infra/*.yaml that is a complete stack template (all of them but the merge fragment)."""
    return sorted(p for p in INFRA_DIR.glob("*.yaml") if p != MERGE_TEMPLATE)
