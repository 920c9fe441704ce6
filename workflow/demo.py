"""Demo data for the embedded default (``flask --app workflow seed --demo``).

Three calls: a 包干制 call open for applications, a 揭榜挂帅 call with two challenges, and
a 包干制 call whose deadline has passed and whose four applications the demo experts have
scored, ready for the 立项决策 (the list above the funding line reaches the 三重一大
threshold, so the leader needs the meeting recorded first). Besides: calls further along
(funded, under way) and last year's archived guide, to copy for this year.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from stdnum.cn import uscc

from forms.commitments import commitment_fingerprint
from states import ApplicationState, CallState
from workflow.accounts import operations as accounts
from workflow.accounts.models import ExpertProfile, Organization, User
from workflow.annual import operations as annual
from workflow.annual.models import AnnualReport
from workflow.applying import operations as applications
from workflow.applying.facts import facts_json
from workflow.applying.models import (
    Application,
    ApplicationRound,
    SignedDocument,
    SigningParty,
)
from workflow.calls import operations as calls
from workflow.calls.models import Call, Challenge, Scheme
from workflow.core import audit, engine
from workflow.core.models import db, utcnow
from workflow.evaluation.models import Evaluation
from workflow.finance import operations as finance
from workflow.holidays import operations as holidays
from workflow.review import operations as reviews
from workflow.review.models import ReviewAssignment
from workflow.timeutil import SHANGHAI, shanghai

# Printed by `make run`; only ever used for the embedded demo database.
DEMO_PASSWORD = "kjflow-Demo-2026"  # noqa: S105


def _uscc(base17: str) -> str:
    return base17 + uscc.calc_check_digit(base17)


ORGS = [
    ("赣南科技大学", _uscc("12360700491234567"), "university"),
    ("赣州稀土新材料有限公司", _uscc("91360700MA35A0001"), "enterprise"),
    ("赣州市农业科学研究院", _uscc("12360700491234589"), "institute"),
    ("赣州市科学技术局", _uscc("11360700014000001"), "government"),
    # Two recommending bodies (主管部门): the district's bureau over the university and
    # the company in it, the city's agriculture bureau over its academy.
    ("赣州市章贡区科学技术局", _uscc("11360702014000002"), "government"),
    ("赣州市农业农村局", _uscc("11360700014000003"), "government"),
]
UNIV, ENTERPRISE, INSTITUTE, BUREAU, DISTRICT, AGRICULTURE = (o[1] for o in ORGS)
# Each organisation's recommending body.
PARENTS = {UNIV: DISTRICT, ENTERPRISE: DISTRICT, INSTITUTE: AGRICULTURE}

# username, name, roles, organisation, what the login is for
USERS: list[tuple[str, str, list[str], str | None, str]] = [
    ("officer", "张科长", ["officer"], BUREAU, "项目主管：发布指南、形式审查"),
    ("researcher1", "李明", ["applicant"], UNIV, "申报人（赣南科技大学）"),
    ("researcher2", "王芳", ["applicant"], INSTITUTE, "申报人（市农科院）"),
    ("researcher3", "郭伟", ["applicant"], ENTERPRISE, "申报人（稀土新材料公司）"),
    ("researcher4", "邓丽", ["applicant"], INSTITUTE, "申报人（市农科院）"),
    ("researcher5", "刘洋", ["applicant"], UNIV, "申报人（赣南科技大学）：年度报告"),
    ("unitadmin", "赵主任", ["org_admin"], UNIV, "单位管理员（赣南科技大学）"),
    ("unitadmin2", "孔主任", ["org_admin"], INSTITUTE, "单位管理员（市农科院）"),
    ("recommender", "钱处长", ["recommender"], AGRICULTURE, "主管部门推荐（市农业农村局）"),
    ("recommender2", "韩股长", ["recommender"], DISTRICT, "主管部门推荐（章贡区科技局）"),
    ("leader", "孙局长", ["leader"], BUREAU, "分管领导：决策"),
    ("finance1", "周会计", ["finance"], BUREAU, "财务：制单"),
    ("finance2", "吴出纳", ["finance"], BUREAU, "财务：审核与拨付"),
    ("demand", "郑总工", ["demand"], ENTERPRISE, "发榜方（稀土新材料公司）"),
    ("auditor", "冯审计", ["auditor"], BUREAU, "审计：只读全部记录"),
    ("admin", "陈管理员", ["admin"], BUREAU, "系统管理员"),
]
EXPERTS: list[tuple[str, str, str, list[str], list[str]]] = [
    ("expert1", "刘教授", UNIV, ["TF"], ["稀土", "永磁材料", "冶金"]),
    ("expert2", "陈研究员", INSTITUTE, ["S1"], ["脐橙", "病虫害", "育种"]),
    ("expert3", "杨高工", ENTERPRISE, ["TF", "TG"], ["稀土分离", "萃取", "环保"]),
    ("expert4", "黄教授", UNIV, ["TP"], ["人工智能", "图像识别", "软件"]),
    ("expert5", "林研究员", INSTITUTE, ["S6", "S1"], ["林业", "生态", "油茶"]),
    ("expert6", "何高工", BUREAU, ["TM"], ["电机", "新能源汽车", "永磁"]),
]

BAOGAN_FORM: list[dict[str, Any]] = [
    {"name": "summary", "label": "项目摘要", "type": "longtext", "required": True, "max": 2000},
    {"name": "amount", "label": "申请经费（万元）", "type": "money", "required": True,
     "max": 100},
    {"name": "team", "label": "项目团队", "type": "persons", "max_rows": 10},
    {"name": "proposal", "label": "申报书正文", "type": "file"},
]
CHECKLIST = ["申报单位具有独立法人资格", "项目负责人符合限项要求", "附件齐全、签章完整",
             "申请经费未超过指南上限"]
RUBRIC: list[dict[str, Any]] = [
    {"name": "innovation", "label": "创新性", "weight": 30, "max": 100},
    {"name": "feasibility", "label": "可行性", "weight": 30, "max": 100},
    {"name": "team", "label": "团队基础", "weight": 20, "max": 100},
    {"name": "benefit", "label": "预期效益", "weight": 20, "max": 100},
]
BAOGAN_TRANCHES = [{"label": "合同签订后拨付", "percent": 70, "condition": "contract"},
                   {"label": "验收通过后拨付", "percent": 30, "condition": "acceptance"}]

# The call under review: its title (after the year), budget and 三重一大 threshold in
# yuan. The four requests below add up to the budget; the three best fill it exactly
# (150 万元), which reaches the threshold, so approving them needs the meeting.
REVIEWING_TITLE = "市重点研发计划项目（包干制·集中评审）"
REVIEWING_BUDGET = Decimal("1500000.00")
REVIEWING_THRESHOLD = Decimal("1000000.00")
# title, principal investigator, 申请经费（万元）, summary, and per expert (in the order
# they were assigned): 创新性, 可行性, 团队基础, 预期效益 and the comment. Best first.
REVIEWED: list[tuple[str, str, str, str, list[tuple[tuple[int, int, int, int], str]]]] = [
    ("离子型稀土绿色高效萃取分离新工艺研究", "researcher1", "60",
     "针对离子型稀土萃取分离流程长、氨氮排放高的问题，研究无氨皂化萃取体系与连续逆流工艺，"
     "建成百吨级示范线，分离能耗降低20%以上。",
     [((92, 88, 90, 85), "选题紧扣我市稀土产业需求，无氨皂化路线创新性突出，示范线方案可行。"),
      ((88, 90, 85, 88), "研究基础扎实，技术指标明确可考核，建议补充萃取剂损耗的经济性分析。"),
      ((90, 86, 88, 90), "团队长期从事稀土分离研究，前期成果丰富，预期环境效益和经济效益显著。")]),
    ("赣南脐橙黄龙病绿色防控关键技术集成与示范", "researcher2", "50",
     "集成木虱精准监测、健康种苗繁育和生物防治技术，在三个主产县建立绿色防控示范园，"
     "形成可推广的黄龙病综合防控技术规程。",
     [((85, 84, 86, 80), "黄龙病防控是脐橙产业的关键问题，技术集成路线合理，示范点布局恰当。"),
      ((82, 86, 80, 84), "方案可操作性强，建议明确示范园面积与防控效果的量化考核指标和方法。"),
      ((86, 82, 84, 85), "团队在柑橘病虫害领域积累较多，集成示范对产业有较好的带动作用。")]),
    ("高丰度稀土永磁材料晶界调控技术开发", "researcher3", "40",
     "以镧铈等高丰度稀土部分替代镨钕，研究晶界扩散与晶界相调控方法，开发低成本高性能"
     "烧结钕铁硼磁体并实现小批量试制。",
     [((80, 78, 82, 80), "高丰度稀土平衡利用有现实意义，技术路线可行，但创新点需进一步凝练。"),
      ((78, 80, 76, 82), "企业有中试条件，产业化前景较好，建议加强与高校在机理研究上的合作。"),
      ((82, 76, 80, 78), "指标设置基本合理，磁性能目标偏保守，建议对标国内先进水平再作调整。")]),
    ("油茶良种高效栽培与低产林改造技术研究", "researcher4", "45",
     "筛选适宜赣南丘陵山地的油茶良种，研究水肥一体化与低产林嫁接改造技术，建立示范基地，"
     "提高单位面积产量和茶油品质。",
     [((76, 74, 78, 72), "油茶是我市特色产业，选题有意义，但与已有项目内容重复较多，创新性一般。"),
      ((72, 78, 74, 76), "技术路线成熟可行，建议突出低产林改造的关键技术难点和本项目的新意。"),
      ((78, 72, 70, 75), "示范基地条件较好，团队人员偏少，建议充实栽培与加工方面的研究力量。")]),
]


def seed() -> bool:
    """Write whatever part of the demo data is missing; returns False when all of it is
    already there (a database seeded before the call under review gets just that)."""
    fresh = db.session.scalar(sa.select(User.id).where(User.username == "officer")) is None
    # The holiday calendar of the years the pinned chinese-calendar knows (a database
    # built by the migrations has it already; one made by create_all does not).
    calendar = bool(holidays.seed_from_package())
    orgs = _organizations()
    users, added = _users(orgs)
    if fresh:
        _open_calls(users["officer"], orgs)
    reviewing = _reviewing_call() is None
    if reviewing:
        _seed_reviewing_call(users)
    funded = _funded_call() is None
    if funded:
        _seed_funded_call(users)
    waiting = _waiting_work_seeded() is False
    if waiting:
        _seed_waiting_work(users)
    last_year = _last_year_call() is None
    if last_year:
        _seed_last_year_call(users)
    after = _after_award_call() is None
    if after:
        _seed_after_award(users)
    reports = not _annual_reports_seeded()
    if reports:
        _seed_annual_reports(users)
    changed = _seed_changes(users)
    evaluated = _seed_evaluations(users)
    accepted = _seed_acceptances(users)
    checked = _seed_midterms(users)
    db.session.commit()
    return (fresh or added or reviewing or funded or waiting or last_year or calendar
            or after or reports or changed or evaluated or accepted or checked)


def _organizations() -> dict[str, Organization]:
    orgs = {o.uscc: o for o in db.session.scalars(sa.select(Organization).where(
        Organization.uscc.in_([code for _, code, _ in ORGS])))}
    for i, (name, code, kind) in enumerate(ORGS):
        if code not in orgs:
            orgs[code] = accounts.create_organization(name, code, kind)
        if kind != "government" and not orgs[code].bank_account:
            orgs[code].bank_name = "中国银行赣州分行"
            orgs[code].bank_account = f"621700{i + 1:02d}0104003456"
    for code, parent in PARENTS.items():
        if orgs[code].parent_id is None:
            accounts.place_organization(orgs[code], orgs[parent].id)
    return orgs


def _users(orgs: dict[str, Organization]) -> tuple[dict[str, User], bool]:
    """Every demo login, created if missing; and whether any was."""
    wanted = [u[0] for u in USERS] + [e[0] for e in EXPERTS]
    users = {u.username: u for u in db.session.scalars(sa.select(User).where(
        User.username.in_(wanted)))}
    added = False
    for username, name, roles, org, _ in USERS:
        if username in users and "recommender" in roles and org \
                and users[username].organization_id != orgs[org].id:
            # Seeded before recommenders had a recommending body (it was the bureau).
            users[username].organization = orgs[org]
        if username not in users:
            users[username] = accounts.create_user(
                username, DEMO_PASSWORD, roles, name=name, email=f"{username}@example.cn",
                organization=orgs[org] if org else None)
            added = True
    for username, name, org, disciplines, keywords in EXPERTS:
        if username not in users:
            expert = accounts.create_user(username, DEMO_PASSWORD, ["expert"], name=name,
                                          email=f"{username}@example.cn",
                                          organization=orgs[org])
            db.session.add(ExpertProfile(user=expert, title="正高级", disciplines=disciplines,
                                         keywords=keywords, load_cap=10))
            users[username] = expert
            added = True
    return users, added


def _open_calls(officer: User, orgs: dict[str, Organization]) -> None:
    now = utcnow()
    year = now.year
    baogan = Call(
        scheme=Scheme.baogan, year=year, title=f"{year}年度市科技计划项目（包干制试点）",
        guide="面向全市高校、科研院所和企业，支持基础研究和应用基础研究，经费实行包干制。",
        state=CallState.published, opens_at=now - timedelta(days=7),
        closes_at=now + timedelta(days=30), budget=Decimal("5000000.00"),
        form_schema=BAOGAN_FORM, rubric=RUBRIC, reviewers_per_application=3,
        checklist=CHECKLIST, tranche_plan=BAOGAN_TRANCHES,
        collective_threshold=Decimal("1000000.00"), created_by_id=officer.id,
    )
    jiebang = Call(
        scheme=Scheme.jiebang, year=year, title=f"{year}年度揭榜挂帅项目榜单（第一批）",
        guide="聚焦稀土新材料和现代农业关键核心技术，张榜招贤，能者揭榜。",
        state=CallState.published, opens_at=now - timedelta(days=3),
        closes_at=now + timedelta(days=45), budget=Decimal("8000000.00"),
        form_schema=[BAOGAN_FORM[0], BAOGAN_FORM[2], BAOGAN_FORM[3]], rubric=RUBRIC,
        reviewers_per_application=5, checklist=CHECKLIST,
        tranche_plan=[{"label": "按里程碑拨付", "condition": "milestone"}],
        steps=["defence"], collective_threshold=Decimal("1000000.00"), created_by_id=officer.id,
    )
    jiebang.challenges = [
        Challenge(title="高性能低重稀土永磁材料制备技术", demand_org=orgs[ENTERPRISE],
                  description="在不降低磁性能的前提下将重稀土用量降低50%。",
                  indicators=[{"name": "最大磁能积", "target": "≥ 50 MGOe"},
                              {"name": "重稀土用量降低", "target": "≥ 50%"}],
                  ceiling=Decimal("3000000.00"), duration_months=24, max_teams=2,
                  milestone_template=[{"label": "中试样品", "percent": 40},
                                      {"label": "小批量生产", "percent": 60}]),
        Challenge(title="离子型稀土矿区生态修复关键技术", demand_org=orgs[ENTERPRISE],
                  description="矿区植被覆盖率三年内恢复到70%以上。",
                  indicators=[{"name": "植被覆盖率", "target": "≥ 70%"},
                              {"name": "氨氮浓度", "target": "≤ 15 mg/L"}],
                  ceiling=Decimal("2000000.00"), duration_months=36, max_teams=1,
                  milestone_template=[{"label": "示范区建设", "percent": 50},
                                      {"label": "效果验收", "percent": 50}]),
    ]
    db.session.add_all([baogan, jiebang])
    db.session.flush()
    for call in (baogan, jiebang):
        fields, call.form_schema = call.form_schema, []
        calls.set_form(call, fields)
    for call in (baogan, jiebang):
        audit.record(call, "call", "seed", officer, "officer", None, call.state.value,
                     comment="演示数据")


def _reviewing_call() -> Call | None:
    return db.session.scalar(sa.select(Call).where(Call.title.endswith(REVIEWING_TITLE)))


def _seed_reviewing_call(users: dict[str, User]) -> Call:
    """The call under review. What happened before the deadline (the call, each
    submission and its formal review) is written as it stands, each row with a ``seed``
    entry in its audit trail; the expert review then runs through the services: the
    officer's optimal matching, each expert accepting and submitting the scores, the
    system finishing each application's review."""
    officer = users["officer"]
    now = utcnow()
    today = now.astimezone(SHANGHAI).date()
    closed = today - timedelta(days=20)
    closes_at = shanghai(closed.year, closed.month, closed.day, 17)
    call = Call(
        scheme=Scheme.baogan, year=closed.year, title=f"{closed.year}年度{REVIEWING_TITLE}",
        guide="围绕稀土新材料、现代农业等重点产业的关键技术开展攻关，经费实行包干制。"
              "申报已于截止日结束，现进入专家评审和立项决策。",
        state=CallState.reviewing, opens_at=closes_at - timedelta(days=30),
        closes_at=closes_at, budget=REVIEWING_BUDGET, form_schema=[], rubric=RUBRIC,
        reviewers_per_application=3, checklist=CHECKLIST, tranche_plan=BAOGAN_TRANCHES,
        collective_threshold=REVIEWING_THRESHOLD, created_by_id=officer.id,
    )
    db.session.add(call)
    db.session.flush()
    calls.set_form(call, BAOGAN_FORM)
    audit.record(call, "call", "seed", officer, "officer", None, call.state.value,
                 comment="演示数据：已截止受理，进入评审")

    apps: list[Application] = []
    for i, (title, username, wan, summary, _scores) in enumerate(REVIEWED):
        pi = users[username]
        submitted_at = closes_at - timedelta(days=len(REVIEWED) - i, hours=3 + i)
        data: dict[str, Any] = {
            "summary": summary, "amount": str((Decimal(wan) * 10000).quantize(Decimal("0.01"))),
        }
        app = Application(call_id=call.id, applicant_id=pi.id,
                          organization_id=pi.organization_id, title=title,
                          state=ApplicationState.expert_review, data=data,
                          form_version=call.form_version, round=1, submitted_at=submitted_at)
        app.sign(SignedDocument.commitment, SigningParty.team, pi.id, pi.name,
                 submitted_at, commitment_fingerprint())
        db.session.add(app)
        db.session.flush()
        app.receipt_no = f"SB{call.year}{call.scheme.code}{app.id:06d}"
        db.session.add(ApplicationRound(
            application_id=app.id, round=1, title=title,
            data={**data, **facts_json(app, ("commitment",))},
            submitted_at=submitted_at, checklist={item: True for item in CHECKLIST},
            outcome="pass", outcome_comment=""))
        audit.record(app, "application", "seed", None, "system", None, app.state.value,
                     comment="演示数据：按期提交，形式审查通过")
        apps.append(app)

    reviews.assign(officer, call, "optimal")
    for app, (*_, scores) in zip(apps, REVIEWED, strict=True):
        assigned = list(db.session.scalars(sa.select(ReviewAssignment).where(
            ReviewAssignment.application_id == app.id).order_by(ReviewAssignment.id)))
        if len(assigned) != len(scores):
            raise RuntimeError(f"演示数据：“{app.title}”分配到 {len(assigned)} 位专家，"
                               f"应为 {len(scores)} 位")
        for review, (values, comment) in zip(assigned, scores, strict=True):
            expert = review.expert
            engine.fire(review, "accept", expert)
            reviews.save_scores(expert, review, {c["name"]: str(v) for c, v in zip(
                RUBRIC, values, strict=True)}, comment, submit=True)
        if app.state is not ApplicationState.reviewed:
            raise RuntimeError(f"演示数据：“{app.title}”评审未完成（{app.state.label}）")
    return call


