"""The Excel downloads the pages offer, through the API: the review results
(``/ranking.xlsx``, as on the ranking page) and a call's budget ledger
(``/ledger.xlsx``, as on the ledger page). Each is its JSON resource's path with
``.xlsx``: the same parameters, the same people, the same rows."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from states import ApplicationState, CallState, ReviewState
from tests.conftest import api_token, client_for
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    OrganizationFactory,
    ReviewFactory,
    UserFactory,
)
from workflow.core import engine
from workflow.core.models import db, utcnow
from workflow.review import results

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def bearer(client, username):
    return {"Authorization": "Bearer " + api_token(client, username, PASSWORD)}


def workbook(resp):
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == XLSX
    return load_workbook(io.BytesIO(resp.data))


def rows_of(sheet):
    return [[c.value for c in row] for row in sheet.iter_rows()]


@pytest.fixture
def people(app):
    staff = {role: UserFactory(username=role, roles=(role,), organization=None)
             for role in ("officer", "leader", "auditor", "finance")}
    UserFactory(username="expert", roles=("expert",))
    return {**staff, "pi": UserFactory(username="pi", roles=("applicant",),
                                       organization=OrganizationFactory(name="赣南科技大学"))}


# ---- the review results -----------------------------------------------------------------

@pytest.fixture
def reviewed(people):
    """Three reviewed applications asking 40万 each of a 100万 call, two scores each."""
    call = CallFactory(state=CallState.reviewing, budget=Decimal("1000000.00"))
    scores = {"稀土永磁项目甲": (90, 88), "稀土永磁项目乙": (80, 82), "稀土永磁项目丙": (70, 71)}
    for n, (title, totals) in enumerate(scores.items()):
        row = ApplicationFactory(call=call, state=ApplicationState.reviewed, title=title,
                                 applicant=people["pi"] if n == 0 else UserFactory(),
                                 receipt_no=f"SB-2026-{n + 1:04d}",
                                 submitted_at=utcnow() - timedelta(days=3),
                                 data={"summary": "x", "amount": "400000.00"})
        for total in totals:
            ReviewFactory(application=row, state=ReviewState.submitted,
                          total=Decimal(total), submitted_at=utcnow())
    results.rescore(call)  # written directly: their sums kept as an import keeps them
    db.session.commit()
    return call


def test_the_score_sheet_has_the_rankings_rows(client, reviewed):
    officer = bearer(client, "officer")
    ranking = client.get(f"/api/v1/calls/{reviewed.id}/ranking", headers=officer).get_json()
    book = workbook(client.get(f"/api/v1/calls/{reviewed.id}/ranking.xlsx", headers=officer))
    assert book.sheetnames == ["评审汇总", "评分明细", "评分标准"]
    header, *rows = rows_of(book["评审汇总"])
    col = {name: header.index(name) for name in ("申报编号", "项目名称", "综合得分", "排名",
                                                 "是否拟资助", "申请经费（万元）")}
    got = [(r[col["项目名称"]], r[col["排名"]], r[col["综合得分"]], r[col["申请经费（万元）"]],
            r[col["是否拟资助"]]) for r in rows]
    assert got == [("稀土永磁项目甲", 1, 89, 40, "是"), ("稀土永磁项目乙", 2, 81, 40, "是"),
                   ("稀土永磁项目丙", 3, 70.5, 40, "否")]
    # The same rows as the JSON ranking, in its order.
    assert [r[col["项目名称"]] for r in rows] == [i["title"] for i in ranking["items"]]
    assert [r[col["是否拟资助"]] == "是" for r in rows] == [i["funded"] for i in ranking["items"]]
    # Experts appear as 专家1, 专家2, never by name.
    text = " ".join(str(v) for ws in book for row in rows_of(ws) for v in row)
    assert "专家1" in text and "用户" not in text


def test_the_score_sheet_takes_the_rankings_budget_to_try(client, reviewed):
    officer = bearer(client, "officer")
    book = workbook(client.get(f"/api/v1/calls/{reviewed.id}/ranking.xlsx?budget=40",
                               headers=officer))
    header, *rows = rows_of(book["评审汇总"])
    assert [r[header.index("是否拟资助")] for r in rows] == ["是", "否", "否"]
    bad = client.get(f"/api/v1/calls/{reviewed.id}/ranking.xlsx?budget=abc", headers=officer)
    assert bad.status_code == 422 and "budget" in bad.get_json()["error"]["details"]


@pytest.mark.parametrize("who,status", [
    ("officer", 200), ("leader", 200), ("auditor", 200),
    ("finance", 403), ("pi", 403), ("expert", 403),  # they see the call, not its ranking
])
def test_the_score_sheet_is_for_those_who_read_the_ranking(client, reviewed, who, status):
    for path in ("ranking", "ranking.xlsx"):
        resp = client.get(f"/api/v1/calls/{reviewed.id}/{path}", headers=bearer(client, who))
        assert resp.status_code == status, (path, resp.get_json())
        if status != 200:
            assert resp.mimetype == "application/json"  # an error, never a workbook


def test_a_draft_calls_score_sheet_is_not_known_to_a_researcher(client, people):
    call = CallFactory(state=CallState.draft)
    db.session.commit()
    resp = client.get(f"/api/v1/calls/{call.id}/ranking.xlsx", headers=bearer(client, "pi"))
    assert resp.status_code == 404


# ---- the budget ledger ------------------------------------------------------------------

@pytest.fixture
def contracted(people):
    """A project approved (its grant committed) and contracted (its first tranche due)."""
    call = CallFactory(budget=Decimal("5000000.00"), tranche_plan=[
        {"label": "合同签订后拨付", "percent": 70, "condition": "contract"},
        {"label": "验收后拨付", "percent": 30, "condition": "acceptance"}])
    row = ApplicationFactory(call=call, applicant=people["pi"],
                             state=ApplicationState.public_notice,
                             granted_amount=Decimal("1234500.00"),
                             notice_ends_at=utcnow() - timedelta(minutes=1),
                             task_book_signed_by=("team",))
    db.session.commit()
    engine.fire(row, "approve", None)
    engine.fire(row, "sign_contract", people["officer"])
    db.session.commit()
    return call


def test_the_ledger_workbook_has_the_ledgers_entries_and_reconciliation(client, contracted):
    finance = bearer(client, "finance")
    ledger = client.get(f"/api/v1/budgets/{contracted.id}/ledger", headers=finance).get_json()
    assert ledger["entries"], "the grant's commitment is in the ledger"
    book = workbook(client.get(f"/api/v1/budgets/{contracted.id}/ledger.xlsx",
                               headers=finance))
    assert book.sheetnames == [f"预算台账-{contracted.year}-{contracted.id}", "对账"]
    header, *rows = rows_of(book.worksheets[0])
    assert header[:4] == ["序号", "时间", "类型", "金额（万元）"]
    assert [(r[0], r[2], Decimal(str(r[3]))) for r in rows] == [
        (e["seq"], e["kind_label"], Decimal(e["amount_wan"])) for e in ledger["entries"]]
    summary = dict((r[0], r[1]) for r in rows_of(book["对账"])[1:])
    assert summary["指南预算"] == 500 and summary["对账结果"] == "一致"
    assert Decimal(str(summary["可用余额"])) == Decimal(
        ledger["reconciliation"]["available_wan"])
    # The very workbook the ledger page exports: one export, for the page and the API.
    page = client_for(client.application, "finance", PASSWORD)
    same = workbook(page.get(f"/calls/{contracted.id}/ledger.xlsx"))
    assert [rows_of(s) for s in same.worksheets] == [rows_of(s) for s in book.worksheets]


@pytest.mark.parametrize("who,status", [
    ("finance", 200), ("officer", 200), ("leader", 200), ("auditor", 200),
    ("pi", 403),  # sees the call, not its money
])
def test_the_ledger_workbook_is_for_those_who_read_money(client, contracted, who, status):
    for path in ("ledger", "ledger.xlsx"):
        resp = client.get(f"/api/v1/budgets/{contracted.id}/{path}",
                          headers=bearer(client, who))
        assert resp.status_code == status, path
    assert client.get("/api/v1/budgets/999999/ledger.xlsx",
                      headers=bearer(client, "finance")).status_code == 404


def test_the_spec_says_the_downloads_are_workbooks(client, app):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for path in ("/api/v1/calls/{call_id}/ranking.xlsx",
                 "/api/v1/budgets/{call_id}/ledger.xlsx", "/api/v1/experts/template.xlsx"):
        op = paths[path]["get"]
        assert op["responses"]["200"]["content"] == {
            XLSX: {"schema": {"type": "string", "format": "binary"}}}, path
        assert "403" in op["responses"], path
    ranking = paths["/api/v1/calls/{call_id}/ranking.xlsx"]["get"]
    assert {p["name"] for p in ranking["parameters"]} >= {"budget", "skip_unaffordable"}
    assert "422" in ranking["responses"]
