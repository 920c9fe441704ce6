"""Backup and restore: the database and the file store in one archive.

An archive ``kjflow-backup-<UTC time>.tar.gz`` holds, in this order:

- ``database.dump`` (PostgreSQL, ``pg_dump``'s custom format) or ``database.sqlite3``
  (SQLite, a copy made with SQLite's online backup API);
- ``files/ab/cd/<sha256>``: every file of the store (uploads and generated documents);
- ``secret_key``: the embedded default's key kept under ``instance/``, when that is the key
  in use (document codes derive from it); a key given in the environment is never written;
- ``manifest.json``, last: when, the schema revision, the row count of every table (as
  the database lists them: tables added by later migrations come along by themselves),
  and the SHA-256 and size of every other member.

Consistency: the database is read in one snapshot (PostgreSQL: one exported snapshot
serves the row counts and ``pg_dump``; SQLite: the backup API copies one state while the
app runs), the file store after it. A stored file is written before the row naming it
commits and is never changed or deleted (its name is its content's SHA-256), so every file
the snapshot names is in the store when the store is read; files added meanwhile come
along and do no harm.

A restore reads the whole archive and checks every member against the manifest before it
touches the database; files are put in the store only when their content matches their
name.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from flask import current_app

from workflow.core.files import store
from workflow.core.models import db

FORMAT = "kjflow-backup"
FORMAT_VERSION = 1
MEMBERS = {"postgresql": "database.dump", "sqlite": "database.sqlite3"}
KEY_MEMBER = "secret_key"
MANIFEST = "manifest.json"
ARCHIVE_NAME = re.compile(r"kjflow-backup-\d{8}T\d{6}Z\.tar\.gz")
FILE_MEMBER = re.compile(r"files/([0-9a-f]{2})/([0-9a-f]{2})/(\1\2[0-9a-f]{60})")
# A migrated database nobody has used holds a row here and nowhere else.
SCHEMA_TABLE = "alembic_version"
CHUNK = 1 << 20


class BackupError(Exception):
    """A backup or restore that was refused or failed; the message says why."""

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def __str__(self) -> str:
        return "\n".join([self.message, *(f"  {d}" for d in self.details)])


@dataclass
class Backup:
    path: Path
    manifest: dict[str, Any]
    # Stored files whose content no longer matches their name: archived as they are and
    # listed in the manifest, never restored.
    damaged: list[str] = field(default_factory=list)


@dataclass
class Restored:
    manifest: dict[str, Any]
    files: int
    damaged: list[str]


# ---- backup ---------------------------------------------------------------------------

def backup(target: str | os.PathLike[str] | None = None) -> Backup:
    """Write an archive into the folder ``target`` (default: the ``BACKUP_FOLDER``
    setting), or to ``target`` itself when it names a ``.tar.gz`` file. The archive
    appears under its name only once complete."""
    now = datetime.now(UTC)
    name = f"kjflow-backup-{now:%Y%m%dT%H%M%SZ}.tar.gz"
    if target is None:
        folder, path = Path(current_app.config["BACKUP_FOLDER"]), None
    else:
        given = Path(target)
        is_file = given.name.endswith(".tar.gz") and not given.is_dir()
        folder, path = (given.parent, given) if is_file else (given, None)
    folder.mkdir(parents=True, exist_ok=True)
    path = path or folder / name
    part = folder / f".{path.name}.part"
    with tempfile.TemporaryDirectory(prefix=".kjflow-backup-", dir=folder) as work:
        database = _dump_database(Path(work))
        try:
            with _private(part) as raw:
                with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
                    manifest, damaged = _write_members(tar, database, now)
                    data = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
                    info = tarfile.TarInfo(MANIFEST)
                    info.size, info.mtime, info.mode = len(data), int(now.timestamp()), 0o600
                    tar.addfile(info, io.BytesIO(data))
                raw.flush()
                os.fsync(raw.fileno())
            part.replace(path)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    return Backup(path, manifest, damaged)


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest archives in ``folder`` (by their names, which
    carry the time); returns what was deleted."""
    archives = sorted(p for p in folder.iterdir() if ARCHIVE_NAME.fullmatch(p.name))
    old = archives[:-keep] if keep > 0 else archives
    for p in old:
        p.unlink()
    return old


@dataclass
class _Dump:
    dialect: str
    path: Path
    revision: str | None
    tables: dict[str, int]