FUNDED_TITLE = "市科技计划项目（包干制·已立项）"


def _funded_call() -> Call | None:
    return db.session.scalar(sa.select(Call).where(Call.title.endswith(FUNDED_TITLE)))


def _seed_funded_call(users: dict[str, User]) -> Call:
    """A call decided earlier, with one project whose notice ended: approved by the
    system (numbers, the grant committed in the ledger, the 立项通知书 queued for the
    worker), its task book signed, so the first tranche is due in the finance queue."""
    officer, pi = users["officer"], users["researcher1"]
    now = utcnow()
    call = Call(
        scheme=Scheme.baogan, year=now.astimezone(SHANGHAI).year,
        title=f"{now.astimezone(SHANGHAI).year}年度{FUNDED_TITLE}",
        guide="已完成评审、决策和公示的演示批次：立项、签订任务书、经费拨付。",
        state=CallState.decided, opens_at=now - timedelta(days=90),
        closes_at=now - timedelta(days=60), budget=Decimal("3000000.00"), form_schema=[],
        rubric=RUBRIC, reviewers_per_application=3, checklist=CHECKLIST,
        tranche_plan=BAOGAN_TRANCHES, created_by_id=officer.id)
    db.session.add(call)
    db.session.flush()
    audit.record(call, "call", "seed", officer, "officer", None, call.state.value,
                 comment="演示数据：已审定立项名单并公示")
    title = "稀土永磁电机高效驱动控制技术研究"
    app = Application(call_id=call.id, applicant_id=pi.id, organization_id=pi.organization_id,
                      title=title, state=ApplicationState.public_notice,
                      data={"summary": "面向新能源汽车的稀土永磁电机驱动控制。",
                            "amount": "800000.00"},
                      round=1, submitted_at=now - timedelta(days=61),
                      granted_amount=Decimal("800000.00"),
                      notice_started_at=now - timedelta(days=8),
                      notice_ends_at=now - timedelta(days=1))
    db.session.add(app)
    db.session.flush()
    app.receipt_no = f"SB{call.year}{call.scheme.code}{app.id:06d}"
    audit.record(app, "application", "seed", None, "system", None, app.state.value,
                 comment="演示数据：评审、立项决策完成，公示期满无异议")
    engine.fire(app, "approve", None)
    applications.sign_task_book(pi, app)
    engine.fire(app, "sign_contract", officer)
    return call


