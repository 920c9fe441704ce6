"""`flask backup` and `flask restore` on the embedded default (SQLite)."""

from __future__ import annotations

import io
import json
import sqlite3
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.backups import dispose, instance_app, manifest_of, run_scenario
from tests.factories import CallFactory, UserFactory
from workflow.accounts.models import User
from workflow.core import files
from workflow.core.models import Attachment, db

GUIDE = b"%PDF-1.4\n% the guide\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_an_instance_backed_up_lost_and_restored_is_whole_and_its_audit_chain_verifies(
        tmp_path: Path) -> None:
    """Demo data, uploads and rendered PDFs -> `flask backup` -> the instance folder
    (database, file store, key) deleted -> `flask restore` -> `flask audit verify`."""
    run_scenario(tmp_path, None, lose_database=lambda: None)  # the file goes with the folder


# ---- one instance of each test's own, its schema made by the models ---------------------

def new_instance(folder: Path) -> Flask:
    folder.mkdir(parents=True, exist_ok=True)
    app = instance_app(folder, f"sqlite:///{folder / 'kjflow.sqlite'}")
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Flask]:
    """An instance with a user, a call and the call's uploaded guide."""
    app = new_instance(tmp_path / "source")
    with app.app_context():
        officer = UserFactory(username="officer", roles=("officer",))
        call = CallFactory()
        db.session.flush()
        files.save_upload(officer, "申报指南.pdf", io.BytesIO(GUIDE), "guide", call_id=call.id)
        db.session.commit()
    yield app
    dispose(app)


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Flask]:
    """A new instance, nothing in it yet."""
    app = new_instance(tmp_path / "target")
    yield app
    dispose(app)


def run(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=list(args))
    return result.exit_code, result.output


def backup_of(app: Flask, folder: Path) -> Path:
    code, out = run(app, "backup", "--output", str(folder))
    assert code == 0, out
    return sorted(folder.glob("kjflow-backup-*.tar.gz"))[-1]


def usernames(app: Flask) -> list[str]:
    with app.app_context():
        names = list(db.session.scalars(sa.select(User.username).order_by(User.username)))
        db.session.remove()
    return names


def test_restore_refuses_a_database_with_data_unless_forced(source: Flask, tmp_path: Path
                                                            ) -> None:
    archive = backup_of(source, tmp_path / "archives")
    with source.app_context():
        UserFactory(username="after_the_backup")
        db.session.commit()

    code, out = run(source, "restore", str(archive))
    assert code != 0 and "已有数据" in out and "--force" in out and "user_account" in out
    assert "after_the_backup" in usernames(source)

    code, out = run(source, "restore", "--force", str(archive))
    assert code == 0, out
    assert "after_the_backup" not in usernames(source)
    assert "officer" in usernames(source)


def test_an_archive_whose_file_was_altered_is_refused_before_the_database_is_touched(
        source: Flask, target: Flask, tmp_path: Path) -> None:
    archive = backup_of(source, tmp_path / "archives")
    altered = tmp_path / "altered.tar.gz"
    sha = manifest_of(archive)["files"][0]["sha256"]
    with tarfile.open(archive) as tar, tarfile.open(altered, "w:gz") as out:
        for member in tar.getmembers():
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.endswith(sha):
                data = data.replace(b"the guide", b"the GUIDE")
            out.addfile(member, io.BytesIO(data))

    code, out = run(target, "restore", str(altered))
    assert code != 0
    assert "与清单不符" in out and sha in out
    assert usernames(target) == []
    assert not files.FileStore(target.config["UPLOAD_FOLDER"]).exists(sha)


def test_an_archive_without_its_manifest_is_refused(source: Flask, target: Flask,
                                                    tmp_path: Path) -> None:
    archive = backup_of(source, tmp_path / "archives")
    cut = tmp_path / "cut.tar.gz"
    with tarfile.open(archive) as tar, tarfile.open(cut, "w:gz") as out:
        for member in tar.getmembers():
            if member.name != "manifest.json":
                out.addfile(member, tar.extractfile(member))

    code, out = run(target, "restore", str(cut))
    assert code != 0 and "没有清单" in out
    assert usernames(target) == []


def test_a_backup_taken_during_a_write_holds_what_was_committed(source: Flask,
                                                                 tmp_path: Path) -> None:
    """The app goes on writing while the backup runs: the backup neither waits for nor
    fails on an open write transaction, and leaves out what it has not committed."""
    path = source.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("DELETE FROM attachment")
        archive = backup_of(source, tmp_path / "archives")
        writer.execute("COMMIT")
    finally:
        writer.close()
    assert manifest_of(archive)["database"]["tables"]["attachment"] == 1
    with source.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0
        db.session.remove()


def test_the_manifest_lists_every_table_and_file_and_old_archives_are_pruned(
        source: Flask, tmp_path: Path) -> None:
    folder = tmp_path / "archives"
    folder.mkdir()
    for stamp in ("20000101T010000Z", "20000102T010000Z", "20000103T010000Z"):
        (folder / f"kjflow-backup-{stamp}.tar.gz").write_bytes(b"old")
    (folder / "notes.txt").write_text("not an archive")

    code, out = run(source, "backup", "--output", str(folder), "--keep", "2")
    assert code == 0, out
    left = sorted(p.name for p in folder.iterdir())
    assert len(left) == 3 and left[0] == "kjflow-backup-20000103T010000Z.tar.gz"
    assert left[-1] == "notes.txt"
    manifest = manifest_of(folder / left[1])
    with source.app_context():
        tables = set(sa.inspect(db.engine).get_table_names())
        guide = db.session.scalars(sa.select(Attachment)).one()
        db.session.remove()
    assert set(manifest["database"]["tables"]) == tables
    assert manifest["database"]["tables"]["user_account"] == 1
    assert [(f["sha256"], f["size"]) for f in manifest["files"]] == [(guide.sha256, len(GUIDE))]
    assert json.dumps(manifest, ensure_ascii=False)  # plain JSON, readable with any tool


def test_a_damaged_stored_file_fails_the_backup_loudly_and_is_never_restored(
        source: Flask, target: Flask, tmp_path: Path) -> None:
    with source.app_context():
        sha = db.session.scalars(sa.select(Attachment.sha256)).one()
        db.session.remove()
    stored = files.FileStore(source.config["UPLOAD_FOLDER"]).path(sha)
    stored.write_bytes(stored.read_bytes().replace(b"the guide", b"bit rot!!"))

    folder = tmp_path / "archives"
    code, out = run(source, "backup", "--output", str(folder))
    assert code == 1 and "内容与其名称（SHA-256）不符" in out and sha in out
    [archive] = folder.glob("kjflow-backup-*.tar.gz")  # the rest is still worth keeping
    assert manifest_of(archive)["damaged"] == [f"files/{sha[:2]}/{sha[2:4]}/{sha}"]

    code, out = run(target, "restore", str(archive))
    assert code == 0, out
    assert "备份时已损坏、未恢复的文件" in out and sha in out
    assert usernames(target) == ["officer"]
    assert not files.FileStore(target.config["UPLOAD_FOLDER"]).exists(sha)
