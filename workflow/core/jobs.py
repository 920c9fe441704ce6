"""Long work in the worker, with progress a page can poll.

A view (or the API) calls ``start(kind, actor, params)``: it writes the ``Job`` row and a
``job.started`` outbox event in the request's one transaction, so the work is sent only
once that transaction has committed, and a refused request starts nothing. The worker's
``run_job`` consumer then calls ``run(job_id)``:

1. lock the row; a job that is running, done or failed is not run again (a second
   delivery of the event does nothing); it becomes ``running`` in a commit of its own;
2. the kind's function runs in the worker's transaction and reports ``progress(done,
   total)``; the figures are written, at most every ``PROGRESS_EVERY`` seconds, to a small
   file of the file store (``jobs/<id>.json``, replaced whole: a reader never sees half of
   it; first written, with nothing done, before the row says ``running``), which the job's
   box and its API twin read while the job runs (``figures``). Not to the row: on SQLite
   the worker's transaction holds the one write lock for as long as the function runs, so
   no other connection could write it. The file serves PostgreSQL the same way, so there
   is one path; the file store is shared by the web and the worker already (the worker
   reads uploads from it);
3. the function's result, the final figures and ``done`` commit together with its work
   on the row, which answers from then on; when the function raises, its work is rolled
   back and the job is ``failed`` with the error's Chinese message. Progress files older
   than ``STALE`` (of jobs long finished) are removed after each run.

A job left ``running`` by a worker that died is marked failed when its event comes round
again after ``STALE`` (the work, rolled back with the worker's transaction, did not
happen): the person starts it again.

The kinds are the features' (``Rules.jobs``), bound by the registry like the rest.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from workflow.core import files, outbox
from workflow.core.errors import ServiceError
from workflow.core.models import Job, JobState, OutboxEvent, db, utcnow

log = logging.getLogger(__name__)

TOPIC = "job.started"
CONSUMER = "run_job"
# Longer than the consume task's hard time limit: a job running this long has lost its worker.
STALE = timedelta(minutes=10)
PROGRESS_EVERY = 0.3  # seconds between two progress writes (the last one always goes)
PROGRESS_FOLDER = "jobs"  # the file store's working folder of running jobs' figures


class Progress(Protocol):
    """How far a job's function got: ``progress(done)`` or ``progress(done, total)``."""

    def __call__(self, done: int, total: int | None = None) -> None: ...


JobResult = dict[str, Any]
JobFunction = Callable[[Job, Progress], JobResult]

KINDS: dict[str, JobFunction] = {}

INTERRUPTED = "处理中断（处理进程已退出），未做任何更改，请重新发起"
INTERNAL = "处理时发生内部错误，未做任何更改，请稍后重试或联系管理员"
TIMED_OUT = "处理超时，未做任何更改，请缩小范围后重新发起"


def install(kinds: Mapping[str, JobFunction]) -> None:
    """Bind job kinds to their functions; a kind bound to two functions is a mistake."""
    for kind, fn in kinds.items():
        if KINDS.get(kind, fn) is not fn:
            raise RuntimeError(f"job kind {kind} is implemented twice")
        KINDS[kind] = fn


def start(kind: str, actor_id: int | None, params: Mapping[str, Any] | None = None,
          total: int | None = None) -> Job:
    """A queued job and its outbox event, in the caller's transaction."""
    if kind not in KINDS:
        raise RuntimeError(f"no job kind {kind}")
    job = Job(kind=kind, started_by_id=actor_id, params=dict(params or {}), total=total,
              state=JobState.queued, done=0)
    db.session.add(job)
    db.session.flush()
    outbox.emit(TOPIC, "job", job.id, {"kind": kind})
    return job


def error_text(err: BaseException) -> str:
    """What the person reads of a failure: a refusal's own words (and its field reasons),
    never a traceback."""
    if isinstance(err, ServiceError):
        details = err.details
        reasons: list[str] = []
        if isinstance(details, dict):
            reasons = [str(v) for v in details.values()]
        elif isinstance(details, list):
            reasons = [str(d.get("message", d)) if isinstance(d, dict) else str(d)
                       for d in details]
        return err.message + ("：" + "；".join(reasons) if reasons else "")
    if type(err).__name__ == "SoftTimeLimitExceeded":
        return TIMED_OUT
    return INTERNAL


