"""Uploaded files: checked by content, stored once by SHA-256 outside the web root.

The same folder (``UPLOAD_FOLDER``, shared by the web and the worker: the worker reads
uploads from it) also holds a few small working files, apart from the stored ones: a
running job's progress (``workflow/core/jobs.py``)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import IO, Any

from flask import Request, current_app

from forms.uploads import FileStore, UploadRefused, inspect_upload
from workflow.core.errors import Invalid, ServiceError
from workflow.core.models import Attachment, db
from workflow.core.rules import Actor

# A plain quoted ``filename`` parameter of a part's Content-Disposition, escapes kept.
_QUOTED_FILENAME = re.compile(r'(?:^|;)\s*filename\s*=\s*"((?:[^"\\]|\\.)*)"', re.IGNORECASE)


def sent_filename(disposition: str) -> str | None:
    """The file name in a multipart part's ``Content-Disposition`` as the client wrote
    it, when it holds a backslash; else None (werkzeug's reading stands).

    Browsers send a name's backslashes as they are, and werkzeug reads a backslash in a
    quoted string as an escape and drops it: ``..\\..\\x.pdf`` would arrive as
    ``....x.pdf`` and be stored as ``x.pdf``. Kept, the upload check refuses it as a path,
    as it refuses ``../../x.pdf``."""
    if "filename*" in disposition.lower():  # RFC 5987: percent-encoded, read as sent
        return None
    match = _QUOTED_FILENAME.search(disposition)
    if match is None or "\\" not in match.group(1):
        return None
    return match.group(1).replace('\\"', '"')


class UploadRequest(Request):
    """The app's request: uploads keep the file names the client sent (``sent_filename``)."""

    def _load_form_data(self) -> None:
        super()._load_form_data()
        for _field, storages in self.files.lists():
            for storage in storages:
                sent = sent_filename(storage.headers.get("Content-Disposition", ""))
                if sent is not None:
                    storage.filename = sent


class UploadError(ServiceError):
    def __init__(self, err: UploadRefused) -> None:
        super().__init__(err.message, code=err.code)
        self.status = err.status


def store() -> FileStore:
    return FileStore(current_app.config["UPLOAD_FOLDER"])


def working_folder(name: str) -> Path:
    """A folder of the file store's working files (``jobs``), beside the stored files,
    which live under two-hex-digit folders only."""
    if not name.isalpha():
        raise ValueError("a working folder is named by letters only")
    return Path(current_app.config["UPLOAD_FOLDER"]) / name


def replace_file(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all (a temporary file beside it, then a rename):
    a reader sees the old content or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp",
                                     delete=False) as tmp:
        temp = Path(tmp.name)
        try:
            tmp.write(data)
        except BaseException:
            tmp.close()
            temp.unlink(missing_ok=True)
            raise
    try:
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def save_upload(actor: Actor, filename: str, stream: IO[bytes], field: str,
                **owner: Any) -> Attachment:
    """Check ``stream`` by its content and size, store it, and record the attachment of
    ``owner`` (``application_id=`` or ``call_id=``). A refusal stores nothing."""
    try:
        info = inspect_upload(filename, stream, current_app.config["UPLOAD_MAX_BYTES"])
    except UploadRefused as err:
        raise UploadError(err) from err
    stream.seek(0)
    sha = store().store(stream.read(info.size + 1))
    if sha != info.sha256:  # the stream changed under us: keep nothing of it
        raise Invalid("上传过程中文件发生变化，请重新上传")
    row = Attachment(field=field, sha256=sha, size=info.size, kind=info.kind, mime=info.mime,
                     filename=info.safe_name, uploaded_by_id=actor.id, **owner)
    db.session.add(row)
    db.session.flush()
    return row


def send_attachment(row: Attachment) -> Any:
    """The stored file of ``row`` as a download under its cleaned original name."""
    from flask import send_file

    return send_file(store().path(row.sha256), mimetype=row.mime, as_attachment=True,
                     download_name=row.filename)
