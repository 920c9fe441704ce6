"""Gap-free numbers: project numbers per year and scheme, 发文字号 per year.

A number is taken by an UPDATE of its sequence row inside the approving transaction.
The row lock orders concurrent approvals; a rolled-back approval gives its number back,
so the numbers that exist are consecutive.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from workflow.core.models import NumberSequence, db
from workflow.timeutil import SHANGHAI


def next_number(key: str) -> int:
    """The next number under ``key`` (1 for a new key); the caller's transaction commits."""
    take = (sa.update(NumberSequence).where(NumberSequence.key == key)
            .values(last=NumberSequence.last + 1).returning(NumberSequence.last)
            .execution_options(synchronize_session=False))
    number = db.session.execute(take).scalar()
    if number is None:
        dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
        db.session.execute(dialect.insert(NumberSequence).values(key=key, last=0)
                           .on_conflict_do_nothing())
        number = db.session.execute(take).scalar_one()
    return int(number)


def project_number(year: int, code: str) -> str:
    """``GZKJ-2026-BG-0001`` (``code``: the scheme's, e.g. ``BG``)."""
    n = next_number(f"project:{year}:{code}")
    return f"{current_app.config['PROJECT_PREFIX']}-{year}-{code}-{n:04d}"


def doc_number(at: datetime) -> str:
    """``赣市科字〔2026〕15号``: numbered per calendar year of issue (Asia/Shanghai)."""
    year = at.astimezone(SHANGHAI).year
    n = next_number(f"doc:{year}")
    return f"{current_app.config['DOC_PREFIX']}〔{year}〕{n}号"
