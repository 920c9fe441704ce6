"""Issue 14's acceptance test: a 揭榜挂帅 challenge taken from the call to an accepted
milestone and a paid tranche through ``/api/v1`` alone, on PostgreSQL with a real worker.

Only the people are set up outside the API (user accounts, and the passwords of the
experts the officer adds through ``/api/v1/experts``: they would set theirs through the
e-mailed password reset). The organisations and the expert pool are made through the API,
and every step of the workflow is an HTTP call with the Bearer token of the person who
takes it, who checks what they would check. The one step that is not a person's is the
end of the public notice: the beat fires it (see ``approve_when_the_notice_ends``).
"""

from __future__ import annotations

import io
import time
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import calendar_known_ahead
from tests.factories import PASSWORD, make_uscc
from tests.integration.api_walk import Person, history, local, pdf_text, rendered, user
from tests.integration.conftest import wait_for
from workflow.accounts import operations as accounts
from workflow.accounts.models import User
from workflow.core.models import db, utcnow
from workflow.notify import scheduler
from workflow.timeutil import SHANGHAI

pytestmark = pytest.mark.integration

UNIVERSITY_USCC, ENTERPRISE_USCC, INSTITUTE_USCC, OTHER_USCC = (
    make_uscc(n) for n in (1401, 1402, 1403, 1404))
MINUTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
RUBRIC = [{"name": "innovation", "label": "技术先进性", "weight": 40, "max": 100},
          {"name": "feasibility", "label": "方案可行性", "weight": 40, "max": 100},
          {"name": "team", "label": "团队能力", "weight": 20, "max": 100}]
INDICATORS = [{"name": "分离纯度", "target": "≥ 99.999%"},
              {"name": "单线产能", "target": "≥ 500 吨/年"}]
SCORES = {  # each expert's scores, and the weighted totals they make
    "expert.zhao": ({"innovation": 90, "feasibility": 85, "team": 80}, Decimal("86.00")),
    "expert.qian": ({"innovation": 80, "feasibility": 88, "team": 90}, Decimal("85.20")),
    "expert.sun": ({"innovation": 86, "feasibility": 80, "team": 85}, Decimal("83.40")),
}


