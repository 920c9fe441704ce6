"""Expert review: conflicts, assignment, the reviewer's queue, scores, ranking."""

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from states import ApplicationState, CallState, ReviewState
from tests.conftest import api_token, csrf_of, job_of, login, run_jobs
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    ExpertProfileFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.accounts.models import Sanction
from workflow.applying.models import Application
from workflow.core import engine
from workflow.core.models import AuditEvent, Job, JobState, db, utcnow
from workflow.review import conflicts, ranking
from workflow.review import operations as reviews
from workflow.review.models import ConflictRelation, ReviewAssignment, ReviewDraw

RUBRIC = [{"name": "innovation", "label": "创新性", "weight": 50, "max": 100},
          {"name": "feasibility", "label": "可行性", "weight": 50, "max": 100}]
COMMENT = "创新性较强，技术路线清晰，团队基础扎实，建议予以支持。"


@pytest.fixture
def panel(app):
    orgs = [OrganizationFactory(name=f"单位{i}") for i in range(4)]
    officer = UserFactory(username="officer", organization=None, roles=("officer",))
    experts = []
    for i in range(6):
        profile = ExpertProfileFactory(
            user__username=f"expert{i}", user__name=f"专家姓名{i}",
            user__organization=orgs[i % 4], disciplines=["TF"], keywords=["稀土", "永磁"],
            load_cap=3)
        experts.append(profile.user)
    call = CallFactory(state=CallState.closed, rubric=RUBRIC, reviewers_per_application=2,
                       budget=Decimal("1000000.00"))
    researchers = [UserFactory(username=f"pi{i}", organization=orgs[i], roles=("applicant",))
                   for i in range(3)]
    apps = [ApplicationFactory(call=call, applicant=r, state=ApplicationState.expert_review,
                               title=f"稀土永磁项目{i}",
                               data={"summary": "x", "amount": "400000.00",
                                     "keywords": ["稀土"], "discipline": "TF"})
            for i, r in enumerate(researchers)]
    db.session.commit()
    return {"officer": officer, "experts": experts, "call": call, "apps": apps,
            "orgs": orgs, "researchers": researchers}


def h(client, who):
    return {"Authorization": f"Bearer {api_token(client, who, PASSWORD)}"}


# ---- conflicts --------------------------------------------------------------------------

def test_conflicts_are_typed_and_explained(panel):
    expert, app_row = panel["experts"][0], panel["apps"][0]
    assert conflicts.reasons(expert, app_row) == ["同单位"]  # expert0 and pi0 share 单位0
    other = panel["experts"][1]
    assert conflicts.reasons(other, app_row) == []
    db.session.add_all([
        ConflictRelation(expert_id=other.id, kind="teacher_student",
                         other_user_id=app_row.applicant_id),
        ConflictRelation(expert_id=other.id, kind="joint_work",
                         other_user_id=app_row.applicant_id, year=utcnow().year - 1),
    ])
    db.session.commit()
    assert conflicts.reasons(other, app_row) == ["师生关系", "近三年合作（项目、论文、专利）"]


def test_old_joint_work_no_longer_conflicts(panel):
    expert, app_row = panel["experts"][1], panel["apps"][0]
    db.session.add(ConflictRelation(expert_id=expert.id, kind="joint_work",
                                    other_user_id=app_row.applicant_id,
                                    year=utcnow().year - 5))
    db.session.commit()
    assert conflicts.reasons(expert, app_row) == []


def test_sanctioned_expert_and_applicant_to_the_same_call(panel):
    expert, app_row = panel["experts"][1], panel["apps"][0]
    expert.id_number = "362101198001010019"
    db.session.add(Sanction(subject="person", name=expert.name, id_number=expert.id_number,
                            reason="评审失信", starts_on=date(2025, 1, 1),
                            ends_on=date(2030, 1, 1)))
    ApplicationFactory(call=panel["call"], applicant=expert, state=ApplicationState.rejected)
    db.session.commit()
    assert conflicts.reasons(expert, app_row) == ["申报同一批次", "科研失信处理期内"]


# ---- assignment -------------------------------------------------------------------------

def test_optimal_assignment_through_the_api(client, panel):
    resp = client.post(f"/api/v1/calls/{panel['call'].id}/assign", headers=h(client, "officer"),
                       json={"mode": "optimal", "per_application": 2})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert len(body["assignments"]) == 6 and body["result"]["unfilled"] == {}
    for review in db.session.scalars(sa.select(ReviewAssignment)):
        assert review.expert.organization_id != review.application.organization_id
    loads = {}
    for review in db.session.scalars(sa.select(ReviewAssignment)):
        loads[review.expert_id] = loads.get(review.expert_id, 0) + 1
    assert max(loads.values()) <= 3
    trail = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.trigger == "assign_reviewers")).one()
    assert trail.data["mode"] == "optimal" and trail.data["pairs"] == 6


