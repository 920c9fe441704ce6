"""What a read-only request reads once: lookups that guards repeat row after row (a
call's form, a person's running projects, the sanctions in force), remembered for the
length of a ``reading()`` block, and seeded in bulk by whoever checks many rows (the
工作台 checks up to 500 rows a state: without this, several statements each).

Outside a ``reading()`` block nothing is remembered: a request that changes rows reads
them afresh. Keys name what they stand for, e.g. ``("form", call_id, version)``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")
_MEMO: ContextVar[dict[Any, Any] | None] = ContextVar("kjflow_memo", default=None)


@contextmanager
def reading() -> Iterator[None]:
    """Remember lookups until the block ends (a page that only reads)."""
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def active() -> bool:
    return _MEMO.get() is not None


def remembered(key: Any, compute: Callable[[], T]) -> T:
    """``compute()``, once per ``key`` within a ``reading()`` block."""
    memo = _MEMO.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    value: T = memo[key]
    return value


def seed(key: Any, value: Any) -> None:
    """What a bulk read found for ``key`` (nothing outside a ``reading()`` block)."""
    memo = _MEMO.get()
    if memo is not None:
        memo[key] = value