def _write_members(tar: tarfile.TarFile, database: _Dump, now: datetime
                   ) -> tuple[dict[str, Any], list[str]]:
    db_sha, db_size = _add(tar, database.path.name, database.path)
    files: list[dict[str, Any]] = []
    damaged: list[str] = []
    for sha, path in _stored_files(Path(current_app.config["UPLOAD_FOLDER"])):
        member = f"files/{sha[:2]}/{sha[2:4]}/{sha}"
        digest, size = _add(tar, member, path)
        files.append({"member": member, "sha256": digest, "size": size})
        if digest != sha:
            damaged.append(member)
    key = _instance_key()
    key_entry = None
    if key is not None:
        digest, size = _add(tar, KEY_MEMBER, key)
        key_entry = {"member": KEY_MEMBER, "sha256": digest, "size": size}
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "created_at": now.isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "database": {"dialect": database.dialect, "member": database.path.name,
                     "sha256": db_sha, "size": db_size,
                     "schema_revision": database.revision, "tables": database.tables},
        "files": files,
        "damaged": damaged,
        "secret_key": key_entry,
    }
    return manifest, damaged


def _instance_key() -> Path | None:
    """The key file under ``instance/`` when it is the key in use (no ``SECRET_KEY`` in
    the environment): then document codes were derived from it."""
    if os.environ.get("SECRET_KEY"):
        return None
    path = Path(current_app.instance_path) / "secret_key"
    if path.is_file() and path.read_text().strip() == current_app.config["SECRET_KEY"]:
        return path
    return None


def _stored_files(root: Path) -> Iterator[tuple[str, Path]]:
    """``(sha256, path)`` of every file in the store, in order; temporary files of writes
    under way and anything else that is not a stored file are left out."""
    if not root.is_dir():
        return
    for path in sorted(root.glob("??/??/*")):
        rel = path.relative_to(root).as_posix()
        match = FILE_MEMBER.fullmatch(f"files/{rel}")
        if match and path.is_file():
            yield match[3], path


def _add(tar: tarfile.TarFile, member: str, path: Path) -> tuple[str, int]:
    """Add ``path`` as ``member``, reading it once; its SHA-256 and size."""
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        info = tarfile.TarInfo(member)
        info.size, info.mode = size, 0o600
        info.mtime = int(os.fstat(fh.fileno()).st_mtime)
        reader = _Hashing(fh)
        tar.addfile(info, reader)
    return reader.hexdigest(), size


class _Hashing:
    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.sha = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.sha.update(data)
        return data

    def hexdigest(self) -> str:
        return self.sha.hexdigest()


def _private(path: Path) -> IO[bytes]:
    """``path`` opened for writing, readable by its owner only: an archive holds personal
    data and password hashes."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, "wb")


def _dump_database(work: Path) -> _Dump:
    engine = db.engine
    dialect = engine.dialect.name
    if dialect == "postgresql":
        return _dump_postgresql(engine, work / MEMBERS[dialect])
    if dialect == "sqlite":
        return _dump_sqlite(engine, work / MEMBERS[dialect])
    raise BackupError(f"不支持备份这种数据库：{dialect}")


def _dump_postgresql(engine: sa.Engine, out: Path) -> _Dump:
    """``pg_dump`` in the snapshot the row counts were read in."""
    pg_dump = _client("pg_dump")
    conninfo, env = _libpq(engine.url)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ",
                                      postgresql_readonly=True)
        with conn.begin():
            # The transaction's snapshot, exported before anything else is read in it;
            # pg_dump takes it up, so the dump is the state that was counted.
            snapshot = conn.scalar(sa.text("SELECT pg_export_snapshot()"))
            tables = _row_counts(conn)
            revision = _revision(conn, tables)
            _run([pg_dump, "--format=custom", f"--snapshot={snapshot}", "--file", str(out),
                  "--dbname", conninfo], env)
    return _Dump("postgresql", out, revision, tables)


def _dump_sqlite(engine: sa.Engine, out: Path) -> _Dump:
    source = _sqlite_path(engine)
    if not source.is_file():
        raise BackupError(f"找不到数据库文件 {source}")
    src = sqlite3.connect(source)
    dst = sqlite3.connect(out)
    try:
        # One step: the copy is read in one transaction, so it is one consistent state,
        # while the app goes on (WAL: a reader blocks no writer).
        src.backup(dst, pages=-1)
        # A single file, no -wal beside it.
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()
    copy = sa.create_engine(f"sqlite:///{out}", poolclass=sa.pool.NullPool)
    try:
        with copy.connect() as conn:
            tables = _row_counts(conn)
            revision = _revision(conn, tables)
    finally:
        copy.dispose()
    return _Dump("sqlite", out, revision, tables)


def _row_counts(conn: sa.Connection) -> dict[str, int]:
    """Every table of the database's (default) schema and its number of rows."""
    names = sorted(sa.inspect(conn).get_table_names())
    return {name: int(conn.scalar(sa.select(sa.func.count()).select_from(sa.table(name))) or 0)
            for name in names}


