"""Shared set-up for the benchmarks: a PostgreSQL database of their own, and figures."""

from __future__ import annotations

import os
import socket
import statistics
import sys
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
# Each benchmark gets a database of its own (kjflow_bench_<script>), so that two can run
# at the same time without dropping each other's tables.
_SCRIPT = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else "bench"
BENCH_DB = os.environ.get("KJFLOW_BENCH_DATABASE_URL",
                          f"postgresql://postgres@127.0.0.1:5432/kjflow_bench_{_SCRIPT}")


def fresh_database(url: str = BENCH_DB) -> str:
    """Drop and recreate the benchmark database; return its SQLAlchemy URL."""
    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def build_schema(app_url: str) -> None:
    from flask_migrate import upgrade

    from workflow import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": app_url, "SECRET_KEY": "bench",
                      "INSTANCE_PATH": str(ROOT / "instance" / "bench")})
    with app.app_context():
        upgrade()
        from workflow.core.models import db

        db.engine.dispose()


def db_app(url: str) -> Any:
    """The app on ``url`` with a one-connection pool and the outbox's broker send turned
    off: the benchmarks that use it measure the database path, not the broker."""
    from workflow import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                      "INSTANCE_PATH": str(ROOT / "instance" / "bench"),
                      "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "pool_pre_ping": False}})
    app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: None
    return app


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for a server the bench starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def bench_line(name: str, **figures: object) -> str:
    parts = []
    for key, value in figures.items():
        parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    return f"BENCH {name} " + " ".join(parts)


__all__ = ["BENCH_DB", "ROOT", "bench_line", "build_schema", "free_port", "fresh_database",
           "median", "rss_mb", "sa"]
