"""Write patterns/layer_a.hsdb: every Hyperscan database of the engine, prebuilt.

Run after changing the pattern file (or the pattern language's compiler):

    python -m chalicelib.domain.layer_a.prebuild [path]

It takes about a minute. Screening stays correct without it (databases missing from the
file are compiled on demand, and the per-expression filters skipped), only slower; a unit
test fails while the file is out of date. See hsdb.py for the format.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from chalicelib.domain.layer_a.catalogue import load_catalogue
from chalicelib.domain.layer_a.engines import database_specs
from chalicelib.domain.layer_a.hsdb import HSDB_FILE, pack


def main(argv: Sequence[str] | None = None) -> int:
    import hyperscan  # optional: screening falls back to the "re" engine without it

    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(args[0]) if args else HSDB_FILE
    path.write_bytes(pack(hyperscan, database_specs(load_catalogue())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