# Something for every role's 工作台 (the calls above leave nothing to the unit, the
# recommending department, the demand side or an expert): a call with the unit review
# and recommendation steps and an application waiting at each; a call under expert review
# with one expert invited and one scoring; a 揭榜挂帅 project running, its first
# milestone reported to the demand side.
STEPS_TITLE = "市科技计划项目（包干制·单位审核与推荐）"
EXPERT_REVIEW_TITLE = "市科技计划项目（包干制·专家评审中）"
CHALLENGE_TITLE = "揭榜挂帅项目（已立项·执行中）"
WAITING = [
    # call, principal investigator, title, state
    (STEPS_TITLE, "researcher1", "稀土发光材料低温合成工艺研究", ApplicationState.unit_review),
    (STEPS_TITLE, "researcher4", "赣南油茶籽油精深加工关键技术", ApplicationState.recommended),
    (EXPERT_REVIEW_TITLE, "researcher3", "稀土抛光粉回收再利用技术开发",
     ApplicationState.expert_review),
]
# The experts of the call under review: the first invited, the second accepted.
WAITING_EXPERTS = ("expert2", "expert5")
CHALLENGE_PROJECT = "钕铁硼废料短流程再生技术"


def _waiting_work_seeded() -> bool:
    return db.session.scalar(sa.select(Call.id).where(
        Call.title.endswith(CHALLENGE_TITLE))) is not None