def test_random_draw_records_its_seed_and_reserves(client, panel):
    resp = client.post(f"/api/v1/calls/{panel['call'].id}/assign", headers=h(client, "officer"),
                       json={"mode": "random", "per_application": 1, "seed": 20261128})
    assert resp.status_code == 200, resp.get_json()
    draw = db.session.scalars(sa.select(ReviewDraw)).one()
    assert draw.seed == 20261128 and draw.mode == "random"
    assert all(len(v) >= 1 for v in draw.reserves.values())


def test_bad_assignment_requests(client, panel):
    url = f"/api/v1/calls/{panel['call'].id}/assign"
    bad = client.post(url, headers=h(client, "officer"),
                      json={"mode": "lottery", "per_application": 0, "seed": -1})
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["details"]) == {"mode", "per_application", "seed"}
    assert client.post(url, headers=h(client, "pi0"), json={"mode": "optimal"}).status_code == 403


def test_manual_add_applies_the_same_conflict_checks(panel):
    app_row = panel["apps"][0]
    with pytest.raises(reviews.GuardFailed, match="同单位"):
        reviews.add_reviewer(panel["officer"], app_row, panel["experts"][0].id)
    review = reviews.add_reviewer(panel["officer"], app_row, panel["experts"][1].id)
    db.session.commit()
    assert review.state is ReviewState.invited


# ---- the reviewer's side ----------------------------------------------------------------

def _assigned(panel, expert_index=1, app_index=0):
    review = reviews.add_reviewer(panel["officer"], panel["apps"][app_index],
                                  panel["experts"][expert_index].id)
    db.session.commit()
    return review


def test_queue_accept_score_draft_and_submit(client, panel):
    review = _assigned(panel)
    auth = h(client, "expert1")
    queue = client.get("/api/v1/reviews", headers=auth).get_json()
    assert queue["counts"] == {"waiting": 1, "in_progress": 0, "done": 0}
    assert "expert" not in queue["items"][0]
    url = f"/api/v1/reviews/{review.id}/scores"
    early = client.put(url, headers=auth, json={"scores": {"innovation": 80}})
    assert early.status_code == 409 and "请先接受邀请" in early.get_json()["error"]["message"]
    assert client.post(f"/api/v1/reviews/{review.id}/transitions", headers=auth,
                       json={"trigger": "accept"}).status_code == 200
    bad = client.put(url, headers=auth, json={"scores": {"innovation": 120, "feasibility": "x"}})
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["details"]) == {"innovation", "feasibility"}
    draft = client.put(url, headers=auth, json={"scores": {"innovation": 80}, "comment": "初稿"})
    assert draft.status_code == 200 and draft.get_json()["state"] == "accepted"
    short = client.put(url, headers=auth, json={"scores": {"feasibility": 90}, "submit": True})
    assert short.status_code == 422  # comment too short
    done = client.put(url, headers=auth, json={"scores": {"feasibility": 90},
                                               "comment": COMMENT, "submit": True})
    assert done.status_code == 200 and done.get_json()["total"] == "85.00"
    assert client.put(url, headers=auth, json={"scores": {"innovation": 10}}).status_code == 409


def test_other_experts_and_applicants_see_nothing_of_a_review(client, panel):
    review = _assigned(panel)
    assert client.put(f"/api/v1/reviews/{review.id}/scores", headers=h(client, "expert2"),
                      json={"scores": {}}).status_code == 404
    assert client.get(f"/api/v1/reviews/{review.id}/history",
                      headers=h(client, "pi0")).status_code == 404
    app_json = client.get(f"/api/v1/applications/{panel['apps'][0].id}",
                          headers=h(client, "pi0")).get_data(as_text=True)
    assert "专家姓名" not in app_json


def test_declining_with_a_conflict_records_it_and_invites_a_reserve(client, panel):
    client.post(f"/api/v1/calls/{panel['call'].id}/assign", headers=h(client, "officer"),
                json={"mode": "random", "per_application": 1, "seed": 7})
    review = db.session.scalars(sa.select(ReviewAssignment).order_by(ReviewAssignment.id)).first()
    expert = review.expert
    replacement = reviews.decline(expert, review, "与申请人近三年合作发表论文", "joint_work")
    db.session.commit()
    assert review.state is ReviewState.declined
    assert db.session.scalars(sa.select(ConflictRelation)).one().kind == "joint_work"
    assert replacement is not None and replacement.expert_id != expert.id
    assert replacement.application_id == review.application_id


