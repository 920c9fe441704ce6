"""Formal review on PostgreSQL: the one application's form telling a required checklist
item answered 不符合 beside that item."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import Flask

from states import ApplicationState
from tests.conftest import client_for, csrf_of
from tests.factories import PASSWORD, ApplicationFactory, CallFactory, UserFactory
from workflow.applying.models import Application, ApplicationRound
from workflow.core.models import db

pytestmark = pytest.mark.integration

A = ApplicationState
REQUIRED = "附件齐全、签章完整"


def test_a_required_item_answered_no_is_told_beside_it_and_the_answers_kept(
        app: Flask) -> None:
    UserFactory(username="officer", organization=None, roles=("officer",))
    checklist = ["申报单位具有独立法人资格", REQUIRED, "申请经费未超过指南上限"]
    call = CallFactory(checklist=checklist, checklist_required=checklist[:2])
    row = ApplicationFactory(call=call, state=A.formal_review, signed=True, title="稀土项目")
    db.session.commit()
    version = row.version

    officer = client_for(app, "officer", PASSWORD)
    page = officer.get(f"/applications/{row.id}").get_data(as_text=True)
    resp = officer.post(f"/applications/{row.id}/formal-review", data={
        "csrf_token": csrf_of(page), "decision": "pass", "check-0": "yes", "check-1": "no",
        "check-2": "no", "comment": "附件缺少单位盖章页"})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    form = page.split('data-testid="formal-review"')[1].split("</form>")[0]
    told = (f"“{REQUIRED}”为必须符合的要点，答“不符合”时不能通过形式审查（可退回修改或不予受理）")
    # In the item's own feedback element, which its fieldset points to and shows.
    assert (f'<div class="invalid-feedback d-block" id="check-1-error" '
            f'data-error-for="checklist.{REQUIRED}">{told}</div>') in form
    assert re.search(r'<fieldset class="kj-check-item is-invalid"[^>]*aria-describedby='
                     r'"check-1-error" aria-invalid="true"', form)
    # The others: nothing beside them (the third is not required, 不符合 is an answer).
    for i, item in ((0, checklist[0]), (2, checklist[2])):
        assert (f'<div class="invalid-feedback" id="check-{i}-error" '
                f'data-error-for="checklist.{item}"></div>') in form
    # Every answer and the comment as the officer gave them.
    assert re.search(r'id="check-0-yes" value="yes" checked', form)
    assert re.search(r'id="check-1-no" value="no" checked', form)
    assert re.search(r'id="check-2-no" value="no" checked', form)
    assert not re.search(r'id="check-(1|2)-yes" value="yes" checked', form)
    assert ">附件缺少单位盖章页</textarea>" in form
    # Told beside the item and linked from the form's summary of errors; the message at
    # the top of the page only says to look below.
    assert page.count(told) == 2
    assert f'href="#check-1-yes">{told}</a>' in form
    assert re.findall(r'<div class="flash [^"]*"[^>]*>(.*?)</div>', page) == [
        "未能完成，请按提示修改后重试"]

    db.session.rollback()
    after = db.session.get(Application, row.id)
    assert (after.state, after.version) == (A.formal_review, version)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApplicationRound).where(
        ApplicationRound.application_id == row.id, ApplicationRound.outcome.is_not(None))) == 0
