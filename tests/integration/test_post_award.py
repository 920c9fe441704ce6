"""Issue 18's acceptance test: a 包干制 project and a 揭榜挂帅 project carried from the signed
task book through a change, annual reports, a midterm check with 整改, final acceptance by a
panel, the performance evaluation and the archive, through ``/api/v1`` alone, on PostgreSQL
with a real worker (which renders the documents each step issues).

What is set up outside the API is what comes before the contract (the projects on public
notice, made by the factories, approved when the notice ends as the beat does) and the
people (accounts come from the bureau's account administration). Every step after that is
an HTTP call with the Bearer token of the person who takes it, who checks what they would
check.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from states import ApplicationState
from tests.factories import (
    ApplicationFactory,
    CallFactory,
    ChallengeFactory,
    OrganizationFactory,
    UserFactory,
)
from tests.integration.api_walk import Person, history, pdf_text, rendered
from workflow.calls.models import Scheme
from workflow.core import engine
from workflow.core.models import db, utcnow
from workflow.timeutil import SHANGHAI

pytestmark = pytest.mark.integration

PLAN = [{"label": "合同签订后拨付", "percent": 70, "condition": "contract"},
        {"label": "验收后拨付", "percent": 30, "condition": "acceptance"}]
EVIDENCE = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
INDICATORS = [{"name": "分离纯度", "target": "≥ 99.999%"},
              {"name": "单线产能", "target": "≥ 500 吨/年"}]


@dataclass
class Project:
    """One running project and the people around it, each at the API."""

    id: int
    scheme: Scheme
    officer: Person
    leader: Person
    researcher: Person
    unit: Person
    maker: Person
    checker: Person
    demand: Person | None
    experts: list[Person]


def people(client: FlaskClient, tag: str, org: Any, demand_org: Any | None) -> dict[str, Any]:
    """The accounts of one project's walk; ``tag`` keeps the two walks' names apart."""
    made = {
        "officer": UserFactory(username=f"officer.{tag}", name="张科长", roles=("officer",),
                               organization=None),
        "leader": UserFactory(username=f"leader.{tag}", name="李局长", roles=("leader",),
                              organization=None),
        "maker": UserFactory(username=f"maker.{tag}", name="财务制单员", roles=("finance",),
                             organization=None),
        "checker": UserFactory(username=f"checker.{tag}", name="财务审核员",
                               roles=("finance",), organization=None),
        "researcher": UserFactory(username=f"pi.{tag}", name="王研究员", roles=("applicant",),
                                  organization=org, id_number="362101198001010019"
                                  if tag == "bg" else "362101198202020027"),
        "unit": UserFactory(username=f"unit.{tag}", name="陈处长", roles=("org_admin",),
                            organization=org),
    }
    if demand_org is not None:
        made["demand"] = UserFactory(username=f"demand.{tag}", name="刘总工", roles=("demand",),
                                     organization=demand_org)
    institute = OrganizationFactory(name=f"江西省稀土研究院{tag}")
    made["experts"] = [UserFactory(username=f"expert{i}.{tag}", name=f"{surname}研究员",
                                   roles=("expert",), organization=institute)
                       for i, surname in enumerate("赵钱孙", 1)]
    db.session.commit()
    out: dict[str, Any] = {k: Person(client, u.username, u.name)
                           for k, u in made.items() if k != "experts"}
    out["experts"] = [Person(client, u.username, u.name) for u in made["experts"]]
    out["pi"] = made["researcher"]
    return out


def contracted(client: FlaskClient, scheme: Scheme) -> Project:
    """A project approved at the end of its public notice, its task book signed by the
    team (and the demand side): the officer countersigns through the API and it starts."""
    tag = "bg" if scheme is Scheme.baogan else "jb"
    org = OrganizationFactory(name="赣南稀土工程大学" if tag == "bg" else "赣江理工学院")
    challenge = None
    if scheme is Scheme.jiebang:
        call = CallFactory(scheme=scheme, steps=["midterm"], budget=Decimal("5000000.00"),
                           tranche_plan=[{"label": "里程碑验收通过后拨付",
                                          "condition": "milestone"}])
        challenge = ChallengeFactory(call=call, indicators=INDICATORS,
                                     demand_org=OrganizationFactory(name="赣州稀土分离股份有限公司"))
    else:
        call = CallFactory(scheme=scheme, steps=["midterm"], budget=Decimal("5000000.00"),
                           tranche_plan=PLAN)
    who = people(client, tag, org, challenge.demand_org if challenge else None)
    pi = who["pi"]
    data: dict[str, Any] = {"summary": "离子型稀土矿绿色浸萃与高纯分离关键技术研究。"}
    if challenge is not None:
        data |= {"indicators": {"分离纯度": "99.9995%", "单线产能": "600 吨/年"},
                 "milestones": [{"label": "中试线建成", "amount": "600000", "months": 6},
                                {"label": "工业化验证", "amount": "400000", "months": 15}]}
    row = ApplicationFactory(
        call=call, challenge=challenge, applicant=pi, organization=org,
        title="高纯稀土氧化物连续分离工艺" if challenge else "离子型稀土矿绿色浸萃技术研究",
        state=ApplicationState.public_notice, granted_amount=Decimal("1000000.00"),
        notice_ends_at=utcnow() - timedelta(minutes=1), data=data,
        task_book_signed_by=("team", "demand") if challenge else ("team",))
    db.session.commit()
    engine.fire(row, "approve", None)  # the beat, at the end of the public notice
    db.session.commit()
    project = Project(row.id, scheme, who["officer"], who["leader"], who["researcher"],
                      who["unit"], who["maker"], who["checker"], who.get("demand"),
                      who["experts"])
    signed = project.officer.fire("applications", row.id, "sign_contract")
    assert (signed["state"], signed["state_label"]) == ("contracted", "已签任务书")
    assert project.officer.fire("applications", row.id, "start")["state"] == "in_progress"
    return project


def pay(p: Project, tranche_id: int, ref: str) -> dict[str, Any]:
    """Finance pays a due tranche: the maker prepares, the checker approves and releases."""
    assert p.maker.fire("tranches", tranche_id, "prepare")["state"] == "prepared"
    assert p.checker.fire("tranches", tranche_id, "approve")["state"] == "approved"
    released: dict[str, Any] = p.checker.fire("tranches", tranche_id, "release",
                                               data={"payment_ref": ref})
    assert released["state"] == "released"
    return released


def tranches(p: Project) -> list[dict[str, Any]]:
    number = p.officer.get(f"/applications/{p.id}")["project_number"]
    items: list[dict[str, Any]] = p.maker.get("/tranches", query_string={"q": number})["items"]
    return sorted((t for t in items if t["application_id"] == p.id), key=lambda t: t["seq"])


def upload(person: Person, path: str, name: str) -> dict[str, Any]:
    """A PDF attached as evidence (multipart ``file``)."""
    body: dict[str, Any] = person.post(path, status=201, data={
        "file": (io.BytesIO(EVIDENCE), name)}, content_type="multipart/form-data")
    return body


def today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


# ---- the steps ---------------------------------------------------------------------------

def first_payment(p: Project) -> None:
    """包干制: the contract makes the first 70% due and finance pays it."""
    first, last = tranches(p)
    assert (first["state"], first["amount_wan"], last["state"]) == ("due", "70.00", "planned")
    pay(p, first["id"], f"ZF-{p.id}-1")
    assert p.researcher.get(f"/applications/{p.id}")["state"] == "in_progress"


def extension(p: Project) -> None:
    """包干制: a 12-month extension asked by the team, endorsed by the unit, approved by the
    officer; the 变更批复 is issued and the project's end moves."""
    # The task book ends 24 months after approval (KJFLOW_PROJECT_MONTHS); six more.
    ends = today() + timedelta(days=913)
    change = p.researcher.post(f"/applications/{p.id}/changes", {
        "kind": "extension", "reason": "中试设备到货延迟五个月，需延长执行期以完成工业化验证。",
        "new_end_date": ends.isoformat()}, status=201)
    assert (change["state"], change["kind"]) == ("draft", "extension")
    # Evidence first: a request without it is refused, and says so.
    error = p.researcher.refused("POST", f"/changes/{change['id']}/transitions", 422,
                                "guard_failed", json={"trigger": "submit"})
    assert [d["code"] for d in error["details"]] == ["evidence_missing"]
    upload(p.researcher, f"/changes/{change['id']}/attachments", "设备到货证明.pdf")
    assert p.researcher.fire("changes", change["id"], "submit")["state"] == "submitted"
    # Not the officer's to approve before the unit has endorsed it.
    p.officer.refused("POST", f"/changes/{change['id']}/transitions", 409, "invalid_state",
                      json={"trigger": "approve", "comment": "同意"})
    assert p.unit.fire("changes", change["id"], "endorse",
                       comment="情况属实，同意延期")["state"] == "endorsed"
    approved = p.officer.fire("changes", change["id"], "approve", comment="同意延期")
    assert approved["state"] == "approved"
    doc = rendered(p.researcher, p.id, "change_approval")
    text = pdf_text(p.researcher, doc)
    assert "延期" in text and f"{ends.year}年" in text
    assert [t for t, _, _ in history(p.researcher, "changes", change["id"])] == [
        "create", "attach_change_evidence", "submit", "endorse", "approve"]


