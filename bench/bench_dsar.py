"""Data-subject export (and erasure) of a subject with 1,000 submissions: archive size and time.

Usage: python bench/bench_dsar.py [--submissions 1000] [--rounds 5] [--photos 0] [--out-dir build/bench]

A scratch database gets one agent with N submissions (title ~60 characters, body ~1,200 characters of
varied words, a three-step decision trail with a Layer B reasoning each, one ledger fee each, posted
through the ledger), and optionally processed photos of 150 KB each in a local blob store. Each round
files an export through the service and runs the worker's job on it (read in one snapshot, ZIP,
store, complete): the time of the whole job, and apart the time to build the archive, and the
archive's size. After the export rounds the subject is erased once (approval, job) and the ledger is
verified. Results go to build/bench/dsar.json and build/bench/dsar.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from psycopg.types.json import Jsonb

from local import database

WORDS = ("water", "school", "clinic", "road", "flood", "bridge", "market", "solar", "well", "garden", "river",
         "village", "teacher", "nurse", "pump", "roof", "storm", "library", "bus", "children", "elderly", "food",
         "repair", "volunteers", "broken", "weeks", "since", "the", "a", "of", "and", "near", "every", "after")


def text(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:chars]


def populate(submissions: int, photos: int) -> UUID:
    from chalicelib import bootstrap
    from chalicelib.adapters import ledger_repo
    from chalicelib.db.pool import transaction
    from chalicelib.domain.ledger import FAUCET, SINK, agent_account, transfer
    from chalicelib.services import agents
    from chalicelib.services.evidence_upload import processed_key

    rng = random.Random(7)
    registration = agents.register_agent(bootstrap.unit_of_work(), kind="agent", name="Bench Subject",
                                         description="", caller=None)
    subject = UUID(str(registration.agent["id"]))
    with transaction() as conn:
        ledger_repo.post_entry(conn, idempotency_key=f"bench-grant:{subject}", kind="grant",
                               legs=transfer(FAUCET, agent_account(subject), 10_000_000), memo={})
        for i in range(submissions):
            sub_id = uuid4()
            conn.execute(
                "INSERT INTO submissions (id, agent_id, kind, title, body, domain, content_hash, status, decided_by,"
                " route_path, cost_millicredits, decided_at) VALUES (%s, %s, 'problem', %s, %s, 'education_access',"
                " %s, 'approved', 'layer_b', 'layer_b', 2000, now())",
                (sub_id, subject, text(rng, 60), text(rng, 1200), f"h{i}"))
            for stage, verdict in (
                ("layer_a", {"blocked": False, "signals": [], "pii": []}),
                ("layer_b", {"decision": "approved", "score": 0.82, "model": "offline",
                             "reasoning": text(rng, 300)}),
                ("routing", {"path": "layer_b", "bucket": i % 100}),
            ):
                conn.execute("INSERT INTO decision_trail (submission_id, stage, verdict) VALUES (%s, %s, %s)",
                             (sub_id, stage, Jsonb(verdict)))
            ledger_repo.post_entry(conn, idempotency_key=f"submission:{sub_id}", kind="submission_fee",
                                   legs=transfer(agent_account(subject), SINK, 2000),
                                   memo={"submission_id": str(sub_id)})
        if photos:
            mission_template = uuid4()
            conn.execute(
                "INSERT INTO mission_templates (id, name, domain, difficulty, required_photos, photo_pairs, gps_check,"
                " min_minutes_between, steps, gps_radius_m, duration_minutes, created_by, updated_by) VALUES"
                " (%s, 'bench', 'education_access', 'easy', 1, 0, false, 0, '[]', 100, 60, 'bench', 'bench')",
                (mission_template,))
            mission = uuid4()
            conn.execute(
                "INSERT INTO missions (id, template_id, template, title, latitude, longitude, reward_millicredits,"
                " created_by, expires_at) VALUES (%s, %s, '{}', 'bench', 1, 2, 0, 'bench', now() + interval '1 day')",
                (mission, mission_template))
            store = bootstrap.blob_store()
            for _ in range(photos):
                photo = uuid4()
                key = processed_key(photo, "image/jpeg")
                conn.execute(
                    "INSERT INTO evidence (id, mission_id, human_id, sequence, content_type, size_bytes, captured_at,"
                    " status, processed_key, processed_content_type, processed_bytes, width, height, sha256)"
                    " VALUES (%s, %s, %s, 'standalone', 'image/jpeg', 150000, now(), 'ready', %s, 'image/jpeg',"
                    " 150000, 1024, 768, 'x')", (photo, mission, subject, key))
                store.put(key, rng.randbytes(150_000), "image/jpeg")
    return subject


def background(rows: int) -> None:
    """Other people's data: the erasure's identifier sweep reads every table, so its cost grows with them."""
    from chalicelib import bootstrap
    from chalicelib.db.pool import transaction
    from chalicelib.services import agents

    other = agents.register_agent(bootstrap.unit_of_work(), kind="agent", name="Someone Else", description="",
                                  caller=None).agent["id"]
    with transaction() as conn:
        conn.execute(
            "INSERT INTO submissions (id, agent_id, kind, title, body, content_hash, status, decided_by, decided_at)"
            " SELECT gen_random_uuid(), %s, 'debate', 'title ' || g, repeat('words of other people ', 40), 'h' || g,"
            " 'approved', 'layer_b', now() FROM generate_series(1, %s) g", (other, rows))
        conn.execute(
            "INSERT INTO decision_trail (submission_id, stage, verdict) SELECT id, 'layer_b',"
            " jsonb_build_object('decision', 'approved', 'reasoning', repeat('fine ', 40)) FROM submissions"
            " WHERE agent_id = %s", (other,))
        conn.execute(
            "INSERT INTO outbox (topic, payload, sent_at) SELECT 'guardrail', jsonb_build_object('submission_id', id),"
            " now() FROM submissions WHERE agent_id = %s", (other,))
        conn.execute("ANALYZE")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--photos", type=int, default=0)
    parser.add_argument("--background", type=int, default=0,
                        help="other people's submissions (with trails, outbox rows) the erasure sweep must scan")
    parser.add_argument("--out-dir", default="build/bench")
    args = parser.parse_args(argv)

    name = f"bench_dsar_{os.getpid()}"
    url = database.create_scratch_database(name)
    blobs = tempfile.mkdtemp(prefix="bench-dsar-")
    os.environ.update({"DATABASE_URL": url, "DISPATCH_MODE": "local", "EVIDENCE_STORE": "local", "BLOB_DIR": blobs,
                       "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_NAMESPACE": "peerguard",
                       "POWERTOOLS_METRICS_DISABLED": "true", "STAGE": "test"})
    try:
        from chalicelib import bootstrap
        from chalicelib.adapters import ledger_repo
        from chalicelib.config import reset_settings
        from chalicelib.db.migrate import migrate
        from chalicelib.db.pool import close_pool, transaction
        from chalicelib.services import privacy_export_job, privacy_job, privacy_jobs, privacy_requests
        from chalicelib.services.agents import authenticate, create_admin_key

        reset_settings()
        migrate(url)
        started = time.perf_counter()
        subject = populate(args.submissions, args.photos)
        populate_s = time.perf_counter() - started
        if args.background:
            background(args.background)

        stores = privacy_job.Stores(blobs=bootstrap.blob_store(), exports=bootstrap.subject_export_store())
        uow = bootstrap.unit_of_work()

        def run(request_id: UUID) -> str:
            return privacy_jobs.run_request(uow, stores, bootstrap.job_locks(), request_id)

        # Filed by an admin on the subject's behalf: a subject's own exports are limited to a few a day.
        first_admin = authenticate(uow, f"Bearer {create_admin_key(uow, 'bench')}")
        second_admin = authenticate(uow, f"Bearer {create_admin_key(uow, 'bench')}")
        rounds: list[dict[str, Any]] = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            data, counts = privacy_export_job.build_export(uow, stores.blobs, subject, now=datetime.now(UTC))
            build_s = time.perf_counter() - t0
            filed = privacy_requests.file_request(uow, first_admin, type_="export", subject_id=subject,
                                                   reason="bench")
            t1 = time.perf_counter()
            outcome = run(filed["id"])
            job_s = time.perf_counter() - t1
            assert outcome == "completed", outcome
            with transaction() as conn:
                row = conn.execute("SELECT export_bytes FROM privacy_requests WHERE id = %s", (filed["id"],)).fetchone()
            assert row is not None
            with zipfile.ZipFile(BytesIO(data)) as archive:
                uncompressed = sum(i.file_size for i in archive.infolist())
                files = len(archive.infolist())
            rounds.append({"build_s": build_s, "job_s": job_s, "archive_bytes": int(row["export_bytes"]),
                           "uncompressed_bytes": uncompressed, "files": files, "counts": counts})

        # One erasure of the same subject (filed by an admin, approved by another).
        filed = privacy_requests.file_request(uow, first_admin, type_="erase", subject_id=subject, reason="bench")
        privacy_requests.approve(uow, second_admin, filed["id"], reason="bench")
        t2 = time.perf_counter()
        outcome = run(filed["id"])
        erase_s = time.perf_counter() - t2
        with transaction() as conn:
            verified = ledger_repo.verify(conn)
        close_pool()
    finally:
        database.drop_database(name)

    med = {k: statistics.median(r[k] for r in rounds) for k in ("build_s", "job_s", "archive_bytes",
                                                                 "uncompressed_bytes")}
    result = {
        "submissions": args.submissions, "photos": args.photos, "background_rows": args.background,
        "rounds": rounds, "median": med,
        "populate_s": populate_s, "erase_s": erase_s, "erase_outcome": outcome,
        "ledger_mismatches_after_erasure": len(verified["mismatches"]),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_avg": os.getloadavg()},
    }
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "dsar.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    table = [
        f"# DSAR export of a subject with {args.submissions} submissions ({args.photos} photos)", "",
        f"| figure | median of {args.rounds} rounds |", "|---|---|",
        f"| archive size | {med['archive_bytes'] / 1024:.1f} KiB ({med['archive_bytes']} bytes) |",
        f"| uncompressed JSON + photos | {med['uncompressed_bytes'] / 1024:.1f} KiB |",
        f"| build the archive (read snapshot + ZIP) | {med['build_s'] * 1000:.0f} ms |",
        f"| whole export job (build, store, complete, audit) | {med['job_s'] * 1000:.0f} ms |",
        f"| erasure job of the same subject (once; {args.background} other submissions) | {erase_s * 1000:.0f} ms"
        f" ({outcome}) |",
        f"| ledger mismatches after the erasure | {len(verified['mismatches'])} |",
    ]
    (out / "dsar.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