def _waiting_call(users: dict[str, User], title: str, state: CallState, days: int,
                  steps: list[str]) -> Call:
    officer = users["officer"]
    now = utcnow()
    year = now.astimezone(SHANGHAI).year
    call = Call(scheme=Scheme.baogan, year=year, title=f"{year}年度{title}",
                guide="演示批次：各环节都有待办事项。", state=state,
                opens_at=now - timedelta(days=30), closes_at=now + timedelta(days=days),
                budget=Decimal("3000000.00"), form_schema=[], rubric=RUBRIC,
                reviewers_per_application=2, checklist=CHECKLIST,
                tranche_plan=BAOGAN_TRANCHES, steps=steps, max_running_projects=3,
                created_by_id=officer.id)
    db.session.add(call)
    db.session.flush()
    calls.set_form(call, BAOGAN_FORM)
    audit.record(call, "call", "seed", officer, "officer", None, call.state.value,
                 comment="演示数据")
    return call


def _seed_waiting_work(users: dict[str, User]) -> None:
    now = utcnow()
    by_title = {
        STEPS_TITLE: _waiting_call(users, STEPS_TITLE, CallState.published, 20,
                                   ["unit_review", "recommendation"]),
        EXPERT_REVIEW_TITLE: _waiting_call(users, EXPERT_REVIEW_TITLE, CallState.reviewing,
                                           -5, []),
    }
    for call_title, username, title, state in WAITING:
        call, pi = by_title[call_title], users[username]
        app = Application(
            call_id=call.id, applicant_id=pi.id, organization_id=pi.organization_id,
            title=title, state=state, form_version=call.form_version, round=1,
            submitted_at=now - timedelta(days=6),
            data={"summary": f"{title}：演示用申报书。", "amount": "300000.00"})
        app.sign(SignedDocument.commitment, SigningParty.team, pi.id, pi.name,
                 now - timedelta(days=6), commitment_fingerprint())
        db.session.add(app)
        db.session.flush()
        app.receipt_no = f"SB{call.year}{call.scheme.code}{app.id:06d}"
        audit.record(app, "application", "seed", None, "system", None, app.state.value,
                     comment=f"演示数据：{state.label}")
        if state is ApplicationState.expert_review:
            invited, scoring = WAITING_EXPERTS
            reviews.add_reviewer(users["officer"], app, users[invited].id)
            engine.fire(reviews.add_reviewer(users["officer"], app, users[scoring].id),
                        "accept", users[scoring])
    _seed_challenge_project(users)


def _seed_challenge_project(users: dict[str, User]) -> None:
    """A 揭榜挂帅 project whose notice ended: approved, its task book signed by the team,
    the demand side and the bureau, started, and its first milestone reported."""
    officer, pi, demand = users["officer"], users["researcher2"], users["demand"]
    now = utcnow()
    enterprise = db.session.scalar(sa.select(Organization).where(Organization.uscc == ENTERPRISE))
    call = Call(
        scheme=Scheme.jiebang, year=now.astimezone(SHANGHAI).year,
        title=f"{now.astimezone(SHANGHAI).year}年度{CHALLENGE_TITLE}",
        guide="已完成评审、决策和公示的揭榜挂帅批次：里程碑由发榜方和项目主管验收。",
        state=CallState.decided, opens_at=now - timedelta(days=120),
        closes_at=now - timedelta(days=90), budget=Decimal("5000000.00"), form_schema=[],
        rubric=RUBRIC, reviewers_per_application=3, checklist=CHECKLIST,
        tranche_plan=[{"label": "按里程碑拨付", "condition": "milestone"}],
        created_by_id=officer.id)
    call.challenges = [Challenge(
        title="钕铁硼废料高效回收", demand_org=enterprise,
        description="钕铁硼废料中稀土回收率达到98%以上。",
        indicators=[{"name": "稀土回收率", "target": "≥ 98%"}],
        ceiling=Decimal("2000000.00"), duration_months=24, max_teams=1,
        milestone_template=[{"label": "中试线建成", "percent": 50},
                            {"label": "回收率达标", "percent": 50}])]
    db.session.add(call)
    db.session.flush()
    audit.record(call, "call", "seed", officer, "officer", None, call.state.value,
                 comment="演示数据：已审定立项名单并公示")
    app = Application(
        call_id=call.id, challenge_id=call.challenges[0].id, applicant_id=pi.id,
        organization_id=pi.organization_id, title=CHALLENGE_PROJECT,
        state=ApplicationState.public_notice, round=1,
        submitted_at=now - timedelta(days=91), granted_amount=Decimal("1500000.00"),
        notice_started_at=now - timedelta(days=8), notice_ends_at=now - timedelta(days=1),
        data={"summary": "钕铁硼废料氢破碎—选择性浸出短流程再生。",
              "indicators": {"稀土回收率": "98.5%"},
              "milestones": [{"label": "中试线建成", "amount": "750000.00", "months": 6},
                             {"label": "回收率达标", "amount": "750000.00", "months": 18}]})
    db.session.add(app)
    db.session.flush()
    app.receipt_no = f"SB{call.year}{call.scheme.code}{app.id:06d}"
    audit.record(app, "application", "seed", None, "system", None, app.state.value,
                 comment="演示数据：评审、答辩、立项决策完成，公示期满无异议")
    engine.fire(app, "approve", None)
    applications.sign_task_book(pi, app)
    applications.sign_task_book(demand, app)
    engine.fire(app, "sign_contract", officer)
    engine.fire(app, "start", officer)
    first = finance.milestones_of(app)[0]
    finance.report_milestone(pi, first.id, "中试线已建成并连续运行72小时，稀土回收率97.9%。")