def test_expired_invitations_go_to_a_reserve(client, panel):
    client.post(f"/api/v1/calls/{panel['call'].id}/assign", headers=h(client, "officer"),
                json={"mode": "random", "per_application": 1, "seed": 11})
    before = db.session.scalar(sa.select(sa.func.count()).select_from(ReviewAssignment))
    assert reviews.expire_overdue(now=utcnow() + timedelta(days=4)) == before
    states = [r.state for r in db.session.scalars(sa.select(ReviewAssignment))]
    assert states.count(ReviewState.expired) == before
    assert states.count(ReviewState.invited) >= 1  # reserves invited in their place


def test_all_reviews_in_moves_the_application_on_and_ranking_follows(client, panel):
    officer = h(client, "officer")
    client.post(f"/api/v1/calls/{panel['call'].id}/assign", headers=officer,
                json={"mode": "optimal", "per_application": 2})
    scores = {}
    for i, review in enumerate(db.session.scalars(sa.select(ReviewAssignment))):
        value = 60 + 10 * (review.application_id % 3) + i % 2
        engine.fire(review, "accept", review.expert)
        reviews.save_scores(review.expert, review, {"innovation": value, "feasibility": value},
                            COMMENT, submit=True)
        scores.setdefault(review.application_id, []).append(value)
    db.session.commit()
    states = {a.id: db.session.get(Application, a.id).state for a in panel["apps"]}
    assert set(states.values()) == {ApplicationState.reviewed}
    # Each submission kept its application's sums: the rule's score, to the cent.
    for app in panel["apps"]:
        row = db.session.get(Application, app.id)
        assert row.review_count == len(scores[app.id]) == 2
        assert ranking.from_cents(row.review_cents, row.review_kept) == ranking.aggregate(
            scores[app.id], panel["call"].aggregation)
    body = client.get(f"/api/v1/calls/{panel['call'].id}/ranking", headers=officer).get_json()
    ranked = [i["application_id"] for i in body["items"]]
    expected = sorted(scores, key=lambda k: -sum(scores[k]) / len(scores[k]))
    assert ranked == expected
    assert [i["funded"] for i in body["items"]] == [True, True, False]  # 40万 each, 100万
    what_if = client.get(f"/api/v1/calls/{panel['call'].id}/ranking?budget=40",
                         headers=officer).get_json()
    assert [i["funded"] for i in what_if["items"]] == [True, False, False]
    assert client.get(f"/api/v1/calls/{panel['call'].id}/ranking?budget=abc",
                      headers=officer).status_code == 422
    assert client.get(f"/api/v1/calls/{panel['call'].id}/ranking",
                      headers=h(client, "pi0")).status_code == 403


def test_score_sheet_export_never_names_an_expert(client, panel):
    officer_auth = h(client, "officer")
    client.post(f"/api/v1/calls/{panel['call'].id}/assign", headers=officer_auth,
                json={"mode": "optimal", "per_application": 2})
    for review in db.session.scalars(sa.select(ReviewAssignment)):
        engine.fire(review, "accept", review.expert)
        reviews.save_scores(review.expert, review, {"innovation": 70, "feasibility": 80},
                            COMMENT, submit=True)
    db.session.commit()
    login(client, "officer", PASSWORD)
    resp = client.get(f"/calls/{panel['call'].id}/ranking.xlsx")
    assert resp.status_code == 200
    book = load_workbook(io.BytesIO(resp.data))
    text = " ".join(str(c.value) for ws in book for row in ws.iter_rows() for c in row)
    assert "专家1" in text and "专家姓名" not in text
    page = client.get(f"/calls/{panel['call'].id}/ranking").get_data(as_text=True)
    assert "稀土永磁项目0" in page and "专家姓名" not in page