def indicator_change(p: Project) -> None:
    """揭榜挂帅: a change of an indicator needs the demand side's agreement first."""
    assert p.demand is not None
    change = p.researcher.post(f"/applications/{p.id}/changes", {
        "kind": "content", "reason": "发榜方调整下游产品规格，单线产能指标随之调整。",
        "new_indicators": {"单线产能": "≥ 650 吨/年"}}, status=201)
    upload(p.researcher, f"/changes/{change['id']}/attachments", "发榜方函.pdf")
    assert p.researcher.fire("changes", change["id"], "submit")["state"] == "submitted"
    assert p.unit.fire("changes", change["id"], "endorse",
                       comment="同意调整")["state"] == "endorsed"
    p.officer.refused("POST", f"/changes/{change['id']}/transitions", 409, "invalid_state",
                      json={"trigger": "approve", "comment": "同意"})
    assert p.demand.fire("changes", change["id"], "demand_agree",
                         comment="同意")["state"] == "demand_agreed"
    assert p.officer.fire("changes", change["id"], "approve",
                          comment="同意调整")["state"] == "approved"
    data = p.researcher.get(f"/applications/{p.id}")["data"]
    assert data["indicators"]["单线产能"] == "≥ 650 吨/年"
    assert "650" in pdf_text(p.researcher, rendered(p.researcher, p.id, "change_approval"))


