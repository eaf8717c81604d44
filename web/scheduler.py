"""The scheduled jobs (APScheduler 3): run by one process only, elected with a PostgreSQL advisory lock.

Each job has a fixed id, coalesces missed runs into one, never runs twice at once, and tolerates a
short delay. On PostgreSQL every process schedules the jobs, but a run goes ahead only in the process
holding the advisory lock (on a connection of its own, so a process that dies frees it). SQLite is one
process by design: it always runs them. Every run is recorded in `jobrun`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine
from sqlmodel import Session

from booking import jobs as booking_jobs
from devices import digest, jobs
from devices.models import JobRun
from firmware_bridge.center.commands import OutboxLink
from web import outbox, webhooks
from web.metrics import JOB_DURATION, JOB_RUNS
from web.settings import Settings

log = logging.getLogger(__name__)

# Any constant unique to FabLab Hub within the database: the advisory lock's key.
LEADER_LOCK_KEY = 0x0FAB_1AB0
WORKER = f"{socket.gethostname()}:{os.getpid()}"


class Leadership:
    """Whether this process runs the jobs."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: sa.Connection | None = None
        self._lock = threading.Lock()

    def is_leader(self) -> bool:
        """True if this process holds (or just took) the lock; checks the lock's connection is alive."""
        if self._engine.dialect.name != "postgresql":
            return True
        with self._lock:
            if self._connection is not None:
                try:
                    self._connection.execute(sa.text("SELECT 1"))
                    return True
                except sa.exc.DBAPIError:
                    log.warning("lost the scheduler's leader connection; another process may take over")
                    self._drop()
            try:
                connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                got = connection.execute(
                    sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK_KEY}
                ).scalar()
            except sa.exc.DBAPIError:
                return False
            if got:
                log.info("this process (%s) now runs the scheduled jobs", WORKER)
                self._connection = connection
                return True
            connection.close()
            return False

    def release(self) -> None:
        with self._lock:
            if self._connection is not None:
                with contextlib.suppress(sa.exc.DBAPIError):
                    self._connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_LOCK_KEY})
                self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(sa.exc.DBAPIError):
                self._connection.close()
            self._connection = None


class Jobs:
    """The center's scheduler."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        clock: Callable[[], datetime],
        send: Callable[[OutboxLink], None],
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.send = send
        self.leadership = Leadership(engine)
        # Over SMTP, the e-mails are composed and sent in a process of lower CPU priority.
        self.mail: outbox.Sender | outbox.Composer = (
            outbox.Composer(settings) if settings.smtp_url else outbox.sender_for(settings)
        )
        self.scheduler = BackgroundScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
        )
        grace = timedelta(minutes=settings.no_show_grace_min)
        table: list[tuple[str, float, Callable[[datetime], object]]] = [
            (
                "offline-check",
                settings.offline_check_s,
                lambda now: jobs.check_offline(engine, OutboxLink, self._send, now),
            ),
            (
                "maintenance-check",
                settings.maintenance_check_s,
                lambda now: jobs.check_maintenance(engine, OutboxLink, self._send, now),
            ),
            (
                "session-enforcement",
                settings.session_check_s,
                lambda now: jobs.enforce_sessions(engine, OutboxLink, self._send, now),
            ),
            (
                "no-show-release",
                settings.no_show_check_s,
                lambda now: booking_jobs.release_no_shows(engine, now, grace),
            ),
            ("sign-in-records", 3600.0, lambda now: booking_jobs.forget_old_sign_ins(engine, now)),
            (
                "reminders",
                60.0,
                lambda now: booking_jobs.send_reminders(
                    engine, now, timedelta(minutes=settings.reminder_min)
                ),
            ),
            ("training-expiry", 3600.0, lambda now: booking_jobs.warn_expiring_trainings(engine, now)),
            (
                "deliveries",
                settings.delivery_check_s,
                lambda now: outbox.deliver_due(engine, self.mail, settings, now),
            ),
            (
                "digest",
                60.0,
                lambda now: digest.send_digests(engine, now, settings.digest_hour),
            ),
            (
                "webhooks",
                settings.delivery_check_s,
                lambda now: webhooks.deliver_due(engine, settings, now),
            ),
        ]
        for job_id, every_s, work in table:
            self.scheduler.add_job(
                self.run,
                "interval",
                seconds=every_s,
                id=job_id,
                name=job_id,
                args=[job_id, work],
                replace_existing=True,
            )

    def _send(self, link: OutboxLink) -> None:
        self.send(link)

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.shutdown(wait=True)
        self.leadership.release()
        if isinstance(self.mail, outbox.Composer):
            self.mail.close()

    def run(self, job_id: str, work: Callable[[datetime], object]) -> bool:
        """Run one job now if this process leads; record the run. Returns whether it ran."""
        if not self.leadership.is_leader():
            return False
        started = self.clock()
        with Session(self.engine) as session:
            run = JobRun(job_id=job_id, worker=WORKER, started_at=started)
            session.add(run)
            session.commit()
            run_id = run.id
        ok, detail = True, ""
        timer = time.perf_counter()
        try:
            result = work(started)
            detail = "" if result is None else str(result)[:500]
        except Exception as exc:  # a failing job is logged and recorded; the next run tries again
            log.exception("scheduled job %s failed", job_id)
            ok, detail = False, repr(exc)[:500]
        JOB_DURATION.labels(job=job_id).observe(time.perf_counter() - timer)
        JOB_RUNS.labels(job=job_id, outcome="ok" if ok else "failed").inc()
        with Session(self.engine) as session:
            row = session.get(JobRun, run_id)
            if row is not None:
                row.finished_at, row.ok, row.detail = self.clock(), ok, detail
                session.add(row)
                session.commit()
        return True