def _seed_changes(users: dict[str, User]) -> bool:
    """项目变更: the funded 包干制 project extended by six months (approved, its 变更批复
    queued for the worker), and the 揭榜挂帅 project's request to adjust an indicator
    waiting for its unit's research office (then the demand side, then the officer).
    Nothing when the demo has change requests already or lacks those projects."""
    from workflow.changes import operations as changes
    from workflow.changes.models import ChangeRequest
    from workflow.changes.rules import months_after, planned_end

    if db.session.scalar(sa.select(ChangeRequest.id).limit(1)) is not None:
        return False
    funded = db.session.scalar(sa.select(Application).join(Call).where(
        Call.title.endswith(FUNDED_TITLE)))
    challenge = db.session.scalar(sa.select(Application).where(
        Application.title == CHALLENGE_PROJECT))
    if funded is None or challenge is None:
        return False
    evidence = b"%PDF-1.4\n%demo\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    pi = users["researcher1"]
    extension = changes.create(pi, funded, {
        "kind": "extension", "reason": "关键试验设备（高精度测功机）到货延迟六个月，"
        "台架试验相应推后，申请项目实施期限顺延六个月。",
        "new_end_date": months_after(planned_end(funded), 6).isoformat()})
    changes.attach_evidence(pi, extension, "设备延期到货说明.pdf", io.BytesIO(evidence))
    engine.fire(extension, "submit", pi)
    engine.fire(extension, "endorse", users["unitadmin"], comment="情况属实，同意延期")
    engine.fire(extension, "approve", users["officer"], comment="同意延期六个月")
    team = users["researcher2"]
    indicator = changes.create(team, challenge, {
        "kind": "content", "reason": "中试表明原料批次含杂波动大，申请将回收率指标"
        "表述为“连续三批平均≥98.5%”，以便考核。",
        "new_indicators": {"稀土回收率": "连续三批平均≥98.5%"}})
    changes.attach_evidence(team, indicator, "中试数据汇总.pdf", io.BytesIO(evidence + b" "))
    engine.fire(indicator, "submit", team)
    return True


# What each demo login finds waiting for it, to try first.
TRY_FIRST: dict[str, str] = {
    "officer": "工作台：拟定立项建议名单、验收里程碑",
    "researcher1": "申报指南 → 申报；已立项项目的任务书",
    "researcher2": "申报书：填写并提交",
    "researcher3": "揭榜挂帅项目：提交里程碑",
    "researcher4": "申报指南：查看正在受理的指南；结题验收（结题、宽容失败各一）",
    "researcher5": "年度报告：一份逾期（不能申报新项目，限项），一份待单位审核；"
                   "中期检查：一个项目待整改后重新提交",
    "unitadmin": "收款账户；本单位申报书；项目变更",
    "unitadmin2": "工作台：审核项目变更申请（揭榜挂帅指标调整）",
    "recommender": "申报书：主管部门推荐（只见市农科院的）",
    "recommender2": "申报书：只见章贡区单位的",
    "leader": "工作台：审定立项建议名单",
    "finance1": "经费拨付：制单",
    "finance2": "经费拨付：审核、拨付",
    "demand": "工作台：验收里程碑",
    "auditor": "申报书、办理记录（只读）",
    "admin": "通知记录",
    "expert1": "评审任务：答复邀请、评分",
    "expert3": "工作台：中期检查评议（专家组尚缺一份评分）",
}


