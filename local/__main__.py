"""Local runner: `python -m local serve|admin-key|migrate|seed|db-url|verify-ledger|rotate-key|demo peer`."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from chalicelib import bootstrap
from local import database

ROOT = Path(__file__).resolve().parent.parent

LOCAL_DEFAULTS = {
    "STAGE": "local",
    "DISPATCH_MODE": "local",
    "TRUST_VERIFIED_MIN_AGE_DAYS": "0",
    "TRUST_VERIFIED_MIN_APPROVALS": "0",
    "DB_POOL_MAX_SIZE": "10",
    "POWERTOOLS_METRICS_NAMESPACE": "peerguard",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def prepare() -> str:
    """Environment, database and schema: everything the app needs before it serves."""
    for key, value in LOCAL_DEFAULTS.items():
        os.environ.setdefault(key, value)
    url = database.ensure_database()
    os.environ["DATABASE_URL"] = url
    from chalicelib.config import reset_settings
    from chalicelib.db.migrate import migrate

    reset_settings()
    migrate(url)
    return url


def cmd_admin_key(_: argparse.Namespace) -> int:
    prepare()
    from chalicelib.services.agents import create_admin_key

    sys.stdout.write(create_admin_key(bootstrap.unit_of_work(), label="cli") + "\n")
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    url = database.ensure_database()
    from chalicelib.db.migrate import migrate

    applied = migrate(url)
    sys.stdout.write(f"applied: {', '.join(applied) or 'nothing (up to date)'}\n")
    return 0


def cmd_db_url(_: argparse.Namespace) -> int:
    sys.stdout.write(database.ensure_database() + "\n")
    return 0


def cmd_verify_ledger(args: argparse.Namespace) -> int:
    prepare()
    import json

    from chalicelib.services.credits import verify_ledger, verify_ledger_full

    report = verify_ledger_full(bootstrap.unit_of_work()) if args.full else verify_ledger(bootstrap.unit_of_work())
    sys.stdout.write(json.dumps(report, indent=2, default=str) + "\n")
    return 0 if not report["mismatches"] else 1


def cmd_rotate_key(args: argparse.Namespace) -> int:
    """A new local key-encryption key, then every personal value re-encrypted under it."""
    prepare()
    import json

    from chalicelib import bootstrap
    from chalicelib.adapters.field_crypto import LocalKeyFile
    from chalicelib.config import get_settings
    from chalicelib.services.personal_data import rotate_keys

    if not args.resume:
        key_id = LocalKeyFile(get_settings().local_key_file).rotate()
        sys.stdout.write(f"new key: {key_id}\n")
    report = rotate_keys(bootstrap.unit_of_work())
    sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    return 0 if report.done else 1


def cmd_seed(_: argparse.Namespace) -> int:
    prepare()
    from local.seed import seed_demo

    keys = seed_demo()
    sys.stdout.write(_format_keys(keys))
    return 0


def _format_keys(keys: dict[str, object]) -> str:
    lines = ["demo keys (local only; also in .local/demo-keys.json):", f"  admin: {keys['admin_key']}"]
    for agent in keys["agents"]:  # type: ignore[attr-defined]
        lines.append(f"  agent {agent['name']}: {agent['api_key']}")
    return "\n".join(lines) + "\n"


class _Stop(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: leave the serving loop and stop everything cleanly. A KeyboardInterrupt,
    which waitress re-raises wherever the signal lands (a plain exception raised while a channel reads
    is logged and swallowed, and the server would keep serving)."""


def cmd_serve(args: argparse.Namespace) -> int:
    prepare()
    os.environ["PUBLIC_BASE_URL"] = f"http://{args.host}:{args.port}"
    from chalice.cli.factory import CLIFactory

    from app import app
    from chalicelib import bootstrap
    from chalicelib.config import get_settings
    from chalicelib.db.pool import close_pool
    from chalicelib.entrypoints.schedules import JOBS
    from local.dispatcher import Dispatcher, LocalSender, Scheduler
    from local.handlers import local_handlers
    from local.wsgi import make_server

    if not args.no_seed:
        from local.seed import seed_demo

        sys.stdout.write(_format_keys(seed_demo()))
    sender = LocalSender(local_handlers())
    bootstrap.install_sender(sender)
    settings = get_settings()
    # Several consumers per queue, as SQS + Lambda run several at once; the outbox lease keeps them apart.
    dispatcher = Dispatcher(sender, consumers=args.consumers or settings.local_consumers_per_queue)
    scheduler = Scheduler(JOBS)
    config = CLIFactory(str(ROOT)).create_config_obj(chalice_stage_name="local")
    server = make_server(app, config, args.host, args.port,
                         max_body_bytes=max(settings.max_request_bytes, settings.evidence_max_bytes))

    def shutdown(signum: int, frame: object) -> None:
        raise _Stop

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    dispatcher.start()
    scheduler.start()
    sys.stdout.write(f"peerguard listening on http://{args.host}:{args.port} (Ctrl-C stops)\n")
    sys.stdout.flush()
    try:
        server.run()
    except _Stop:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        server.task_dispatcher.shutdown()
        server.close()
        dispatcher.stopped.set()
        scheduler.stopped.set()
        dispatcher.join(timeout=10)
        scheduler.join(timeout=10)
        close_pool()
        sys.stdout.write("stopped\n")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import contextlib
    import io

    from local.demo import run_peer_demo

    out = sys.stdout

    def say(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    # The app's logs and metric lines would bury the story: kept aside, shown only if it fails.
    noise = io.StringIO()
    try:
        with contextlib.redirect_stdout(noise), contextlib.redirect_stderr(noise):
            return run_peer_demo(say)
    except Exception:
        sys.stderr.write(noise.getvalue()[-8000:])
        raise


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(prog="python -m local")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the API with the dispatcher and the scheduler")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.add_argument("--no-seed", action="store_true", help="do not create demo identities")
    serve.add_argument("--consumers", type=int, default=None,
                       help="concurrent consumers per queue (default LOCAL_CONSUMERS_PER_QUEUE, 4)")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("admin-key", help="print a new admin key").set_defaults(func=cmd_admin_key)
    rotate = sub.add_parser("rotate-key", help="new local data key; re-encrypt personal values under it")
    rotate.add_argument("--resume", action="store_true", help="only finish re-encrypting under the current key")
    rotate.set_defaults(func=cmd_rotate_key)
    sub.add_parser("migrate", help="apply pending migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("seed", help="create demo identities and print their keys").set_defaults(func=cmd_seed)
    sub.add_parser("db-url", help="print the database URL").set_defaults(func=cmd_db_url)
    verify = sub.add_parser("verify-ledger", help="verify the ledger since the last full pass (--full: the whole"
                            " journal in batches, stored as the new checkpoint); exit 1 on any mismatch")
    verify.add_argument("--full", action="store_true", help="the nightly full pass, now")
    verify.set_defaults(func=cmd_verify_ledger)
    demo = sub.add_parser("demo", help="run a story end to end in a database of its own")
    demo.add_argument("story", choices=["peer"], help="peer: validators join, peers decide, rollback")
    demo.set_defaults(func=cmd_demo)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    finally:
        if "chalicelib.db.pool" in sys.modules:
            # Close the pool before the embedded server stops at exit, or it warns about lost connections.
            sys.modules["chalicelib.db.pool"].close_pool()


if __name__ == "__main__":
    sys.exit(main())
