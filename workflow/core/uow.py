"""One unit of work per request: it commits once when it succeeds and rolls back when it
fails. Views never commit or roll back, and nothing a view calls does either.

- **Where the commit runs.** ``UnitOfWorkFlask.dispatch_request`` runs the view, makes its
  answer a response and commits when the status is below 400, whatever the method (a
  request that wrote nothing commits nothing). The commit runs inside the
  dispatch, so an error at commit (a stale version, a constraint, a value the database
  cannot store) reaches the app's error handlers as an error of the view would: the page
  or the API's error shape with 409 or 422 (``workflow/web``), never a 500. Every view
  goes through it, those of blueprints added later included.
- **Failure.** When the view raises, or answers 400 or more, the request is rolled back
  before any error handler runs (``handle_user_exception``), so an error page reads what
  is stored, not a half-made change.
- **A refused step in a request that goes on.** A page that refuses an action and then
  redirects (``attempt()`` in ``workflow/web``) runs the action in a SAVEPOINT
  (``with db.session.begin_nested():``): the refusal undoes the action at once, whatever
  the view did before stands, and the request commits it when it succeeds.
- **keep().** What the transaction wrote so far stands even if the request then fails: a
  failed login's record counts towards the lock-out; a draft is saved although its
  submission is refused. A failing request rolls back to its last keep point and commits
  what came before.
- **Outbox.** Events leave only after the request's one commit (``workflow/core/outbox.py``
  sends on the outermost commit); a rolled-back request or savepoint sends nothing.

Who else commits: code that runs outside a request is a unit of work of its own and
commits itself: CLI commands (``workflow/cli.py`` and the demo data it seeds), Celery
tasks (``worker/``: the outbox relay and consumers commit each delivery, the audit digest;
a job (``core/jobs.py``) commits its start, its work with its result, or its failure),
and the beat's per-row loops (``notify/scheduler.py``, ``review.operations.expire_overdue``,
``notify.messages.send_reminders``, ``annual.operations``' opening, overdue marking and
reminders), which commit row by row so that one refusal does not
undo the others; and a reading request's touch of its session's "last seen"
time (``accounts.sessions._touch``), on a connection of its own.
``tests/unit/workflow/test_uow.py`` holds the list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, g, has_request_context
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from workflow.core.extensions import db

log = logging.getLogger(__name__)

_KEPT = "kjflow_uow_kept"
F = TypeVar("F", bound=Callable[..., object])


class UnitOfWorkFlask(Flask):
    """Flask whose every request is one unit of work (see the module)."""

    def dispatch_request(self) -> ResponseReturnValue:
        response = self.make_response(super().dispatch_request())
        if response.status_code < 400:
            # An error here goes to handle_user_exception and the error handlers.
            db.session.commit()
            g.pop(_KEPT, None)
        else:
            fail()
        return response

    def handle_user_exception(self, e: Exception) -> HTTPException | ResponseReturnValue:
        fail()
        return super().handle_user_exception(e)


def writes(view: F) -> F:
    """Mark a view that writes although it answers GET (a counted lookup): on SQLite its
    transaction takes the write lock from its start, as a POST's does
    (``workflow/__init__.py``), instead of failing to upgrade a read half-way."""
    view.kjflow_writes = True  # type: ignore[attr-defined]
    return view


def writes_on(view: Callable[..., object] | None) -> bool:
    return bool(getattr(view, "kjflow_writes", False))


def keep() -> None:
    """What this transaction wrote so far is committed even if the request then fails.
    Outside a request the caller owns the transaction, and this does nothing."""
    if has_request_context():
        setattr(g, _KEPT, db.session.begin_nested())


def fail() -> None:
    """Roll back the failed request: to its last keep point, committing what came before,
    or wholly."""
    kept = g.pop(_KEPT, None)
    session = db.session()
    # The keep point still stands unless the whole transaction went (a failed commit).
    # It may be open, or already undone by a flush that failed inside it.
    open_ = session.get_nested_transaction()
    while open_ is not None and open_ is not kept:
        open_ = open_.parent
    if open_ is None:
        session.rollback()
        return
    try:
        open_.rollback()
        session.commit()
    except Exception:  # the request's own error is answered all the same
        log.exception("what the failed request kept could not be committed")
        session.rollback()
