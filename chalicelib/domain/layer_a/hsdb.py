"""Prebuilt Hyperscan databases: compiled once when patterns change, loaded in milliseconds.

Compiling the engine's databases takes about a minute (the per-expression filters of a
few expressions alone take many seconds), far too long for the first screen of a process.
``python -m chalicelib.domain.layer_a.prebuild`` compiles every database the Hyperscan
engine uses for the current pattern file and writes them, serialized, to
``patterns/layer_a.hsdb``. At run time a database is taken from that file when the file
holds one compiled from exactly the same expressions (each is keyed by a hash of its
expressions and flags); otherwise it is compiled on demand (the per-expression filters
are then skipped: they only save time). A file written by another Hyperscan version or
for another CPU platform is ignored the same way, so the file can never change results.

File format: ``MAGIC``, a 4-byte little-endian header length, a JSON header
``{"hyperscan": version, "databases": {key: [offset, length]}}``, then the databases
(``hyperscan.dumpb``, zlib-compressed) at those offsets after the header.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HSDB_FILE = Path(__file__).resolve().parent.parent / "patterns" / "layer_a.hsdb"
MAGIC = b"LAYERA-HSDB-1\n"


@dataclass(frozen=True)
class Spec:
    """What one database is compiled from: (id, expression, flags) triples."""

    expressions: tuple[tuple[int, bytes, int], ...]
    literal: bool = False  # compiled with Hyperscan's literal compiler (no regex syntax)

    @property
    def key(self) -> str:
        payload = json.dumps([self.literal, [[i, e.decode("latin-1"), f] for i, e, f in self.expressions]])
        return hashlib.sha256(payload.encode()).hexdigest()[:32]


def compile_database(hyperscan: Any, spec: Spec) -> Any:
    database = hyperscan.Database()
    database.compile(
        expressions=[e for _, e, _ in spec.expressions],
        ids=[i for i, _, _ in spec.expressions],
        elements=len(spec.expressions),
        flags=[f for _, _, f in spec.expressions],
        literal=spec.literal,
    )
    return database


class Store:
    """The databases of a prebuilt file, deserialized on first use."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._index: dict[str, list[int]] = {}
        self._base = 0
        if data.startswith(MAGIC):
            try:
                (length,) = struct.unpack_from("<I", data, len(MAGIC))
                start = len(MAGIC) + 4
                index = json.loads(data[start : start + length])["databases"]
            except (struct.error, ValueError, KeyError, TypeError):
                return  # a damaged file: as if there were none
            if isinstance(index, dict):
                self._base = start + length
                self._index = index

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def __len__(self) -> int:
        return len(self._index)

    def load(self, hyperscan: Any, spec: Spec) -> Any | None:
        """The prebuilt database of spec, or None (absent, or unusable on this machine)."""
        where = self._index.get(spec.key)
        if where is None:
            return None
        try:
            offset, length = where
            database = hyperscan.loadb(
                zlib.decompress(self._data[self._base + offset : self._base + offset + length]),
                hyperscan.HS_MODE_BLOCK,
            )
            hyperscan.Scratch(database)  # checks that it runs on this CPU
        except (hyperscan.error, zlib.error, ValueError, TypeError):
            return None
        return database


def load_store(path: Path = HSDB_FILE) -> Store:
    """The prebuilt databases (an empty store when the file is missing)."""
    try:
        return Store(path.read_bytes())
    except OSError:
        return Store(b"")


def pack(hyperscan: Any, specs: Iterable[Spec]) -> bytes:
    """Compile every spec and serialize them in the file format (slow: minutes)."""
    blobs: list[bytes] = []
    index: dict[str, list[int]] = {}
    offset = 0
    for spec in specs:
        if spec.key in index:
            continue
        blob = zlib.compress(hyperscan.dumpb(compile_database(hyperscan, spec)), 9)
        index[spec.key] = [offset, len(blob)]
        blobs.append(blob)
        offset += len(blob)
    header = json.dumps({"hyperscan": hyperscan.__version__, "databases": index}, sort_keys=True).encode()
    return MAGIC + struct.pack("<I", len(header)) + header + b"".join(blobs)