def _width(text: str) -> int:
    """Columns on a terminal: a CJK character takes two."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


# Last year's guide, archived: what the officer copies for this year (复制上年指南).
LAST_YEAR_TITLE = "市自然科学基金项目（包干制）"
LAST_YEAR_FORM: list[dict[str, Any]] = [
    BAOGAN_FORM[0],
    {"name": "keywords", "label": "关键词", "type": "text", "required": True, "max": 50,
     "help": "3至5个，用逗号分隔"},
    {"name": "field", "label": "所属领域", "type": "choice", "required": True,
     "options": [{"value": "材料", "label": "新材料"}, {"value": "农业", "label": "现代农业"},
                 {"value": "信息", "label": "电子信息"}]},
    *BAOGAN_FORM[1:],
]
LAST_YEAR_REQUIRED_CHECKS = CHECKLIST[:2]


def _last_year_call() -> Call | None:
    return db.session.scalar(sa.select(Call).where(Call.title.endswith(LAST_YEAR_TITLE)))


def _seed_last_year_call(users: dict[str, User]) -> Call:
    officer = users["officer"]
    year = utcnow().astimezone(SHANGHAI).year - 1
    call = Call(
        scheme=Scheme.baogan, year=year, title=f"{year}年度{LAST_YEAR_TITLE}",
        guide="支持我市高校、科研院所和企业开展基础研究和应用基础研究，重点支持稀土新材料、"
              "现代农业和电子信息领域。经费实行包干制，项目负责人签署承诺书后自主使用。",
        state=CallState.archived, opens_at=shanghai(year, 3, 1, 9),
        closes_at=shanghai(year, 4, 30, 17), budget=Decimal("6000000.00"), form_schema=[],
        rubric=RUBRIC, reviewers_per_application=3, checklist=CHECKLIST,
        checklist_required=LAST_YEAR_REQUIRED_CHECKS, tranche_plan=BAOGAN_TRANCHES,
        collective_threshold=Decimal("1000000.00"), created_by_id=officer.id)
    db.session.add(call)
    db.session.flush()
    calls.set_form(call, LAST_YEAR_FORM)
    audit.record(call, "call", "seed", officer, "officer", None, call.state.value,
                 comment="演示数据：上年度指南，已归档")
    return call


# After the award (追回, 失信复核): a project terminated owing money, its 追回通知 issued
# and one instalment received; a running project whose team member was put on the
# 科研失信 list, its tranche held and the officer's review open.
AFTER_AWARD_TITLE = "市科技计划项目（包干制·终止追回与失信复核）"
SANCTIONED_MEMBER = ("刘某某", "362101198502020020")
HELD_PROJECT = "高丰度稀土永磁材料晶界扩散工艺"


def _after_award_call() -> Call | None:
    return db.session.scalar(sa.select(Call).where(Call.title.endswith(AFTER_AWARD_TITLE)))


def _after_award_project(call: Call, officer: User, pi: User, title: str, grant: str,
                         members: list[dict[str, str]]) -> Application:
    now = utcnow()
    app = Application(call_id=call.id, applicant_id=pi.id, organization_id=pi.organization_id,
                      title=title, state=ApplicationState.public_notice,
                      data={"summary": f"{title}。", "amount": grant, "members": members},
                      round=1, submitted_at=now - timedelta(days=200),
                      granted_amount=Decimal(grant),
                      notice_started_at=now - timedelta(days=160),
                      notice_ends_at=now - timedelta(days=150))
    db.session.add(app)
    db.session.flush()
    app.receipt_no = f"SB{call.year}{call.scheme.code}{app.id:06d}"
    audit.record(app, "application", "seed", None, "system", None, app.state.value,
                 comment="演示数据：评审、立项决策完成，公示期满无异议")
    engine.fire(app, "approve", None)
    applications.sign_task_book(pi, app)
    engine.fire(app, "sign_contract", officer)
    engine.fire(app, "start", None)
    return app


def _seed_after_award(users: dict[str, User]) -> Call:
    from workflow.accounts.models import Sanction
    from workflow.finance import recovery, sanctions

    officer, f1, f2 = users["officer"], users["finance1"], users["finance2"]
    now = utcnow()
    year = now.astimezone(SHANGHAI).year
    call = Call(
        scheme=Scheme.baogan, year=year, title=f"{year}年度{AFTER_AWARD_TITLE}",
        guide="立项后的演示批次：一个项目终止并追回部分经费，"
              "一个项目因成员失信暂停拨付待复核。",
        state=CallState.decided, opens_at=now - timedelta(days=260),
        closes_at=now - timedelta(days=230), budget=Decimal("2000000.00"), form_schema=[],
        rubric=RUBRIC, reviewers_per_application=3, checklist=CHECKLIST,
        tranche_plan=BAOGAN_TRANCHES, created_by_id=officer.id)
    db.session.add(call)
    db.session.flush()
    audit.record(call, "call", "seed", officer, "officer", None, call.state.value,
                 comment="演示数据：已立项，进入执行")
    # 1. Terminated owing 20 万: notified, 8 万 received.
    ended = _after_award_project(call, officer, users["researcher2"],
                                 "脐橙黄龙病绿色防控技术集成示范", "600000.00", [])
    first = finance.tranches_of(ended)[0]
    engine.fire(first, "prepare", f1)
    engine.fire(first, "approve", f2)
    engine.fire(first, "release", f2, data={"payment_ref": "ZF-DEMO-0701"})
    engine.fire(ended, "terminate", officer, comment="项目负责人调离，单位申请终止",
                data={"recovery_wan": "20"})
    owed = recovery.of_application(ended.id)
    if owed is not None:
        engine.fire(owed, "notify", officer)
        engine.fire(owed, "receive", f1, data={
            "amount_wan": "8", "key": "GH-DEMO-0001",
            "paid_on": now.astimezone(SHANGHAI).date().isoformat()})
    # 2. Running; a team member sanctioned: the due tranche held, the review open.
    _after_award_project(call, officer, users["researcher3"], HELD_PROJECT, "500000.00",
                         [{"name": SANCTIONED_MEMBER[0], "id_number": SANCTIONED_MEMBER[1]}])
    today = now.astimezone(SHANGHAI).date()
    sanction = Sanction(subject="person", name=SANCTIONED_MEMBER[0],
                        id_number=SANCTIONED_MEMBER[1], reason="论文数据造假（演示）",
                        starts_on=today - timedelta(days=3),
                        ends_on=today + timedelta(days=3 * 365),
                        measures=["no_apply", "no_review"], recorded_by_id=officer.id)
    db.session.add(sanction)
    db.session.flush()
    sanctions.hold_for_sanction(sanction.id)
    return call
# ---- 结题验收 (workflow/acceptance) ---------------------------------------------------------

ACCEPTANCE_TITLE = "市科技计划项目（包干制·结题验收）"
# researcher4's three projects: waiting for the officer to draw the panel, concluded 结题
# (the last tranche withheld, as the call says), failed and closed under 宽容失败.
ACCEPTANCE_PROJECTS = (("油茶低产林改造技术集成示范", "endorsed"),
                       ("脐橙采后商品化处理技术研究", "concluded"),
                       ("赣南蜜橘新品种选育", "failed"))
ACCEPTANCE_PANEL = ("expert1", "expert3", "expert4")  # none of 市农科院: no conflict


def _seed_acceptances(users: dict[str, User]) -> bool:
    """Nothing when the demo has acceptances already (or lacks their researcher)."""
    from workflow.acceptance import operations as acceptances

    if db.session.scalar(sa.select(Call.id).where(Call.title.endswith(ACCEPTANCE_TITLE))) \
            is not None or "researcher4" not in users:
        return False
    officer, pi, unit = users["officer"], users["researcher4"], users["unitadmin2"]
    now = utcnow()
    call = Call(scheme=Scheme.baogan, year=now.astimezone(SHANGHAI).year - 2,
                title=f"{now.astimezone(SHANGHAI).year - 2}年度{ACCEPTANCE_TITLE}",
                guide="结题验收的演示批次：待组织专家组、结题、宽容失败各一个项目。",
                state=CallState.decided, opens_at=now - timedelta(days=800),
                closes_at=now - timedelta(days=770), budget=Decimal("1500000.00"),
                form_schema=[], rubric=RUBRIC, reviewers_per_application=3,
                checklist=CHECKLIST, tranche_plan=BAOGAN_TRANCHES, created_by_id=officer.id,
                concluded_rule="withhold", tolerate_failure=True)
    db.session.add(call)
    db.session.flush()
    audit.record(call, "call", "seed", officer, "officer", None, call.state.value,
                 comment="演示数据：项目执行期满，进入结题验收")
    pdf = b"%PDF-1.4\n%demo acceptance\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    for i, (title, outcome) in enumerate(ACCEPTANCE_PROJECTS):
        app = _after_award_project(call, officer, pi, title, "400000.00", [])
        first = finance.tranches_of(app)[0]
        engine.fire(first, "prepare", users["finance1"])
        engine.fire(first, "approve", users["finance2"])
        engine.fire(first, "release", users["finance2"], data={"payment_ref": f"ZF-DEMO-09{i}"})
        acc = acceptances.open_package(pi, app)
        acceptances.save_package(pi, acc, {
            "report": f"{title}项目按任务书开展研究，完成了试验示范和技术总结，"
                      "现将完成情况、成果和经费使用情况报告如下。",
            "outputs": [{"kind": "paper", "title": f"{title}研究进展",
                         "identifier": f"10.13925/j.cnki.gsxb.2026.0{i + 1}.001"}],
            "negative_list_declared": True, "spent_wan": "26", "surplus_wan": "2",
            "self_assessment": {name: {"status": "met" if outcome != "failed" else "not_met",
                                       "evidence": "见科技报告"}
                                for name in acceptances.indicator_names(app)}})
        acceptances.attach_tech_report(pi, acc, f"{title}科技报告.pdf",
                                       io.BytesIO(pdf + str(i).encode()))
        engine.fire(acc, "submit", pi)
        engine.fire(acc, "endorse", unit, comment="材料属实，同意报送")
        if outcome == "endorsed":
            continue
        panel = [users[name] for name in ACCEPTANCE_PANEL]
        engine.fire(acc, "assign_panel", officer, data={"expert_ids": [str(e.id) for e in panel]})
        grade = "concluded" if outcome == "concluded" else "fail"
        for expert in panel:
            acceptances.score(expert, acc, {
                "scores": dict.fromkeys(acceptances.indicator_names(app), grade != "fail"),
                "grade": grade, "diligent": True if grade == "fail" else None,
                "opinion": "主要研究内容已完成，部分指标未达到预期。" if grade != "fail"
                else "因连续极端天气，选育材料大面积受损，指标未达到；团队工作勤勉尽责。"})
        acceptances.check_finance(users["finance1"], acc, "pass", "决算与拨付台账一致")
        if grade == "fail":
            engine.fire(acc, "fail", officer, comment="关键指标未达到，验收不通过。经专家组认定，"
                        "项目团队勤勉尽责，按宽容失败规定处理。", data={"diligent": "yes"})
        else:
            engine.fire(acc, "conclude", officer, comment="主要研究内容已完成，产业化示范指标"
                        "未完全达到，予以结题。")
    return True


def _accept_through_the_panel(users: dict[str, User], app: Application, report: str,
                              panel_names: tuple[str, ...], unit_admin: str,
                              conclusion: str) -> None:
    """A 包干制 project passed at its 结题验收 as the people do it: the package, the unit,
    a panel of three agreeing, 财务验收, the officer's pass."""
    from workflow.acceptance import operations as acceptances

    pi, officer = app.applicant, users["officer"]
    acc = acceptances.open_package(pi, app)
    acceptances.save_package(pi, acc, {
        "report": report, "negative_list_declared": True,
        "spent_wan": f"{app.disbursed / 10000:.2f}", "surplus_wan": "0",
        "outputs": [{"kind": "paper", "title": f"{app.title}研究", "identifier":
                     f"10.13925/demo.{app.id}"}],
        "self_assessment": {name: {"status": "met", "evidence": "见科技报告"}
                            for name in acceptances.indicator_names(app)}})
    acceptances.attach_tech_report(pi, acc, "科技报告.pdf", io.BytesIO(
        b"%PDF-1.4\n%demo " + str(app.id).encode() + b"\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"))
    engine.fire(acc, "submit", pi)
    engine.fire(acc, "endorse", users[unit_admin], comment="同意报送")
    panel = [users[name] for name in panel_names]
    engine.fire(acc, "assign_panel", officer, data={"expert_ids": [str(e.id) for e in panel]})
    for expert in panel:
        acceptances.score(expert, acc, {
            "scores": dict.fromkeys(acceptances.indicator_names(app), True), "grade": "pass",
            "opinion": conclusion})
    acceptances.check_finance(users["finance1"], acc, "pass", "决算与拨付台账一致")
    engine.fire(acc, "pass", officer, comment=conclusion)


