"""One privacy job: the request it carries out, the state it records after each step, the stores it
reads and deletes, and the two ways it stops early.

A job is a list of steps. Each step is idempotent and commits on its own, and the request row records
the finished steps: a job that crashed half-way resumes where it stopped when the message comes back.
The steps of an export are in `privacy_export_job.py`, those of an erasure in `privacy_erasure_job.py`;
`privacy_jobs.py` runs a request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from chalicelib.domain import privacy
from chalicelib.services.ports import BlobStore
from chalicelib.services.unit_of_work import UnitOfWork

ACTOR = "worker:privacy_request"
BATCH = 500


class Busy(RuntimeError):
    """Another delivery of the same request is running; this one is retried later."""


class Refused(RuntimeError):
    """The request cannot be carried out at all (its subject is gone): it fails at once, without retries."""


@dataclass(frozen=True)
class Stores:
    """Where a job reads and deletes blobs: the evidence store and the store of export archives."""

    blobs: BlobStore
    exports: BlobStore


@dataclass
class Job:
    uow: UnitOfWork
    stores: Stores
    request: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> UUID:
        return UUID(str(self.request["id"]))

    @property
    def subject_id(self) -> UUID:
        return UUID(str(self.request["subject_id"]))

    def done(self, step: str) -> bool:
        return step in self.state.get("done", [])

    def finish_step(self, step: str, steps: list[str], counts: dict[str, int] | None = None) -> None:
        self.state.setdefault("done", []).append(step)
        if counts:
            total = self.state.setdefault("counts", {})
            for k, v in counts.items():
                total[k] = int(total.get(k, 0)) + int(v)
        self.save(progress=privacy.progress(len(self.state["done"]), len(steps)), step=step)

    def save(self, *, progress: int, step: str) -> None:
        with self.uow:
            self.uow.privacy.save_progress(self.id, progress=progress, step=step, state=self.state,
                                           now=self.uow.clock.now())


def simulate_crash(step: str, crash_after: str | None) -> None:
    """Raise right after the named step committed, as a crash would (tests: ``crash_after``)."""
    if crash_after == step:
        raise RuntimeError(f"simulated crash after {step}")