def test_a_challenge_from_the_call_to_a_paid_tranche_through_the_api(
        worker_app: Flask, client: FlaskClient) -> None:
    started = time.monotonic()
    now = utcnow()

    # ---- people ----------------------------------------------------------------------
    for username, name, roles in (("officer.zhang", "张科长", ["officer"]),
                                  ("leader.li", "李局长", ["leader"]),
                                  ("finance.maker", "财务制单员", ["finance"]),
                                  ("finance.checker", "财务审核员", ["finance"])):
        user(username, name, roles)
    db.session.commit()
    officer = Person(client, "officer.zhang", "张科长")
    leader = Person(client, "leader.li", "李局长")
    maker = Person(client, "finance.maker", "财务制单员")
    checker = Person(client, "finance.checker", "财务审核员")

    # The officer registers the organisations: the team's university, the enterprise that
    # posts the challenge, the experts' institute, and another university.
    orgs = {}
    for key, name, uscc, kind in (
            ("team", "赣南稀土工程大学", UNIVERSITY_USCC, "university"),
            ("enterprise", "赣州稀土分离股份有限公司", ENTERPRISE_USCC, "enterprise"),
            ("institute", "江西省稀土研究院", INSTITUTE_USCC, "institute"),
            ("other", "赣江理工学院", OTHER_USCC, "university")):
        body = officer.post("/organizations", {"name": name, "uscc": uscc, "kind": kind},
                            status=201)
        assert body["bank_account_set"] is False
        orgs[key] = body["id"]
    user("wang.yan", "王研究员", ["applicant"], orgs["team"])
    user("chen.admin", "陈处长", ["org_admin"], orgs["team"])
    user("liu.demand", "刘总工", ["demand"], orgs["enterprise"])
    user("zhou.other", "周教授", ["applicant"], orgs["other"])
    db.session.commit()

    # The expert pool: three from the institute, one from the team's own university (who
    # must never be drawn for it: same organisation).
    experts: dict[str, int] = {}
    for username, name, uscc in (("expert.zhao", "赵研究员", INSTITUTE_USCC),
                                 ("expert.qian", "钱研究员", INSTITUTE_USCC),
                                 ("expert.sun", "孙研究员", INSTITUTE_USCC),
                                 ("expert.wu", "吴教授", UNIVERSITY_USCC)):
        body = officer.post("/experts", {"username": username, "name": name, "org_uscc": uscc,
                                         "disciplines": ["TF"], "keywords": ["稀土", "分离"],
                                         "title": "研究员", "load_cap": 5}, status=201)
        assert body["status"] == "available"
        experts[username] = body["id"]
    for username in experts:  # what the password reset would do
        accounts.set_password(db.session.get_one(User, experts[username]), PASSWORD)
    db.session.commit()
    researcher = Person(client, "wang.yan", "王研究员")
    org_admin = Person(client, "chen.admin", "陈处长")
    demand = Person(client, "liu.demand", "刘总工")
    outsider = Person(client, "zhou.other", "周教授")

    # ---- the call and its challenge (officer) -----------------------------------------
    year = now.astimezone(SHANGHAI).year
    call = officer.post("/calls", {
        "title": f"{year}年度稀土产业关键技术揭榜挂帅项目", "scheme": "jiebang", "year": year,
        "guide": "面向稀土产业链关键技术难题，公开征集揭榜团队。",
        "opens_at": local(now - timedelta(hours=1)), "closes_at": local(now + timedelta(days=30)),
        "budget": "500", "reviewers_per_application": 3, "aggregation": "mean",
        # One calendar day, the shortest notice the API allows: it still runs to the end
        # of tomorrow, so its end is the beat's (see approve_when_the_notice_ends).
        "notice_days": 1, "notice_working_days": False,
        "collective_threshold": "50",  # 三重一大: 50万元 and above
        "rubric": RUBRIC,
        "tranche_plan": [{"label": "里程碑验收通过后拨付", "condition": "milestone"}],
        "form_schema": [{"name": "summary", "label": "技术方案摘要", "type": "longtext",
                         "required": True, "max": 2000}],
    }, status=201)
    call_id = call["id"]
    assert (call["state"], call["state_label"], call["scheme_label"]) == (
        "draft", "草稿", "揭榜挂帅")
    assert call["collective_threshold_wan"] == "50.00" and call["budget_wan"] == "500.00"
    # Not publishable without a challenge, and the officer is told so.
    publish = next(t for t in officer.get(f"/calls/{call_id}/transitions")["transitions"]
                   if t["trigger"] == "publish")
    assert not publish["allowed"]
    assert [r["code"] for r in publish["reasons"]] == ["no_challenges"]

    challenge = officer.post(f"/calls/{call_id}/challenges", {
        "title": "高纯稀土氧化物连续分离工艺", "description": "突破高纯氧化镥连续萃取分离瓶颈。",
        "demand_org_uscc": ENTERPRISE_USCC, "indicators": INDICATORS, "ceiling": "120",
        "duration_months": 18, "max_teams": 1,
        "milestone_template": [{"label": "中试线建成", "percent": 60},
                               {"label": "工业化验证", "percent": 40}],
    }, status=201)
    assert challenge["demand_org"] == {"id": orgs["enterprise"], "name": "赣州稀土分离股份有限公司"}
    assert challenge["ceiling_wan"] == "120.00"
    published = officer.fire("calls", call_id, "publish")
    assert (published["state"], published["state_label"]) == ("published", "已发布")
    assert [(t, s) for t, s, _ in history(officer, "calls", call_id)] == [
        ("create", "draft"), ("add_challenge", "draft"), ("publish", "published")]

    # ---- the team's application (researcher) ------------------------------------------
    listed = researcher.get("/calls?state=published&scheme=jiebang")["items"]
    assert [(c["id"], [ch["id"] for ch in c["challenges"]]) for c in listed] == [
        (call_id, [challenge["id"]])]
    app = researcher.post("/applications", {
        "call_id": call_id, "challenge_id": challenge["id"], "title": "高纯氧化镥连续萃取分离技术",
        "data": {"summary": "采用多级逆流萃取与在线监测，实现氧化镥连续分离。",
                 "indicators": {"分离纯度": "99.9995%", "单线产能": "600 吨/年"},
                 "milestones": [{"label": "中试线建成", "amount_wan": "60", "months": 6},
                                {"label": "工业化验证", "amount_wan": "40", "months": 15}]},
    }, status=201)
    app_id = app["id"]
    assert (app["state"], app["state_label"], app["organization"]["id"]) == (
        "draft", "草稿", orgs["team"])
    assert app["data"]["milestones"] == [
        {"label": "中试线建成", "amount_wan": "60.00", "months": 6},
        {"label": "工业化验证", "amount_wan": "40.00", "months": 15}]
    # A field the application does not take is refused by name, never dropped.
    error = researcher.refused("PATCH", f"/applications/{app_id}", 422, "invalid",
                               json={"data": {"budget_table": "x"}})
    assert error["details"] == {"data.budget_table": "申报书表单中没有此项"}
    # Without the pledge (军令状) the submission is refused, and says why.
    error = researcher.refused("POST", f"/applications/{app_id}/transitions", 422,
                               "guard_failed", json={"trigger": "submit"})
    assert [d["code"] for d in error["details"]] == ["pledge_unsigned"]
    signed = researcher.post(f"/applications/{app_id}/sign")
    assert signed["data"]["pledge"]["signed_by"] == "王研究员"
    # A stale If-Match is a conflict; the current version submits.
    researcher.refused("POST", f"/applications/{app_id}/transitions", 409, "stale_version",
                       json={"trigger": "submit"}, headers={"If-Match": '"1"'})
    version = researcher.get(f"/applications/{app_id}")["version"]
    submitted = researcher.post(f"/applications/{app_id}/transitions", {"trigger": "submit"},
                                headers={"If-Match": f'"{version}"'})
    assert (submitted["from"], submitted["to"], submitted["final_state"]) == (
        "draft", "submitted", "formal_review")
    app = researcher.get(f"/applications/{app_id}")
    assert (app["state"], app["state_label"]) == ("formal_review", "形式审查")
    assert app["receipt_no"] and app["round"] == 1
    # A researcher of another organisation does not even learn that it exists.
    for path in (f"/applications/{app_id}", f"/applications/{app_id}/transitions",
                 f"/applications/{app_id}/history", f"/applications/{app_id}/documents"):
        outsider.refused("GET", path, 404, "not_found")
    assert outsider.get("/applications")["total"] == 0
    # The demand side follows the applications to its challenge.
    assert demand.get(f"/applications/{app_id}")["state"] == "formal_review"

    # ---- formal review, closing, expert review (officer, experts) ---------------------
    officer.refused("POST", f"/calls/{call_id}/assign", 409, "invalid_state",
                    json={"mode": "random", "seed": 2026})  # not while the call is open
    researcher.refused("POST", f"/applications/{app_id}/transitions", 403, "role_not_allowed",
                       json={"trigger": "pass_formal_review"})
    assert officer.fire("applications", app_id, "pass_formal_review")["state"] == "expert_review"
    closed = officer.fire("calls", call_id, "close",
                          data={"early_close_reason": "榜单已有团队揭榜，提前截止受理"})
    assert (closed["state"], closed["state_label"]) == ("closed", "已截止")
    assert officer.fire("calls", call_id, "start_review")["state_label"] == "评审中"
    draw = officer.post(f"/calls/{call_id}/assign",
                        {"mode": "random", "seed": 2026, "per_application": 3})
    assert draw["seed"] == 2026
    assigned = {a["expert_id"]: a["review_id"] for a in draw["assignments"]}
    assert sorted(assigned) == sorted(experts[u] for u in SCORES)  # never expert.wu
    assert all(a["application_id"] == app_id for a in draw["assignments"])

    for username, (scores, total) in SCORES.items():
        expert = Person(client, username, username)
        queue = expert.get("/reviews")
        assert queue["counts"] == {"waiting": 1, "in_progress": 0, "done": 0}
        (review,) = queue["items"]
        assert review["id"] == assigned[experts[username]]
        assert (review["state"], review["application"]["id"]) == ("invited", app_id)
        assert expert.fire("reviews", review["id"], "accept")["state_label"] == "已接受"
        # The expert reads the application through the review.
        reading = expert.get(f"/applications/{app_id}")
        assert reading["title"] == "高纯氧化镥连续萃取分离技术" and "receipt_no" not in reading
        draft = expert.call("PUT", f"/reviews/{review['id']}/scores", json={
            "scores": scores, "comment": "技术路线清晰，指标先进，团队具备中试经验，建议支持。"})
        assert draft["state"] == "accepted" and draft["total"] is None
        done = expert.fire("reviews", review["id"], "submit_scores")
        assert (done["state"], done["state_label"]) == ("submitted", "已提交评分")
        assert expert.get("/reviews")["items"][0]["total"] == str(total)
        assert [t for t, _, _ in history(expert, "reviews", review["id"])] == [
            "invite", "accept", "submit_scores"]
    # The last score moved the application on.
    app = officer.get(f"/applications/{app_id}")
    assert (app["state"], app["state_label"]) == ("reviewed", "评审完成")
    (ranked,) = officer.get(f"/calls/{call_id}/ranking")["items"]
    assert (ranked["application_id"], ranked["rank"], ranked["reviews"]) == (app_id, 1, 3)
    assert ranked["score"] == "84.87"  # the mean of 86.00, 85.20 and 83.40
    assert (ranked["requested_wan"], ranked["funded"]) == ("100.00", True)

    # ---- the funded list: officer proposes, leader approves (三重一大) ---------------------
    decision = officer.post(f"/calls/{call_id}/decision", {
        "items": [{"application_id": app_id, "amount_wan": "100"}],
        "comment": "按评审排名，建议立项支持。"}, status=201)
    assert (decision["state"], decision["total_wan"]) == ("proposed", "100.00")
    assert officer.get(f"/calls/{call_id}/decision")["needs_meeting"] is True
    error = leader.refused("POST", f"/decisions/{decision['id']}/approve", 422, "guard_failed",
                           json={"comment": "同意"})
    assert [d["code"] for d in error["details"]] == ["meeting_missing"]
    today = utcnow().astimezone(SHANGHAI).date().isoformat()
    met = officer.post(f"/decisions/{decision['id']}/meeting", data={
        "meeting_name": "局党组会议", "meeting_date": today,
        "meeting_attendees": "李局长、张科长等7人", "minutes_ref": "党组纪要〔2026〕9号",
        "minutes": (io.BytesIO(MINUTES), "党组会议纪要.pdf")},
        content_type="multipart/form-data")
    assert met["meeting"]["minutes_attached"] and met["meeting"]["minutes_ref"]
    approved = leader.post(f"/decisions/{decision['id']}/approve", {"comment": "同意立项"})
    assert (approved["state"], approved["decided_by"]) == ("approved", "李局长")
    assert officer.get(f"/calls/{call_id}")["state"] == "decided"
    app = officer.get(f"/applications/{app_id}")
    assert (app["state"], app["state_label"]) == ("shortlisted", "拟立项")

    # ---- public notice, and its end ---------------------------------------------------
    calendar_known_ahead()  # (published now: whatever the date, its days are known)
    assert officer.post(f"/calls/{call_id}/notices") == {"done": 1, "refused": []}
    notices = client.get("/api/v1/notices").get_json()["items"]  # public, no token
    (notice,) = [n for n in notices if n["application_id"] == app_id]
    assert (notice["amount_wan"], notice["under_objection"]) == ("100.00", False)
    last = date.fromisoformat(notice["notice_last_day"])
    assert datetime.fromisoformat(notice["notice_ends_at"]) == datetime(
        last.year, last.month, last.day, tzinfo=SHANGHAI) + timedelta(days=1)
    error = officer.refused("POST", f"/applications/{app_id}/transitions", 422, "guard_failed",
                            json={"trigger": "approve"})
    assert [d["code"] for d in error["details"]] == ["notice_running"]
    approve_when_the_notice_ends(datetime.fromisoformat(notice["notice_ends_at"]))

    app = researcher.get(f"/applications/{app_id}")
    assert (app["state"], app["state_label"]) == ("approved", "立项")
    assert app["project_number"] == f"GZKJ-{year}-JB-0001"
    assert (app["granted_wan"], app["disbursed_wan"]) == ("100.00", "0.00")
    notice_doc = rendered(researcher, app_id, "notice")
    assert notice_doc["title"] == "关于“高纯氧化镥连续萃取分离技术”项目立项的通知"
    assert notice_doc["doc_number"] == app["doc_number"]
    text = pdf_text(researcher, notice_doc)
    assert app["project_number"] in text and app["doc_number"] in text and "100.00" in text
    # The only project of the call has left notice: the call's 立项文件 is issued too.
    (approval_file,) = wait_for(
        lambda: officer.get(f"/calls/{call_id}/documents")["items"], timeout=120,
        interval=0.5, what="the worker to render the 立项文件")
    assert approval_file["kind"] == "approval_file"
    assert approval_file["doc_number"] not in (None, app["doc_number"])
    assert app["project_number"] in pdf_text(researcher, approval_file)
    assert approval_file["doc_number"] in text  # the 立项通知书 cites its 立项文件

    # ---- the task book: team, demand side, then the officer for the bureau -------------
    researcher.post(f"/applications/{app_id}/task-book/sign")
    error = officer.refused("POST", f"/applications/{app_id}/transitions", 422, "guard_failed",
                            json={"trigger": "sign_contract"})
    assert error["details"][0]["code"] == "contract_unsigned" and "发榜方" in error["message"]
    demand.post(f"/applications/{app_id}/task-book/sign")
    contracted = officer.fire("applications", app_id, "sign_contract")
    assert (contracted["state"], contracted["state_label"]) == ("contracted", "已签任务书")
    started_project = officer.fire("applications", app_id, "start")
    assert (started_project["state"], started_project["state_label"]) == ("in_progress", "执行中")
    task_book = rendered(demand, app_id, "task_book")
    text = pdf_text(demand, task_book)
    assert all(s in text for s in ("中试线建成", "张科长", "刘总工", "王研究员"))

    # ---- the payee's account (the team's organisation administrator) ------------------
    bank_account = f"/organizations/{orgs['team']}/bank-account"
    researcher.refused("PUT", bank_account, 403, "not_owner", json={
        "bank_name": "中国银行赣州分行", "bank_account": "6216610200016587010"})
    account = org_admin.call("PUT", bank_account, json={
        "bank_name": "中国银行赣州分行", "bank_account": "6216 6102 0001 6587 010"})
    assert account["bank_account"] == "6216610200016587010"
    assert officer.get(f"/organizations/{orgs['team']}")["bank_account_set"] is True

    # ---- the first milestone: the team reports, the demand side and the officer accept -
    milestones = researcher.get(f"/applications/{app_id}/milestones")["items"]
    assert [(m["label"], m["amount_wan"], m["state"]) for m in milestones] == [
        ("中试线建成", "60.00", "planned"), ("工业化验证", "40.00", "planned")]
    first = milestones[0]["id"]
    assert maker.get("/tranches?state=due")["items"] == []
    # The evidence first (the project is running), then the report naming it.
    evidence = researcher.call("POST", f"/applications/{app_id}/attachments", 201,
                               data={"field": "milestone_evidence",
                                     "file": (io.BytesIO(MINUTES), "中试检测报告.pdf")},
                               content_type="multipart/form-data")["sha256"]
    reported = researcher.post(f"/milestones/{first}/report", {
        "report": "中试线已建成并连续运行30天，氧化镥纯度达99.9995%，附检测报告。",
        "evidence": [evidence]})
    assert (reported["state"], reported["evidence"]) == ("reported", [evidence])
    # The demand side reads the evidence of what it is to accept.
    assert demand.get(f"/applications/{app_id}/attachments/{evidence}") == MINUTES
    researcher.refused("POST", f"/milestones/{first}/verdict", 403, "not_party",
                       json={"verdict": "pass", "opinion": "自评通过"})
    by_demand = demand.post(f"/milestones/{first}/verdict",
                            {"verdict": "pass", "opinion": "经现场核验，达到中试指标。"})
    assert (by_demand["state"], by_demand["demand_verdict"]) == ("demand_accepted", "pass")
    by_officer = officer.post(f"/milestones/{first}/verdict",
                              {"verdict": "pass", "opinion": "同意验收。"})
    assert (by_officer["state"], by_officer["state_label"]) == ("accepted", "验收通过")

    # ---- its tranche: due, prepared (maker), approved (checker), released --------------
    (due,) = maker.get("/tranches?state=due")["items"]
    assert (due["application_id"], due["label"], due["amount_wan"], due["state_label"]) == (
        app_id, "里程碑1：中试线建成", "60.00", "应付")
    assert due["amount_capital"] == "陆拾万元整"
    assert due["payee"] == {"organization": "赣南稀土工程大学", "bank_name": "中国银行赣州分行",
                            "bank_account": "6216610200016587010"}
    tranche_id = due["id"]
    assert maker.fire("tranches", tranche_id, "prepare")["state_label"] == "已制单"
    # Four eyes: the maker cannot approve their own voucher.
    error = maker.refused("POST", f"/tranches/{tranche_id}/transitions", 422, "guard_failed",
                          json={"trigger": "approve",
                                "data": {"decision_ref": "党组纪要〔2026〕9号"}})
    assert error["details"] == [{"code": "maker_is_checker",
                                 "message": "制单人不能审核自己制的单，请由另一位财务人员审核"}]
    # 60万元 reaches the 三重一大 threshold: the checker needs the meeting's reference.
    error = checker.refused("POST", f"/tranches/{tranche_id}/transitions", 422, "guard_failed",
                            json={"trigger": "approve"})
    assert [d["code"] for d in error["details"]] == ["collective_decision_missing"]
    assert checker.fire("tranches", tranche_id, "approve",
                        data={"decision_ref": "党组纪要〔2026〕9号"})["state_label"] == "已审核"
    # A field release does not declare is refused by name, and nothing is paid.
    error = checker.refused("POST", f"/tranches/{tranche_id}/transitions", 422, "unknown_field",
                            json={"trigger": "release",
                                  "data": {"payment_ref": "ZF-2026-0815", "amount": "60"}})
    assert error["details"] == {"amount": "不接受该字段"} and "amount" in error["message"]
    error = checker.refused("POST", f"/tranches/{tranche_id}/transitions", 422, "guard_failed",
                            json={"trigger": "release"})
    assert [d["code"] for d in error["details"]] == ["payment_ref_missing"]
    released = checker.fire("tranches", tranche_id, "release",
                            data={"payment_ref": "ZF-2026-0815"})
    assert (released["state"], released["state_label"]) == ("released", "已拨付")
    checker.refused("POST", f"/tranches/{tranche_id}/transitions", 409, "invalid_state",
                    json={"trigger": "release", "data": {"payment_ref": "ZF-2026-0816"}})
    trail = maker.get(f"/tranches/{tranche_id}/history")["history"]
    assert [(e["trigger"], e["to"], e["actor"]) for e in trail] == [
        ("make_due", "due", "系统"), ("prepare", "prepared", "财务制单员"),
        ("approve", "approved", "财务审核员"), ("release", "released", "财务审核员")]

    # ---- what finance, the officer and the team see afterwards ------------------------
    (paid,) = maker.get("/tranches?state=released")["items"]
    assert (paid["id"], paid["payment_ref"], paid["amount_wan"]) == (
        tranche_id, "ZF-2026-0815", "60.00")
    assert paid["project_number"] == app["project_number"]
    assert [t["id"] for t in researcher.get("/tranches?state=released")["items"]] == [tranche_id]
    assert researcher.get(f"/applications/{app_id}")["disbursed_wan"] == "60.00"
    assert outsider.get("/tranches?state=released")["items"] == []
    book = maker.get(f"/budgets/{call_id}/ledger")
    assert [(e["kind"], e["amount_wan"], e["available_after_wan"], e["committed_after_wan"],
             e["disbursed_after_wan"]) for e in book["entries"]] == [
        ("allocation", "500.00", "500.00", "0.00", "0.00"),
        ("commitment", "100.00", "400.00", "100.00", "0.00"),
        ("disbursement", "60.00", "400.00", "40.00", "60.00")]
    commitment, disbursement = book["entries"][1:]
    # Committed at approval, before any 文号: under the project's number.
    assert (commitment["application_id"], commitment["ref"]) == (app_id,
                                                                  app["project_number"])
    assert (disbursement["tranche_id"], disbursement["ref"]) == (tranche_id, "ZF-2026-0815")
    assert book["reconciliation"]["ok"] is True
    # The call is public: its ledger is refused, not hidden (workflow/permissions.py).
    outsider.refused("GET", f"/budgets/{call_id}/ledger", 403, "role_not_allowed")

    payment = rendered(researcher, app_id, "payment_notice")
    assert payment["title"] == "关于拨付“高纯氧化镥连续萃取分离技术”项目经费的通知"
    text = pdf_text(researcher, payment)
    assert "ZF-2026-0815" in text and "陆拾万元整" in text and "6216610200016587010" in text
    kinds = [d["kind"] for d in researcher.get(f"/applications/{app_id}/documents")["items"]]
    assert sorted(kinds) == ["application", "notice", "payment_notice", "task_book"]

    assert history(researcher, "applications", app_id) == [
        ("create", "draft", "applicant"),
        ("sign_pledge", "draft", "applicant"),
        ("submit", "submitted", "applicant"),
        ("forward", "formal_review", "system"),
        ("pass_formal_review", "expert_review", "officer"),
        ("finish_review", "reviewed", "system"),
        ("shortlist", "shortlisted", "leader"),
        ("open_notice", "public_notice", "officer"),
        ("approve", "approved", "system"),
        ("sign_task_book", "approved", "applicant"),
        ("sign_task_book", "approved", "demand"),
        ("sign_contract", "contracted", "officer"),
        ("start", "in_progress", "officer"),
    ]
    # The milestone and the funded list keep trails of their own, with their own states.
    assert history(researcher, "milestones", first) == [
        ("report", "reported", "applicant"),
        ("demand_accept", "demand_accepted", "demand"),
        ("officer_accept", "accepted", "officer"),
    ]
    assert history(officer, "decisions", decision["id"]) == [
        ("propose", "proposed", "officer"), ("record_meeting", "proposed", "officer"),
        ("approve", "approved", "leader")]
    assert [(t, s, r) for t, s, r in history(officer, "calls", call_id)] == [
        ("create", "draft", "officer"), ("add_challenge", "draft", "officer"),
        ("publish", "published", "officer"), ("close", "closed", "officer"),
        ("start_review", "reviewing", "officer"), ("assign_reviewers", "reviewing", "officer"),
        ("decide", "decided", "leader"), ("issue_approval_file", "decided", "system")]
    print(f"\nthe challenge went from call to paid tranche in {time.monotonic() - started:.1f} s")


def approve_when_the_notice_ends(ends_at: datetime) -> None:
    """The notice's end is the one time-driven step: rather than wait for it (the shortest
    notice the API allows, one calendar day, ends at midnight after tomorrow), the beat's
    job (``workflow.notify.scheduler``) runs with a ``now`` just before and just after it.
    It approves through the one path, as the system."""
    assert ends_at > utcnow()
    assert scheduler.approve_ended_notices(now=ends_at - timedelta(minutes=1)) == 0
    assert scheduler.approve_ended_notices(now=ends_at + timedelta(minutes=1)) == 1
