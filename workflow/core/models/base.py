"""Declarative base, shared column types and the ``db`` extension."""

from __future__ import annotations

import enum
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

# How long a writer waits for SQLite's write lock. 30 s: on a loaded 2-core machine the
# worker's document jobs (1 to 3 s each, one writer after another) kept a login waiting
# for it more than 10 s.
SQLITE_BUSY_MS = 30_000

# Set for a request that may write (any method but GET/HEAD/OPTIONS) and for a task: on
# SQLite its transactions begin by taking the write lock (``BEGIN IMMEDIATE``).
SQLITE_WRITER: ContextVar[bool] = ContextVar("kjflow_sqlite_writer", default=False)


def sqlite_busy(err: BaseException) -> bool:
    """``err`` is SQLite's "database is locked" (``SQLITE_BUSY`` or one of its extended
    codes: a reading transaction that may no longer write, its snapshot outdated)."""
    orig = getattr(err, "orig", err)
    return (getattr(orig, "sqlite_errorcode", 0) or 0) & 0xFF == 5


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no offset of its own)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; kjflow stores aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Money in yuan, two decimals; shown as 万元. Never float.
Money = sa.Numeric(14, 2, asdecimal=True)
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def state_column(enum_cls: type[enum.Enum], name: str) -> Any:
    """A VARCHAR state column with a CHECK constraint listing the lifecycle's states."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        validate_strings=True,
        values_callable=lambda e: [m.value for m in e],
    )


class AuditedMixin:
    """The head of the row's audit chain, kept on the row: the change that locks and
    updates the row moves the head in the same UPDATE, so appending to the chain needs
    no extra query and writers of different rows never meet."""

    audit_seq: Mapped[int] = mapped_column(default=0, server_default="0")
    audit_hash: Mapped[str | None] = mapped_column(sa.String(64))


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


ZERO = Decimal("0.00")