# Two projects of last year's call led by researcher5, each with its annual report for that
# year: one filed (its spending report published in the unit, waiting for the unit's
# research office), one overdue (so that researcher5 may not apply for anything new: 限项).
ANNUAL_PROJECTS = (("离子型稀土矿区生态修复技术研究", Decimal("500000.00")),
                   ("脐橙黄龙病早期快速检测技术", Decimal("400000.00")))


def _annual_reports_seeded() -> bool:
    return db.session.scalar(sa.select(AnnualReport.id).limit(1)) is not None


def _seed_annual_reports(users: dict[str, User]) -> None:
    call = _last_year_call()
    if call is None:
        return
    officer, pi = users["officer"], users["researcher5"]
    now = utcnow()
    projects = []
    for title, grant in ANNUAL_PROJECTS:
        app = Application(call_id=call.id, applicant_id=pi.id,
                          organization_id=pi.organization_id, title=title,
                          state=ApplicationState.public_notice, round=1,
                          data={"summary": f"{title}。"}, granted_amount=grant,
                          submitted_at=shanghai(call.year, 4, 20, 10),
                          notice_started_at=now - timedelta(days=8),
                          notice_ends_at=now - timedelta(days=1))
        db.session.add(app)
        db.session.flush()
        app.receipt_no = f"SB{call.year}{call.scheme.code}{app.id:06d}"
        audit.record(app, "application", "seed", None, "system", None, app.state.value,
                     comment="演示数据：上年度立项项目")
        engine.fire(app, "approve", None)
        applications.sign_task_book(pi, app)
        engine.fire(app, "sign_contract", officer)
        engine.fire(app, "start", officer)
        projects.append(app)
    # Both contract shares were paid last year: the filed report spends part of one.
    for n, project in enumerate(projects, 1):
        paid = next(t for t in finance.tranches_of(project) if t.condition == "contract")
        engine.fire(paid, "prepare", users["finance1"])
        engine.fire(paid, "approve", users["finance2"])
        engine.fire(paid, "release", users["finance2"],
                    data={"payment_ref": f"ZF-DEMO-{n:04d}"})
    year = call.year
    filed, late = annual.open_year(year, officer, annual.due_on(year),
                                   among=[p.id for p in projects])
    annual.save_draft(pi, filed.id, {
        "progress": "完成了矿区土壤本底调查和修复材料筛选，建成试验示范区20亩，"
                    "植被覆盖率提高到55%。",
        "indicators": [
            {"indicator": "植被覆盖率≥70%", "status": "示范区已达55%，按计划推进"},
            {"indicator": "修复材料配方2项", "status": "已完成1项，另1项在试验中"}],
        "outputs": "发表论文1篇；申请发明专利1项（已受理）。",
        "spending": {"equipment": "12.00", "business": "9.50", "labour": "6.30",
                     "indirect": "2.00"},
        "published_on": min(date(year + 1, 1, 15), annual.today()).isoformat(),
        "published_where": "赣南科技大学科研处网站通知公告栏"})
    engine.fire(filed, "submit", pi)
    if annual.today() > late.due_on:  # (seeded in January: still due)
        engine.fire(late, "mark_overdue", None)


