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
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from pypdf import PdfReader

from states import ApplicationState
from tests.factories import (
    ApplicationFactory,
    CallFactory,
    ChallengeFactory,
    OrganizationFactory,
    UserFactory,
)
from tests.integration.api_walk import Person, history, pdf_text, rendered
from tests.integration.conftest import wait_for
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
    expert_ids: list[int]


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
    out["expert_ids"] = [u.id for u in made["experts"]]
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
                      who["experts"], who["expert_ids"])
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


MIDTERM_REPORT = {
    "answers": {"progress": "完成浸萃工艺小试，中试线主体设备已安装，正在开展中试放大。",
                "results": "发表论文1篇，申请发明专利1项。",
                "problems": "中试设备到货延迟，下一步加快中试进度。"},
    "spending": {"equipment": "0", "business": "0", "labour": "0", "indirect": "0"},
    "outputs": [{"kind": "paper", "title": "离子型稀土浸萃新工艺", "note": "中国稀土学报"}]}


def midterm_with_rectification(p: Project) -> None:
    """中期检查: the officer opens it with a due date; the team reports; a panel of three
    scores and recommends 整改; the team reports again on the items required; the panel
    passes it, and the project runs on. The 中期检查结论通知 is issued."""
    due = (today() + timedelta(days=30)).isoformat()
    (check,) = p.officer.post("/midterms", {"application_ids": [p.id], "due_on": due,
                                            "instructions": "请按中期检查表如实填报。"},
                              status=201)["items"]
    mid = check["id"]
    assert p.researcher.get(f"/applications/{p.id}")["state"] == "midterm"
    # An empty report is not sent, and the team is told why.
    error = p.researcher.refused("POST", f"/midterms/{mid}/submit", 422, "guard_failed")
    assert error["details"][0]["fields"]["answers.progress"] == "请填写进展情况"
    upload(p.researcher, f"/midterms/{mid}/attachments", "中试线照片.pdf")
    assert p.researcher.post(f"/midterms/{mid}/submit", MIDTERM_REPORT)["state"] == "submitted"
    assert p.officer.call("PUT", f"/midterms/{mid}/panel",
                          json={"expert_ids": p.expert_ids})["state"] == "reviewing"
    for n, expert in enumerate(p.experts):
        queue = expert.get("/midterm-scores")["items"]
        assert [(q["midterm_id"], q["scored"]) for q in queue] == [(mid, False)]
        expert.call("PUT", f"/midterms/{mid}/score", json={
            "score": 68 + n, "opinion": "中试进度滞后于任务书计划，建议限期整改。",
            "recommendation": "rectify"})
    rectify = p.officer.post(f"/midterms/{mid}/outcome", {
        "outcome": "rectify", "opinion": "中试进度滞后，限期整改",
        "due_on": (today() + timedelta(days=20)).isoformat(),
        "items": ["补充中试运行数据", "提交进度追赶计划"]})
    assert (rectify["state"], rectify["round"]) == ("rectify", 2)
    # The team reads the panel by number, never by name.
    seen = p.researcher.get(f"/midterms/{mid}")
    assert [s["alias"] for s in seen["panel"]] == ["专家1", "专家2", "专家3"]
    assert not any(e.name in str(seen) for e in p.experts)
    again = {**MIDTERM_REPORT, "answers": {
        **MIDTERM_REPORT["answers"],
        "progress": "已补充中试运行数据三个月，中试进度已追上任务书的计划安排。"}}
    assert p.researcher.post(f"/midterms/{mid}/submit", again)["state"] == "submitted"
    p.officer.call("PUT", f"/midterms/{mid}/panel", json={"expert_ids": p.expert_ids})
    for expert in p.experts:
        expert.call("PUT", f"/midterms/{mid}/score", json={
            "score": 86, "opinion": "整改到位，同意通过。", "recommendation": "pass"})
    passed = p.officer.post(f"/midterms/{mid}/outcome", {"outcome": "pass",
                                                         "opinion": "整改到位，同意通过"})
    assert passed["state"] == "passed"
    assert p.researcher.get(f"/applications/{p.id}")["state"] == "in_progress"
    text = pdf_text(p.researcher, rendered(p.researcher, p.id, "midterm_conclusion"))
    assert "中期检查" in text and "通过" in text
    assert not any(e.name in text for e in p.experts)


