"""`python -m infra.dashboards [--check]`: render infra/monitoring.yaml from the dashboard sources."""

from __future__ import annotations

import sys

from infra.dashboards import TEMPLATE, render


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = TEMPLATE.read_text(encoding="utf-8") if TEMPLATE.exists() else ""
        if current != text:
            sys.stderr.write(f"{TEMPLATE} is stale: run python -m infra.dashboards\n")
            return 1
        return 0
    TEMPLATE.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {TEMPLATE}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