def _revision(conn: sa.Connection, tables: dict[str, int]) -> str | None:
    if SCHEMA_TABLE not in tables:
        return None
    heads: list[str] = list(conn.scalars(sa.select(sa.column("version_num")).select_from(
        sa.table(SCHEMA_TABLE))))
    return ",".join(sorted(heads)) or None


def _sqlite_path(engine: sa.Engine) -> Path:
    name = engine.url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        raise BackupError("只能备份和恢复文件形式的 SQLite 数据库")
    return Path(name)


def _client(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"找不到 {name}：PostgreSQL 上的备份和恢复需要 PostgreSQL 客户端程序"
            f"（Debian：apt-get install postgresql-client），版本不低于数据库服务器")
    return found


def _libpq(url: sa.URL) -> tuple[str, dict[str, str]]:
    """The connection string for pg_dump/pg_restore, and their environment; the password
    goes through the environment, never the command line (which others may read)."""
    params: dict[str, Any] = {"dbname": url.database, "host": url.host, "port": url.port,
                              "user": url.username}
    for key, value in url.query.items():
        params[key] = value[0] if isinstance(value, tuple) else value
    conninfo = " ".join(f"{k}={_quoted(str(v))}" for k, v in params.items()
                        if v not in (None, ""))
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return conninfo, env


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _run(cmd: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-20:]
        raise BackupError(f"{Path(cmd[0]).name} 失败（退出码 {done.returncode}）", tail)


# ---- restore --------------------------------------------------------------------------

def occupied_tables(engine: sa.Engine) -> list[str]:
    """The tables that hold rows (the schema's own bookkeeping aside)."""
    with engine.connect() as conn:
        counts = _row_counts(conn)
    return [name for name, n in counts.items() if n and name != SCHEMA_TABLE]


def restore(archive: Path, force: bool = False) -> Restored:
    """Rebuild this instance's database and file store from ``archive``.

    Refused when the database holds data, unless ``force``; nothing in the database is
    touched until every member of the archive has matched the manifest."""
    engine = db.engine
    dialect = engine.dialect.name
    if dialect not in MEMBERS:
        raise BackupError(f"不支持恢复到这种数据库：{dialect}")
    db.session.remove()
    occupied = occupied_tables(engine)
    if occupied and not force:
        raise BackupError("目标数据库已有数据，未恢复。确认要用归档覆盖它时加 --force。",
                          [f"有数据的表：{'、'.join(occupied)}"])
    instance = Path(current_app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".kjflow-restore-", dir=instance) as work:
        read = _read_archive(archive, Path(work), dialect)
        manifest = _checked(read)
        engine.dispose()
        if dialect == "postgresql":
            _restore_postgresql(engine, read.database)
        else:
            _restore_sqlite(engine, read.database)
        engine.dispose()
    if read.key is not None:
        _write_private(instance / "secret_key", read.key)
    with engine.connect() as conn:
        counts = _row_counts(conn)
    expected = manifest["database"]["tables"]
    wrong = [f"{name}：归档 {n} 行，恢复后 {counts.get(name)} 行"
             for name, n in expected.items() if counts.get(name) != n]
    if wrong:
        raise BackupError("恢复后的数据库与清单不符", wrong)
    return Restored(manifest, read.placed, list(manifest.get("damaged") or []))


@dataclass
class _Read:
    database: Path
    manifest: dict[str, Any] | None = None
    key: bytes | None = None
    seen: dict[str, tuple[str, int]] = field(default_factory=dict)
    placed: int = 0


