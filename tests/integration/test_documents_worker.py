"""A submission's archival PDF is rendered by the real worker, once."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from flask import Flask
from pypdf import PdfReader

from tests.factories import CallFactory, OrganizationFactory, UserFactory
from tests.integration.conftest import wait_for
from workflow.applying import operations as applications
from workflow.core import files
from workflow.core.models import db
from workflow.documents.models import Document

pytestmark = pytest.mark.integration


def test_submitted_application_pdf_is_rendered_by_the_worker(worker_app: Flask) -> None:
    researcher = UserFactory(name="李明", organization=OrganizationFactory(),
                             roles=("applicant",))
    call = CallFactory()
    db.session.commit()
    row = applications.create_draft(researcher, call.id, "稀土分离新工艺",
                                    data={"summary": "新的萃取分离工艺。"})
    applications.sign(researcher, row)
    applications.submit(researcher, row)
    db.session.commit()  # the relay leaves for the worker only now

    def rendered() -> Document | None:
        db.session.expire_all()
        return db.session.scalar(sa.select(Document).where(Document.application_id == row.id))

    doc = wait_for(rendered, timeout=60)
    with files.store().open(doc.sha256) as fh:
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(fh.read())).pages)
    assert row.receipt_no in text and "稀土分离新工艺" in text and "李明" in text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Document)) == 1