class _Tracker:
    """The ``progress`` a job's function calls: remembers the last figures and writes them
    at most every ``PROGRESS_EVERY`` seconds (and always when done reaches total)."""

    def __init__(self, job_id: int, total: int | None) -> None:
        self.job_id = job_id
        self.done = 0
        self.total = total
        self._last = 0.0

    def __call__(self, done: int, total: int | None = None) -> None:
        self.done = max(int(done), 0)
        if total is not None:
            self.total = max(int(total), 0)
        now = time.monotonic()
        last_step = self.total is not None and self.done >= self.total
        if now - self._last < PROGRESS_EVERY and not last_step:
            return
        self._last = now
        self.write()

    def write(self) -> None:
        try:
            write_progress(self.job_id, self.done, self.total)
        except OSError:  # figures a page shows, not the work: the job goes on without them
            log.warning("job %s: progress not written", self.job_id, exc_info=True)


def progress_path(job_id: int) -> Path:
    return files.working_folder(PROGRESS_FOLDER) / f"{int(job_id)}.json"


def write_progress(job_id: int, done: int, total: int | None) -> None:
    """A running job's figures, for its pollers (see the module: not on the row)."""
    files.replace_file(progress_path(job_id),
                       json.dumps({"done": done, "total": total}).encode())


def read_progress(job_id: int) -> tuple[int, int | None] | None:
    """The figures a running job last reported, or None when it reported none yet."""
    try:
        raw = json.loads(progress_path(job_id).read_bytes())
    except (OSError, ValueError):
        return None
    done, total = (raw.get("done"), raw.get("total")) if isinstance(raw, dict) else (-1, -1)
    if not isinstance(done, int) or done < 0 or not (
            total is None or (isinstance(total, int) and total >= 0)):
        return None
    return done, total


def figures(job: Job) -> tuple[int, int | None]:
    """How far ``job`` got, ``(done, total)`` as its box and the API show it: while it
    runs, what its function last reported; otherwise the row's (once done, the final
    figures, committed with the work)."""
    if job.state is JobState.running:
        reported = read_progress(job.id)
        if reported is not None:
            return reported
    return job.done, job.total


def sweep_progress() -> None:
    """Remove the progress files no job writes any more: older than ``STALE``, longer
    than any job runs (a finished job's file is left a while, since a poller that read
    the row as running just before the job's commit may still read it)."""
    folder = files.working_folder(PROGRESS_FOLDER)
    cutoff = time.time() - STALE.total_seconds()
    for path in folder.glob("*"):  # a temporary file a crash left behind too
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            continue


def run(job_id: int) -> bool:
    """Run a queued job once (see the module). Returns whether it ran now."""
    job = db.session.get(Job, job_id, with_for_update=True)
    now = utcnow()
    if job is None or job.state.finished:
        db.session.rollback()
        return False
    if job.state is JobState.running:
        if (job.updated_at or job.created_at) + STALE > now:
            db.session.rollback()  # another worker has it in hand
            return False
        _finish(job, JobState.failed, error=INTERRUPTED)
        db.session.commit()
        return False
    fn = KINDS.get(job.kind)
    if fn is None:
        _finish(job, JobState.failed, error="未知的任务类型，无法处理")
        db.session.commit()
        return False
    tracker = _Tracker(job_id, job.total)
    # Nothing reported yet, written before the row says running: a file left by another
    # job of the same id (a database emptied and started again) is never read as this one's.
    tracker.write()
    job.state, job.started_at, job.updated_at = JobState.running, now, now
    db.session.commit()
    try:
        result = fn(job, tracker)
        job = db.session.get_one(Job, job_id, populate_existing=True)
        job.total = tracker.total if tracker.total is not None else tracker.done
        job.done = tracker.done
        _finish(job, JobState.done, result=result)
        db.session.commit()
    except Exception as err:  # recorded on the job, which is final: nothing retries it
        db.session.rollback()
        if not isinstance(err, ServiceError):
            log.exception("job %s (%s) failed", job_id, getattr(job, "kind", "?"))
        job = db.session.get_one(Job, job_id, populate_existing=True)
        _finish(job, JobState.failed, error=error_text(err))
        db.session.commit()
    try:
        sweep_progress()
    except OSError:
        log.warning("old job progress files not removed", exc_info=True)
    return True


def _finish(job: Job, state: JobState, *, result: JobResult | None = None,
            error: str | None = None) -> None:
    now = utcnow()
    job.state, job.result, job.error = state, result, error
    job.updated_at = job.finished_at = now


def run_event(event: OutboxEvent) -> None:
    """The ``run_job`` consumer (installed by the registry)."""
    run(event.entity_id)


def visible(user: Any, job: Job, reader: Callable[[Any], bool]) -> bool:
    """Who may see a job: the person who started it, and whoever ``reader`` admits."""
    return bool(getattr(user, "is_authenticated", False)) and (
        job.started_by_id == getattr(user, "id", None) or reader(user))