def _read_archive(archive: Path, work: Path, dialect: str) -> _Read:
    """One pass over the archive: the database dump into ``work``, each stored file into
    the store when its content matches its name, every member's SHA-256 noted."""
    wanted = MEMBERS[dialect]
    read = _Read(database=work / wanted)
    files = store()
    try:
        with tarfile.open(archive, mode="r|gz") as tar:
            for member in tar:
                name = member.name
                fh = tar.extractfile(member) if member.isfile() else None
                if fh is None:
                    raise BackupError(f"归档中有不应有的条目：{name}")
                if name == MANIFEST:
                    read.manifest = json.loads(fh.read())
                elif name == wanted:
                    read.seen[name] = _copy(fh, read.database)
                elif name in MEMBERS.values():
                    raise BackupError(f"归档来自另一种数据库（{name}），"
                                      f"本实例使用 {dialect}，未恢复")
                elif name == KEY_MEMBER:
                    read.key = fh.read()
                    read.seen[name] = (hashlib.sha256(read.key).hexdigest(), len(read.key))
                elif match := FILE_MEMBER.fullmatch(name):
                    read.seen[name] = digest = _place(fh, files.path(match[3]))
                    if digest[0] == match[3]:
                        read.placed += 1
                else:
                    raise BackupError(f"归档中有不应有的条目：{name}")
    except (tarfile.TarError, EOFError, zlib.error, OSError, ValueError) as err:
        raise BackupError(f"归档无法读取（{err}），未恢复") from err
    return read


def _checked(read: _Read) -> dict[str, Any]:
    """The manifest, once every member matched it; otherwise a refusal naming each
    difference."""
    manifest = read.manifest
    if manifest is None:
        raise BackupError("归档不完整：没有清单 manifest.json，未恢复")
    if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
        raise BackupError("这不是本系统可读的备份归档（清单格式不符），未恢复")
    problems: list[str] = []
    expected: dict[str, tuple[str, int]] = {}
    database = manifest["database"]
    expected[database["member"]] = (database["sha256"], database["size"])
    for entry in manifest["files"]:
        expected[entry["member"]] = (entry["sha256"], entry["size"])
    if manifest.get("secret_key"):
        entry = manifest["secret_key"]
        expected[entry["member"]] = (entry["sha256"], entry["size"])
    for member, (sha, size) in expected.items():
        got = read.seen.get(member)
        if got is None:
            problems.append(f"{member}：归档中缺少")
        elif got != (sha, size):
            problems.append(f"{member}：SHA-256 或大小与清单不符")
    problems += [f"{member}：清单中没有" for member in read.seen if member not in expected]
    if problems:
        raise BackupError("归档与清单不符，未恢复数据库", problems[:50])
    return manifest


def _copy(fh: IO[bytes], target: Path) -> tuple[str, int]:
    with target.open("wb") as out:
        return _copy_into(fh, out)


def _place(fh: IO[bytes], target: Path) -> tuple[str, int]:
    """Write a stored file to ``target`` (named by the SHA-256 its content must have),
    atomically, only if its content has that SHA-256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name[:8]}-",
                                     suffix=".tmp", delete=False) as tmp:
        temp = Path(tmp.name)
        try:
            digest, size = _copy_into(fh, tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        except BaseException:
            tmp.close()
            temp.unlink(missing_ok=True)
            raise
    if digest == target.name:
        temp.replace(target)
    else:
        temp.unlink(missing_ok=True)
    return digest, size


def _copy_into(fh: IO[bytes], out: IO[bytes]) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    while chunk := fh.read(CHUNK):
        sha.update(chunk)
        out.write(chunk)
        size += len(chunk)
    return sha.hexdigest(), size


def _write_private(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    with _private(temp) as fh:
        fh.write(data)
    temp.replace(path)


def _restore_postgresql(engine: sa.Engine, dump: Path) -> None:
    pg_restore = _client("pg_restore")
    with engine.begin() as conn:
        if sa.inspect(conn).get_table_names():
            # Whatever the schema holds goes, whichever migrations made it: the archive
            # brings the schema with the data.
            schema = conn.scalar(sa.text("SELECT current_schema()"))
            quoted = conn.dialect.identifier_preparer.quote(str(schema))
            conn.execute(sa.text(f"DROP SCHEMA {quoted} CASCADE"))
            conn.execute(sa.text(f"CREATE SCHEMA {quoted}"))
    engine.dispose()
    conninfo, env = _libpq(engine.url)
    # One transaction: a restore that fails leaves the database as it was.
    _run([pg_restore, "--single-transaction", "--exit-on-error", "--no-owner",
          "--no-privileges", "--dbname", conninfo, str(dump)], env)


def _restore_sqlite(engine: sa.Engine, copy: Path) -> None:
    target = _sqlite_path(engine)
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(copy)
    dst = sqlite3.connect(target)
    try:
        # The backup API writes the whole database into the target through SQLite's own
        # locking and journal (a -wal beside the file included), replacing what was there.
        src.backup(dst, pages=-1)
    finally:
        dst.close()
        src.close()