def acceptance(p: Project, grade: str) -> dict[str, Any]:
    """结题验收: the team's package (report, 科技报告, outputs, 决算, self-assessment), the
    unit's endorsement, a panel of three (with the demand side for 揭榜挂帅), 财务验收, and
    the officer's conclusion; the 验收结论书 issued."""
    acc = p.researcher.post(f"/applications/{p.id}/acceptance", status=201)
    acc_id = acc["id"]
    assert acc["missing"]  # what the package still lacks, by field
    names = [i["name"] for i in acc["indicators"]]
    met = grade != "fail"
    body: dict[str, Any] = {
        "report": "项目按任务书开展研究，完成了主要研究内容，成果已整理归档。",
        "outputs": [{"kind": "paper", "title": "离子型稀土浸萃新工艺",
                     "identifier": "10.1016/j.hydromet.2026.106001"},
                    {"kind": "patent", "title": "一种稀土浸出液净化方法",
                     "identifier": "ZL202610123456.7"}],
        "self_assessment": {n: {"status": "met" if met else "not_met",
                                "evidence": "见科技报告第三章"} for n in names}}
    disbursed = Decimal(acc["disbursed_wan"])
    if p.scheme is Scheme.baogan:
        body |= {"negative_list_declared": True, "spent_wan": str(disbursed - 5),
                 "surplus_wan": "5"}
    else:
        body["spending"] = {"business": "0"}
    # An identifier that is no 专利号 is refused by field, and nothing is saved.
    bad = {**body, "outputs": [{"kind": "patent", "title": "专利", "identifier": "12"}]}
    error = p.researcher.refused("PATCH", f"/acceptances/{acc_id}", 422, "invalid", json=bad)
    assert "outputs.0.identifier" in error["details"]
    p.researcher.call("PATCH", f"/acceptances/{acc_id}", json=body)
    upload(p.researcher, f"/acceptances/{acc_id}/tech-report", "科技报告.pdf")
    assert p.researcher.get(f"/acceptances/{acc_id}")["missing"] == {}
    assert p.researcher.fire("acceptances", acc_id, "submit")["state"] == "submitted"
    assert p.unit.fire("acceptances", acc_id, "endorse", comment="同意报送")["state"] == "endorsed"
    assert p.researcher.get(f"/applications/{p.id}")["state"] == "acceptance"
    p.officer.post(f"/acceptances/{acc_id}/panel", {"expert_ids": p.expert_ids})
    # Not concluded before the panel and 财务验收 are in.
    early = p.officer.call("POST", f"/acceptances/{acc_id}/conclusion", 422,
                           json={"grade": grade, "comment": "结论"})
    assert "专家" in early["error"]["message"] or "财务" in early["error"]["message"]
    opinion = "材料齐全，指标完成情况属实。" if met else "主要指标未达到，但项目组勤勉尽责。"
    for voice in [*p.experts, *([p.demand] if p.demand else [])]:
        voice.post(f"/acceptances/{acc_id}/scores", {
            "scores": dict.fromkeys(names, met), "grade": grade, "opinion": opinion,
            **({"diligent": True} if grade == "fail" else {})})
    p.checker.post(f"/acceptances/{acc_id}/finance-check",
                   {"verdict": "pass", "opinion": "决算与拨付台账一致"})
    conclusion: dict[str, Any] = {"grade": grade, "comment": "同意专家组意见"}
    if grade == "fail":
        conclusion |= {"diligent": "yes", "comment": "主要指标未达到；专家组认定项目组勤勉尽责，"
                                                      "宽容失败，不予追回"}
    done: dict[str, Any] = p.officer.post(f"/acceptances/{acc_id}/conclusion", conclusion)
    assert done["conclusion"]["grade"] == grade
    seen = p.researcher.get(f"/acceptances/{acc_id}")
    assert [m["alias"] for m in seen["members"]][:3] == ["专家1", "专家2", "专家3"]
    assert not any(e.name in str(seen) for e in p.experts)
    text = pdf_text(p.researcher, rendered(p.researcher, p.id, "acceptance_conclusion"))
    assert "验收" in text and not any(e.name in text for e in p.experts)
    return done


def evaluation(p: Project, grade: str | None = None) -> dict[str, Any]:
    """绩效评价: opened when the project closed, proposed from its facts (``grade``, when
    the walk knows it); confirmed by the officer, or for 不合格 by the leader."""
    number = p.officer.get(f"/applications/{p.id}")["project_number"]
    (ev,) = [e for e in p.officer.get("/evaluations", query_string={"q": number})["items"]
             if e["application_id"] == p.id]
    assert ev["state"] == "draft" and ev["grade"] == (grade or ev["grade"]), ev
    if ev["grade"] == "unqualified":
        p.officer.refused("POST", f"/evaluations/{ev['id']}/confirm", 409, "leader_confirms",
                          json={})
        assert p.officer.fire("evaluations", ev["id"], "propose",
                              comment="验收不通过，报分管领导确认")["state"] == "proposed"
        done = p.leader.post(f"/evaluations/{ev['id']}/confirm", {"comment": "同意"})
    else:
        done = p.officer.post(f"/evaluations/{ev['id']}/confirm", {"comment": "同意"})
    assert done["to"] == "confirmed"
    return p.officer.get(f"/evaluations/{ev['id']}")  # type: ignore[no-any-return]


def archive(p: Project) -> zipfile.ZipFile:
    """项目档案: the officer exports the closed project's file; the worker builds the zip
    with its index; no expert's name is in it."""
    started = p.officer.post(f"/applications/{p.id}/archive", status=202)
    assert started["job"] is not None

    def ready() -> dict[str, Any] | None:
        body: dict[str, Any] = p.officer.get(f"/applications/{p.id}/archive")
        return body if body["ready"] else None

    body = wait_for(ready, timeout=120, interval=0.5, what="the worker to build the archive")
    data = p.officer.get(body["download"].removeprefix("/api/v1"))
    zf = zipfile.ZipFile(io.BytesIO(data))
    names = zf.namelist()
    assert names[0] == "00-档案目录.pdf"
    index = "".join(page.extract_text() for page in PdfReader(
        io.BytesIO(zf.read(names[0]))).pages).replace("\n", "")
    for name in names[1:]:
        assert name.rsplit("/", 1)[-1][:20] in index or name.endswith("/"), name
    blob = b"".join(zf.read(n) for n in names)
    for expert in p.experts:
        assert expert.name.encode() not in blob
    return zf


