"""The local scheduler runs each job on its own, as EventBridge invokes each rule's function.

Found by the fault harness (bench/chaos.py): the outbox sweep handed a backlog to slow handlers
(Layer B timing out) inside the scheduler's only thread, so the alert engine and the evaluation
timeouts stopped running for minutes and `scheduler_stalled` fired instead of the alert that mattered.
"""

from __future__ import annotations

import threading

from chalicelib.entrypoints.schedules import Job
from local.dispatcher import Scheduler

WAIT_S = 30  # generous: these are events, not timings


def test_a_slow_job_never_holds_the_other_jobs_back_and_never_runs_twice_at_once(db: str) -> None:
    # Given a sweep that hangs until released, and an alert engine every second
    release, sweep_started = threading.Event(), threading.Event()
    sweeps: list[int] = []
    engine_runs = threading.Semaphore(0)

    def sweep() -> int:
        sweeps.append(1)
        sweep_started.set()
        release.wait(WAIT_S)
        return 0

    def engine() -> int:
        engine_runs.release()
        return 0

    scheduler = Scheduler([Job("outbox_sweep", "rate(1 minute)", 1, sweep),
                           Job("alert_engine", "rate(1 minute)", 1, engine)], first_delay_s=0)
    scheduler.start()
    try:
        assert sweep_started.wait(WAIT_S)
        # When the sweep is stuck, the engine still runs, again and again
        for _ in range(3):
            assert engine_runs.acquire(timeout=WAIT_S)
        # Then the stuck sweep was never started a second time meanwhile
        assert sweeps == [1]
    finally:
        release.set()
        scheduler.stopped.set()
        scheduler.join(timeout=WAIT_S)


def test_a_failing_job_is_logged_and_runs_again_at_its_next_turn(db: str) -> None:
    attempts = threading.Semaphore(0)

    def broken() -> int:
        attempts.release()
        raise RuntimeError("boom")

    scheduler = Scheduler([Job("evaluation_timeouts", "rate(1 minute)", 1, broken)], first_delay_s=0)
    scheduler.start()
    try:
        for _ in range(2):
            assert attempts.acquire(timeout=WAIT_S)
    finally:
        scheduler.stopped.set()
        scheduler.join(timeout=WAIT_S)