def test_score_sheet_gives_each_experts_score_per_criterion(client, panel):
    client.post(f"/api/v1/calls/{panel['call'].id}/assign", headers=h(client, "officer"),
                json={"mode": "optimal", "per_application": 2})
    given = {}
    for i, review in enumerate(db.session.scalars(sa.select(ReviewAssignment).order_by(
            ReviewAssignment.id))):
        engine.fire(review, "accept", review.expert)
        innovation, feasibility = 60 + i, 90 - i
        reviews.save_scores(review.expert, review, {"innovation": innovation,
                                                    "feasibility": feasibility},
                            COMMENT, submit=True)
        given.setdefault(review.application.receipt_no or str(review.application_id),
                         []).append((innovation, feasibility, review.total))
    db.session.commit()
    login(client, "officer", PASSWORD)
    book = load_workbook(io.BytesIO(client.get(f"/calls/{panel['call'].id}/ranking.xlsx").data))
    header, *rows = list(book["评分明细"].iter_rows(values_only=True))
    assert header[3:] == ("创新性（权重50，满分100）", "可行性（权重50，满分100）", "合计")
    found: dict[str, list[tuple[object, ...]]] = {}
    for number, _title, _expert, innovation, feasibility, total in rows:
        found.setdefault(number, []).append((innovation, feasibility, total))
    assert found == {k: [(a, b, float(t)) for a, b, t in v] for k, v in given.items()}
    assert all(None not in row for row in rows)


def test_expert_pages_queue_and_score(client, panel):
    review = _assigned(panel)
    login(client, "expert1", PASSWORD)
    page = client.get("/reviews").get_data(as_text=True)
    assert "待处理 <strong>1</strong>" in page and "稀土永磁项目0" in page
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post(f"/reviews/{review.id}/respond", data={"csrf_token": token, "answer": "accept"})
    bad = client.post(f"/reviews/{review.id}/score", data={
        "csrf_token": token, "s_innovation": "101", "s_feasibility": "80", "comment": COMMENT,
        "action": "save"})
    assert bad.status_code == 422 and "应在0至100分之间" in bad.get_data(as_text=True)
    ok = client.post(f"/reviews/{review.id}/score", data={
        "csrf_token": token, "s_innovation": "90", "s_feasibility": "80", "comment": COMMENT,
        "action": "submit"})
    assert ok.status_code == 302
    assert "85.00" in client.get(f"/reviews/{review.id}/score").get_data(as_text=True)


def test_the_system_explains_each_pairing(client, panel):
    app_row, same_org, other = panel["apps"][0], panel["experts"][0], panel["experts"][1]
    officer = h(client, "officer")
    body = client.get(f"/api/v1/applications/{app_row.id}/experts/{same_org.id}/explain",
                      headers=officer).get_json()
    assert body["may_pair"] is False and "同单位" in body["summary"]
    body = client.get(f"/api/v1/applications/{app_row.id}/experts/{other.id}/explain",
                      headers=officer).get_json()
    assert body["may_pair"] is True and "稀土" in body["summary"]
    assert client.get(f"/api/v1/applications/{app_row.id}/experts/{other.id}/explain",
                      headers=h(client, "pi0")).status_code == 403


# ---- the assignment as a job (the officer's page) ----------------------------------------

def test_the_assignment_page_starts_a_job_and_its_box_shows_the_result(client, panel):
    call = panel["call"]
    login(client, "officer", PASSWORD)
    token = csrf_of(client.get(f"/calls/{call.id}/assign").get_data(as_text=True))
    bad = client.post(f"/calls/{call.id}/assign", data={
        "csrf_token": token, "mode": "optimal", "per_application": "99"})
    assert "job=" not in bad.headers["Location"]  # refused at once, nothing started
    assert "每项评审专家数应为1至15的整数" in client.get(bad.headers["Location"]).get_data(
        as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0
    resp = client.post(f"/calls/{call.id}/assign", data={
        "csrf_token": token, "mode": "optimal", "per_application": "2"})
    job_id = job_of(resp.headers["Location"])
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert f'hx-get="/jobs/{job_id}"' in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReviewAssignment)) == 0
    assert run_jobs() == [job_id]
    job = db.session.get(Job, job_id)
    assert (job.state, job.done, job.total) == (JobState.done, 3, 3)
    box = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "已分配 6 项评审任务" in box and "已处理 3 / 3" in box
    assert f'href="/calls/{call.id}/assign"' in box
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReviewAssignment)) == 6


def test_an_assignment_refused_in_the_worker_fails_its_job_in_chinese(client, panel):
    call = panel["call"]
    login(client, "officer", PASSWORD)
    token = csrf_of(client.get(f"/calls/{call.id}/assign").get_data(as_text=True))
    resp = client.post(f"/calls/{call.id}/assign", data={
        "csrf_token": token, "mode": "random", "per_application": "2", "seed": "7"})
    for app_row in panel["apps"]:  # between the click and the worker, all leave review
        app_row.state = ApplicationState.reviewed
    db.session.commit()
    run_jobs()
    box = client.get(f"/jobs/{job_of(resp.headers['Location'])}").get_data(as_text=True)
    assert 'data-job-state="failed"' in box and "本批次没有待专家评审的申报书" in box
