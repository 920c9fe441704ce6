"""Formal review on PostgreSQL with the real worker: the list's bulk review over every row
matching its search and filters (on every page, not only the one shown), and the one
application's form telling a required checklist item answered 不符合 beside that item."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask

from states import ApplicationState
from tests.conftest import api_token, client_for, csrf_of, job_of
from tests.factories import PASSWORD, ApplicationFactory, CallFactory, UserFactory
from tests.integration.conftest import wait_for
from workflow.applying.models import Application, ApplicationRound
from workflow.core.models import db

pytestmark = pytest.mark.integration

A = ApplicationState
REQUIRED = "附件齐全、签章完整"


def states_of(titles: list[str]) -> dict[str, ApplicationState]:
    db.session.rollback()
    return {title: state for title, state in db.session.execute(sa.select(
        Application.title, Application.state).where(Application.title.in_(titles)))}


def test_a_bulk_pass_over_every_matching_row_decides_exactly_those_on_every_page(
        worker_app: Flask) -> None:
    UserFactory(username="officer", organization=None, roles=("officer",))
    this_year = CallFactory(year=2026, title="2026年度包干制试点")
    strict = CallFactory(year=2026, title="2026年度重点项目", checklist=[REQUIRED],
                         checklist_required=[REQUIRED])
    last_year = CallFactory(year=2025, title="2025年度包干制试点")
    # What the officer's search (稀土) and filter (2026年度) find: 25 rows, two pages.
    passable = [ApplicationFactory(call=this_year, state=A.formal_review, signed=True,
                                   title=f"稀土永磁项目{i:02d}").title for i in range(20)]
    refused = [ApplicationFactory(call=strict, state=A.formal_review, signed=True,
                                  title=f"稀土回收项目{i}").title for i in range(2)]
    elsewhere = {ApplicationFactory(call=this_year, state=state, signed=True,
                                    title=f"稀土分离项目{state.value}").title: state
                 for state in (A.draft, A.returned, A.expert_review)}
    # Waiting for formal review too, but not found by the search or not of that year.
    unmatched = [ApplicationFactory(call=this_year, state=A.formal_review, signed=True,
                                    title=f"光伏储能项目{i}").title for i in range(3)]
    unmatched += [ApplicationFactory(call=last_year, state=A.formal_review, signed=True,
                                     title=f"稀土往年项目{i}").title for i in range(2)]
    db.session.commit()

    officer = client_for(worker_app, "officer", PASSWORD)
    page = officer.get("/applications?q=稀土&year=2026").get_data(as_text=True)
    assert "共 <strong>25</strong> 条，第 1–20 条" in page
    assert 'aria-label="第 2 页"' in page
    region = page.split('data-testid="select-all"')[1].split("</div>\n</div>")[0]
    assert "选择全部符合条件的 22 份（含其他页）" in region
    assert "另有 3 份符合条件但不在形式审查阶段，不会处理" in region
    confirm = html.unescape(re.search(r'data-confirm="([^"]*)"', region)[1])
    assert confirm.startswith("确定对全部符合条件的 22 份申报书执行“{choice}”吗？")
    assert "此操作不可撤销" in confirm
    filters = html.unescape(re.search(r'name="filters" value="([^"]*)"', region)[1])
    assert parse_qs(filters) == {"q": ["稀土"], "year": ["2026"]}
    # The second page offers the same choice, with the same count.
    second = officer.get("/applications?q=稀土&year=2026&page=2").get_data(as_text=True)
    assert "共 <strong>25</strong> 条，第 21–25 条" in second
    assert "选择全部符合条件的 22 份（含其他页）" in second

    # A row ticked on the page is not what is sent once every matching row is chosen.
    ticked = db.session.scalar(sa.select(Application.id).where(
        Application.title == unmatched[0]))
    resp = officer.post("/applications/bulk", data={
        "csrf_token": csrf_of(page), "scope": "matching", "filters": filters,
        "ids": [str(ticked)], "decision": "pass", "comment": ""})
    assert resp.status_code == 302
    back = urlsplit(resp.headers["Location"])
    assert back.path == "/applications"
    assert {k: v for k, v in parse_qs(back.query).items() if k != "job"} == {
        "q": ["稀土"], "year": ["2026"]}
    job_id = job_of(resp.headers["Location"])

    auth = {"Authorization": f"Bearer {api_token(officer, 'officer', PASSWORD)}"}

    def finished() -> dict | None:
        body = officer.get(f"/api/v1/jobs/{job_id}", headers=auth).get_json()
        return body if body["state"] in ("done", "failed") else None

    body = wait_for(finished, timeout=60, interval=0.1, what="the bulk formal review job")
    assert body["state"] == "done", body
    assert (body["done"], body["total"]) == (22, 22)
    result = body["result"]
    assert result["summary"] == "形式审查通过：已处理 20 件，2 件未处理"
    assert result["counts"] == [["已处理", 20], ["未处理", 2],
                                ["符合条件但不在形式审查阶段（未处理）", 3]]
    assert sorted(result["errors"]) == [
        f"{title}：以下形式审查要点必须勾选后才能通过：{REQUIRED}" for title in refused]
    assert body["link"].startswith("/applications?") and "year=2026" in body["link"]

    after = states_of(passable + refused + list(elsewhere) + unmatched)
    assert {t: after[t] for t in passable} == dict.fromkeys(passable, A.expert_review)
    assert {t: after[t] for t in refused} == dict.fromkeys(refused, A.formal_review)
    assert {t: after[t] for t in elsewhere} == elsewhere
    assert {t: after[t] for t in unmatched} == dict.fromkeys(unmatched, A.formal_review)

    # What is left to decide under that search: the two refused.
    page = officer.get("/applications?q=稀土&year=2026").get_data(as_text=True)
    assert "选择全部符合条件的 2 份<" in page and "另有 23 份符合条件" in page
    # Nothing matching: no choice offered, and a request for it refused, not started.
    page = officer.get("/applications?q=稀土回收&year=2025").get_data(as_text=True)
    assert "共 <strong>0</strong> 条" in page and "选择全部符合条件的 " not in page
    resp = officer.post("/applications/bulk", data={
        "csrf_token": csrf_of(page), "scope": "matching", "filters": "q=稀土回收&year=2025",
        "decision": "pass"})
    assert "job=" not in resp.headers["Location"]
    assert "没有符合条件、待形式审查的申报书" in officer.get(
        resp.headers["Location"]).get_data(as_text=True)


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
