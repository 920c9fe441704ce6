"""The archival PDF of a submitted application, rendered once per round."""

import io

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from tests.factories import CallFactory, OrganizationFactory, UserFactory
from workflow.applying import operations as applications
from workflow.core import files, outbox
from workflow.core.models import OutboxEvent, db
from workflow.documents import operations as documents
from workflow.documents.models import Document

FORM = [
    {"name": "summary", "label": "项目摘要", "type": "longtext", "required": True},
    {"name": "amount", "label": "申请经费", "type": "money", "required": True},
    {"name": "team", "label": "项目团队", "type": "persons"},
]


@pytest.fixture
def submitted(app):
    org = OrganizationFactory(name="赣南科技大学")
    # Rare characters in a name must render too (no missing glyph boxes).
    researcher = UserFactory(name="王喆堃", organization=org, roles=("applicant",))
    call = CallFactory(form_schema=FORM)
    db.session.commit()
    row = applications.create_draft(researcher, call.id, "稀土永磁材料低重稀土制备")
    applications.save_draft(researcher, row, data={
        "summary": "研究低重稀土永磁材料。", "amount": "30.5",
        "team": [{"name": "张三", "id_number": "362101198001010019", "org": "赣南科技大学",
                  "role": "骨干"}]})
    applications.sign(researcher, row)
    applications.submit(researcher, row)
    db.session.commit()
    return row


def text_of(doc):
    with files.store().open(doc.sha256) as fh:
        reader = PdfReader(io.BytesIO(fh.read()))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_submission_queues_the_render_of_that_round(submitted):
    event = db.session.scalars(sa.select(OutboxEvent).where(
        OutboxEvent.topic == documents.ROUND_SUBMITTED)).one()
    assert event.payload == {"round": 1}
    assert outbox.consumers_for(event.topic) == ["journal", "notify", "render_application"]


def test_pdf_reads_back_title_receipt_amount_and_names(submitted):
    doc = documents.render_application(submitted.id, 1)
    db.session.commit()
    text = text_of(doc)
    assert submitted.receipt_no in text
    assert "稀土永磁材料低重稀土制备" in text and "30.50 万元" in text
    assert "王喆堃" in text and "张三" in text and "科研诚信与经费使用承诺书" in text
    assert doc.pages >= 1 and doc.size > 1000


def test_rendering_twice_keeps_one_document(submitted):
    first = documents.render_application(submitted.id, 1)
    db.session.commit()
    again = documents.render_application(submitted.id, 1)
    assert again.id == first.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Document)) == 1


