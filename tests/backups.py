"""Backup, loss and restore of a whole instance, as an operator does it: the real
``flask --app workflow`` commands in processes of their own. Shared by the SQLite (unit)
and PostgreSQL (integration) tiers."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flask_migrate
import sqlalchemy as sa
from flask import Flask

from states import ApplicationState
from workflow import create_app
from workflow.applying import operations as applications
from workflow.applying.models import Application
from workflow.core import outbox
from workflow.core.models import Attachment, AuditEvent, OutboxEvent, db
from workflow.documents.models import Document

ROOT = Path(__file__).resolve().parents[1]
FLASK = Path(sys.executable).parent / "flask"
EVIDENCE = [b"%PDF-1.4\n% test report " + str(i).encode()
            + b"\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n" for i in range(2)]


def flask(instance: Path, *args: str, database_url: str | None = None
          ) -> subprocess.CompletedProcess[str]:
    """``flask --app workflow ARGS`` for the instance in ``instance`` (its database the
    embedded SQLite file there unless ``database_url``), as an operator runs it."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "SECRET_KEY", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update({"KJFLOW_INSTANCE": str(instance), "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                            os.environ.get("PYTHONPATH")]))})
    if database_url:
        env["DATABASE_URL"] = database_url
    return subprocess.run([str(FLASK), "--app", "workflow", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def instance_app(instance: Path, database_url: str | None = None) -> Flask:
    """The app of that instance as its own processes build it (its key from the instance
    folder); nothing is sent to a broker."""
    config: dict[str, Any] = {"INSTANCE_PATH": str(instance)}
    if database_url:
        config["SQLALCHEMY_DATABASE_URI"] = database_url
    app = create_app(config)
    app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: None
    return app


def dispose(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


def populate(app: Flask) -> None:
    """The demo data, two uploads of a running project's leader, and every document the
    demo's events ask the worker to render (rendered here, as the worker would)."""
    from workflow import demo

    with app.app_context():
        demo.seed()
        db.session.commit()
        project = db.session.scalars(sa.select(Application).where(
            Application.state == ApplicationState.in_progress).order_by(Application.id)).first()
        assert project is not None, "the demo has a running project"
        for i, content in enumerate(EVIDENCE):
            applications.attach_evidence(project.applicant, project, "milestone_evidence",
                                         f"检测报告{i + 1}.pdf", io.BytesIO(content))
        db.session.commit()
        for event_id, topic in db.session.execute(sa.select(OutboxEvent.id, OutboxEvent.topic)
                                                  .order_by(OutboxEvent.id)).all():
            for consumer in outbox.consumers_for(topic):
                if consumer.startswith("render_"):
                    outbox.consume(event_id, consumer)
        db.session.commit()


@dataclass
class State:
    """What must survive: every table's rows, every stored file's content, the key."""

    counts: dict[str, int]
    files: dict[str, str]  # the store's path of each file -> SHA-256 of its content
    named: set[str]  # the SHA-256s the database's documents and attachments name
    audit_events: int
    key: str


def state_of(app: Flask) -> State:
    with app.app_context():
        names = sorted(sa.inspect(db.engine).get_table_names())
        counts = {n: db.session.scalar(sa.select(sa.func.count()).select_from(sa.table(n)))
                  for n in names}
        named = set(db.session.scalars(sa.select(Document.sha256))) | set(
            db.session.scalars(sa.select(Attachment.sha256)))
        events = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
        db.session.remove()
        root = Path(app.config["UPLOAD_FOLDER"])
    files = {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(root.rglob("*")) if p.is_file()}
    key = (Path(app.instance_path) / "secret_key").read_text()
    return State(counts, files, named, events or 0, key)


def manifest_of(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        manifest: dict[str, Any] = json.load(member)
    return manifest


def assert_restored(before: State, after: State) -> None:
    """The same rows in every table and the same files, each file's content matching
    the SHA-256 it is stored under and the documents and attachments naming it."""
    assert after.counts == before.counts
    assert after.audit_events == before.audit_events > 0
    assert after.files == before.files
    assert all(path.rsplit("/", 1)[-1] == sha for path, sha in after.files.items())
    assert after.named <= set(after.files.values())
    assert after.key == before.key


def run_scenario(tmp: Path, database_url: str | None, lose_database: Callable[[], None]
                 ) -> None:
    """Data with uploads and rendered PDFs -> ``flask backup`` -> the database and the
    instance folder (file store, key) gone -> ``flask restore`` into the empty database
    -> ``flask audit verify`` passes, and every row and stored file is back."""
    instance = tmp / "instance"
    archives = tmp / "archives"
    in_process_url = database_url or f"sqlite:///{instance / 'kjflow.sqlite'}"
    app = instance_app(instance, in_process_url)
    try:
        with app.app_context():
            flask_migrate.upgrade()  # the schema as the migrations make it, revision and all
        populate(app)
        before = state_of(app)
    finally:
        dispose(app)
    assert any(sha in before.named for sha in before.files.values())
    assert len(before.files) >= 8, before.files  # 6 documents and 2 uploads

    made = flask(instance, "backup", "--output", str(archives), database_url=database_url)
    assert made.returncode == 0, made.stdout + made.stderr
    [archive] = sorted(archives.glob("kjflow-backup-*.tar.gz"))
    assert archive.stat().st_mode & 0o077 == 0, "an archive holds personal data: owner only"
    manifest = manifest_of(archive)
    assert manifest["database"]["tables"] == before.counts
    assert manifest["database"]["schema_revision"]
    assert {f["member"].removeprefix("files/"): f["sha256"] for f in manifest["files"]} == \
        before.files

    lose_database()
    shutil.rmtree(instance)

    restored = flask(instance, "restore", str(archive), database_url=database_url)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "均与清单的 SHA-256 一致" in restored.stdout
    verified = flask(instance, "audit", "verify", database_url=database_url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "审计链完整" in verified.stdout

    app = instance_app(instance, in_process_url)
    try:
        assert_restored(before, state_of(app))
    finally:
        dispose(app)