def logins_text() -> str:
    """The demo logins as a short table: user, role, what to try first."""
    rows = [(u, desc.split("：")[0], TRY_FIRST.get(u, "")) for u, _, _, _, desc in USERS]
    rows += [(u, f"评审专家（{name}）", TRY_FIRST.get(u, "评审任务"))
             for u, name, _, _, _ in EXPERTS]
    head = ("用户名", "角色", "先试试")
    widths = [max(_width(r[i]) for r in [head, *rows]) for i in range(2)]
    lines = [f"演示账号（密码均为 {DEMO_PASSWORD}）："]
    lines += [f"  {_pad(a, widths[0])}  {_pad(b, widths[1])}  {c}".rstrip()
              for a, b, c in [head, *rows]]
    return "\n".join(lines)


def present() -> bool:
    """The demo data is in this database (its logins can be shown)."""
    return db.session.scalar(sa.select(User.id).where(User.username == USERS[0][0])) is not None


# ---- 绩效评价 (evaluations at closure) ------------------------------------------------
# A project of the after-award call completed on time with its indicators met: its
# evaluation, the outputs scored by the officer (with the reason), confirmed 优秀. The
# terminated one (owing money) proposed 不合格, confirmed by the leader: on the
# researchers' and the unit's record and the 科研失信 page.
EXCELLENT_PROJECT = "稀土发光材料低温合成工艺及产业化示范"


def _seed_evaluations(users: dict[str, User]) -> bool:
    from workflow.evaluation import operations as evaluations
    from workflow.evaluation.models import Grade

    call = _after_award_call()
    if call is None or db.session.scalar(sa.select(Application.id).where(
            Application.title == EXCELLENT_PROJECT)) is not None:
        return False
    officer, pi = users["officer"], users["researcher1"]
    app = _after_award_project(call, officer, pi, EXCELLENT_PROJECT, "400000.00", [])
    paid = finance.tranches_of(app)[0]
    engine.fire(paid, "prepare", users["finance1"])
    engine.fire(paid, "approve", users["finance2"])
    engine.fire(paid, "release", users["finance2"], data={"payment_ref": "ZF-DEMO-0801"})
    _accept_through_the_panel(users, app, "全部考核指标均已完成：合成温度580℃，发光效率提高18%，"
                              "建成示范线一条。", ("expert2", "expert3", "expert6"),
                              "unitadmin", "专家组一致同意通过验收")
    last = finance.tranches_of(app)[-1]  # the share due on acceptance, paid
    engine.fire(last, "prepare", users["finance1"])
    engine.fire(last, "approve", users["finance2"])
    engine.fire(last, "release", users["finance2"], data={"payment_ref": "ZF-DEMO-0802"})
    evaluations.open_missing()
    for ev in db.session.scalars(sa.select(Evaluation).where(
            Evaluation.application_id.in_(sa.select(Application.id).where(
                Application.call_id == call.id)))):
        if ev.grade is Grade.unqualified:
            engine.fire(ev, "propose", officer, comment="项目终止且经费未全部追回")
            engine.fire(ev, "confirm", users["leader"], comment="同意评为不合格")
        else:
            # The outputs are in the final report, not yet in an annual report: the
            # officer scores them, with the reason.
            evaluations.adjust(officer, ev, {"outputs": 25, "reason": (
                "结题验收认定成果：发明专利2项、论文3篇、企业标准1项，成果产出按满分计。")})
            engine.fire(ev, "confirm", officer, comment="同意")
    return True


# ---- 中期检查 (midterm checks) ------------------------------------------------------------
# Two projects of researcher5 (who may not apply anyway: an overdue annual report) in the
# call after the award, both in their midterm check: one waiting for the last panel score
# (expert3's), one in 整改 (the team to report again).
MIDTERM_WAITING = "赣南脐橙采后商品化处理关键技术"
MIDTERM_RECTIFY = "稀土尾矿综合利用新工艺研究"
MIDTERM_PANEL = ("expert2", "expert5", "expert3")


def _seed_midterms(users: dict[str, User]) -> bool:
    from workflow.midterm import operations as midterm
    from workflow.midterm.models import MidtermReport

    call = _after_award_call()
    if call is None or db.session.scalar(sa.select(MidtermReport.id).limit(1)) is not None:
        return False
    if "midterm" not in call.enabled_steps:
        call.steps = [*(call.steps or []), "midterm"]
    officer, pi = users["officer"], users["researcher5"]
    apps = [_after_award_project(call, officer, pi, title, "300000.00", [])
            for title in (MIDTERM_WAITING, MIDTERM_RECTIFY)]
    for n, app in enumerate(apps, 1):  # the contract's share paid (nothing left due)
        paid = next(t for t in finance.tranches_of(app) if t.condition == "contract")
        engine.fire(paid, "prepare", users["finance1"])
        engine.fire(paid, "approve", users["finance2"])
        engine.fire(paid, "release", users["finance2"],
                    data={"payment_ref": f"ZF-DEMO-MT{n:02d}"})
    today = midterm.today()
    reports = midterm.open_checks(officer, application_ids=[a.id for a in apps],
                                  due=(today + timedelta(days=30)).isoformat(),
                                  instructions="请对照任务书如实填报进展、经费支出和成果。")
    panel = [users[e].id for e in MIDTERM_PANEL]
    for report in reports:
        midterm.save_report(pi, report.id, {
            "answers": {"progress": "已完成关键工艺的小试验证，中试线设备安装调试完毕，"
                                    "总体进度符合任务书安排。",
                        "results": "申请发明专利1项（已受理），发表论文1篇。",
                        "problems": "中试原料批次差异较大；下一步完善工艺参数，开展连续中试。"},
            "spending": {"equipment": "8.00", "business": "4.50", "labour": "3.20",
                         "indirect": "1.00"},
            "outputs": [{"kind": "patent", "title": "一种稀土尾矿浸出液除杂方法",
                         "note": "已受理"}]})
        engine.fire(report, "submit", pi)
        midterm.assign_panel(officer, report.id, panel)
    waiting, rectify = reports
    scorers = {waiting.id: MIDTERM_PANEL[:2], rectify.id: MIDTERM_PANEL}
    for report in reports:
        for username in scorers[report.id]:
            midterm.score(users[username], report.id, {
                "score": 72 if report is rectify else 86,
                "opinion": "中试进度滞后于计划，经费执行偏慢，建议限期整改。"
                if report is rectify else "进展符合任务书要求，建议通过。",
                "recommendation": "rectify" if report is rectify else "pass"})
    engine.fire(rectify, "rectify", officer, comment="中试进度滞后，请限期整改",
                data={"due_on": (today + timedelta(days=20)).isoformat(),
                      "items": "补充连续三批中试数据\n说明后续经费使用计划"})
    return True