# ---- the walks ---------------------------------------------------------------------------

def test_a_baogan_project_from_its_contract_to_its_archive(worker_app: Flask,
                                                           client: FlaskClient) -> None:
    p = contracted(client, Scheme.baogan)
    first_payment(p)
    extension(p)
    annual_report(p)
    midterm_with_rectification(p)
    acceptance(p, "pass")
    # 通过: the last 30% is due and paid; the 结余 is kept for research (包干制).
    first, last = tranches(p)
    assert (first["state"], last["state"]) == ("released", "due")
    pay(p, last["id"], f"ZF-{p.id}-2")
    project = p.researcher.get(f"/applications/{p.id}")
    assert project["state"] == "completed"
    ev = evaluation(p)
    # Every indicator met, four outputs, on time, the money spent as declared.
    assert ev["facts"]["indicators"][0] == ev["facts"]["indicators"][1]
    assert ev["grade"] in ("excellent", "good"), ev
    zf = archive(p)
    files = zf.namelist()
    assert {"08-中期检查/中期检查.xlsx", "09-结题验收/结题验收.xlsx",
            "10-绩效评价/绩效评价.xlsx"} <= set(files), files
    assert any(n.startswith("05-公文/验收结论书") for n in files), files
    assert any(n.startswith("05-公文/中期检查结论通知") for n in files), files
    # The midterm panel's two rounds, by number: three experts scored each.
    scores = load_workbook(io.BytesIO(zf.read("08-中期检查/中期检查.xlsx")))["专家评议"]
    rows = [[c.value for c in row] for row in scores.iter_rows(min_row=2)]
    assert sorted((r[1], r[2]) for r in rows) == sorted(
        (round_, f"专家{n}") for round_ in (1, 2) for n in (1, 2, 3))
    checks = load_workbook(io.BytesIO(zf.read("08-中期检查/中期检查.xlsx")))["中期检查"]
    (check,) = checks.iter_rows(min_row=2, values_only=True)
    assert check[5].startswith("进展情况：已补充中试运行数据") and check[11] == "通过"
    panel = load_workbook(io.BytesIO(zf.read("09-结题验收/结题验收.xlsx")))["专家组意见"]
    assert [r[0].value for r in panel.iter_rows(min_row=2)] == ["专家1", "专家2", "专家3"]
    evaluated = dict(load_workbook(io.BytesIO(zf.read("10-绩效评价/绩效评价.xlsx")))[
        "绩效评价"].iter_rows(min_row=2, values_only=True))
    assert (evaluated["结束方式"], evaluated["状态"]) == ("结题", "已确认")


def test_a_jiebang_project_from_its_contract_to_its_archive(worker_app: Flask,
                                                            client: FlaskClient) -> None:
    p = contracted(client, Scheme.jiebang)
    indicator_change(p)
    annual_report(p)
    midterm_with_rectification(p)
    # Not met, and the panel finds the team worked diligently: 宽容失败, no recovery, no
    # 科研失信 record; the unpaid tranches are cancelled.
    done = acceptance(p, "fail")
    assert done["conclusion"]["diligent"] is True
    assert done["conclusion"]["integrity_recorded"] is False
    assert done["conclusion"]["recovery_wan"] in (None, "0.00")
    assert p.researcher.get(f"/applications/{p.id}")["state"] == "failed"
    assert all(t["state"] == "cancelled" for t in tranches(p))
    assert p.officer.get("/recoveries", query_string={"q": p.officer.get(
        f"/applications/{p.id}")["project_number"]})["total"] == 0
    # A failed acceptance is 不合格; the leader confirms it, and it is kept on the PI.
    evaluation(p, "unqualified")
    pi_id = p.researcher.get("/me")["id"]
    history = p.officer.get(f"/people/{pi_id}/performance")["items"]
    assert [(h["application_id"], h["grade"]) for h in history] == [(p.id, "unqualified")]
    zf = archive(p)
    panel = load_workbook(io.BytesIO(zf.read("09-结题验收/结题验收.xlsx")))["专家组意见"]
    assert [(r[0].value, r[1].value) for r in panel.iter_rows(min_row=2)] == [
        ("专家1", "专家"), ("专家2", "专家"), ("专家3", "专家"), ("发榜方代表1", "发榜方")]
    summary = dict(load_workbook(io.BytesIO(zf.read("09-结题验收/结题验收.xlsx")))[
        "结题验收"].iter_rows(min_row=2, values_only=True))
    assert (summary["验收结论"], summary["是否勤勉尽责"]) == ("不通过", "是（宽容失败）")
    assert summary["经费决算（万元）"] == "业务费 0.00"