def annual_report(p: Project) -> None:
    """The year's report: opened by the officer, filled in by the PI, endorsed by the unit,
    accepted by the officer."""
    year = utcnow().astimezone(SHANGHAI).year
    opened = p.officer.post("/annual-reports/open", {"year": year})["items"]
    (report,) = [r for r in opened if r["application_id"] == p.id]
    assert (report["state"], report["year"]) == ("due", year)
    # Not submittable empty, and the PI is told what is missing.
    error = p.researcher.refused("POST", f"/annual-reports/{report['id']}/transitions", 422,
                                 "guard_failed", json={"trigger": "submit"})
    assert error["details"]
    released = p.researcher.get(f"/annual-reports/{report['id']}")["released_wan"]
    spent = "30.00" if Decimal(released) >= 30 else "0.00"
    body: dict[str, Any] = {
        "progress": "完成浸萃工艺小试与中试方案设计，中试线主体设备已安装调试。",
        "indicators": [{"indicator": i["indicator"], "status": "按计划推进"}
                       for i in p.researcher.get(f"/annual-reports/{report['id']}")
                       ["indicators"]] or [{"indicator": "研究内容与预期目标",
                                             "status": "按计划推进"}],
        "outputs": "发表论文1篇，申请发明专利1项。",
        "spending": {"equipment": spent, "business": "0", "labour": "0", "indirect": "0"}}
    if p.scheme is Scheme.baogan:
        body |= {"published_on": today().isoformat(), "published_where": "单位内网公示栏"}
    p.researcher.call("PUT", f"/annual-reports/{report['id']}", json=body)
    assert p.researcher.fire("annual-reports", report["id"], "submit")["state"] == "submitted"
    assert p.unit.fire("annual-reports", report["id"], "endorse")["state"] == "endorsed"
    assert p.officer.fire("annual-reports", report["id"], "accept")["state"] == "accepted"


# ---- the walks ---------------------------------------------------------------------------

def test_a_baogan_project_from_its_contract_to_its_archive(worker_app: Flask,
                                                           client: FlaskClient) -> None:
    p = contracted(client, Scheme.baogan)
    first_payment(p)
    extension(p)
    annual_report(p)


def test_a_jiebang_project_from_its_contract_to_its_archive(worker_app: Flask,
                                                            client: FlaskClient) -> None:
    p = contracted(client, Scheme.jiebang)
    indicator_change(p)
    annual_report(p)
