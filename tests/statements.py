"""Counting the SQL statements a request sends (issue 19): a page or an API list costs a
fixed number of statements, whatever the number of rows it shows, never one per row.

    with Statements() as seen:
        client.get("/finance")
    assert len(seen) <= STATEMENT_LIMIT

``flat(client, url, grow)`` is the N+1 check: the statements of one GET, then ``grow()``
adds rows of what the page lists, then the same GET again: the count must not change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from workflow.core.models import db

# The bound every main page and API list keeps (issue 19's target).
STATEMENT_LIMIT = 20


class Statements:
    """The statements sent to the database while the block runs (and the number of bound
    parameters of each: PostgreSQL takes at most 65,535 in one)."""

    def __init__(self) -> None:
        self.sql: list[str] = []
        self.params: list[int] = []

    def __enter__(self) -> Statements:
        sa.event.listen(db.engine, "before_cursor_execute", self.seen)
        return self

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(db.engine, "before_cursor_execute", self.seen)

    def __len__(self) -> int:
        return len(self.sql)

    def seen(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
             executemany: bool) -> None:
        if isinstance(parameters, dict):
            count = len(parameters)
        elif parameters and isinstance(parameters[0], (list, tuple, dict)):
            count = sum(len(p) for p in parameters)
        else:
            count = len(parameters or ())
        self.sql.append(statement)
        self.params.append(count)

    def report(self) -> str:
        return "\n".join(f"{i + 1:3d}. {s[:160]}" for i, s in enumerate(self.sql))


def statements_of(client: Any, url: str, **kwargs: Any) -> Statements:
    """The statements of one GET (which must answer 200)."""
    db.session.expire_all()
    with Statements() as seen:
        resp = client.get(url, **kwargs)
    assert resp.status_code == 200, (url, resp.status_code, resp.get_data(as_text=True)[:300])
    return seen


def flat(client: Any, url: str, grow: Callable[[], None], **kwargs: Any) -> int:
    """Assert that ``url`` costs at most STATEMENT_LIMIT statements and the same number
    after ``grow()`` has added rows to what it lists; return that number."""
    before = statements_of(client, url, **kwargs)
    grow()
    db.session.commit()
    after = statements_of(client, url, **kwargs)
    assert len(after) == len(before), (
        f"{url}: {len(before)} statements, then {len(after)} with more rows:\n"
        + after.report())
    assert len(after) <= STATEMENT_LIMIT, f"{url}: {len(after)} statements:\n" + after.report()
    return len(after)
