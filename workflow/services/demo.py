"""Demo data for the embedded default (``flask --app workflow seed --demo``)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from stdnum.cn import uscc

from states import CallState
from workflow.models import Call, Challenge, ExpertProfile, Organization, Scheme, User, db, utcnow
from workflow.services import accounts, audit, calls

# Printed by `make run`; only ever used for the embedded demo database.
DEMO_PASSWORD = "kjflow-Demo-2026"  # noqa: S105


def _uscc(base17: str) -> str:
    return base17 + uscc.calc_check_digit(base17)


ORGS = [
    ("赣南科技大学", _uscc("12360700491234567"), "university"),
    ("赣州稀土新材料有限公司", _uscc("91360700MA35A0001"), "enterprise"),
    ("赣州市农业科学研究院", _uscc("12360700491234589"), "institute"),
    ("赣州市科学技术局", _uscc("11360700014000001"), "government"),
]
UNIV, ENTERPRISE, INSTITUTE, BUREAU = (o[1] for o in ORGS)

# username, name, roles, organisation, what the login is for
USERS: list[tuple[str, str, list[str], str | None, str]] = [
    ("officer", "张科长", ["officer"], BUREAU, "项目主管：发布指南、形式审查"),
    ("researcher1", "李明", ["applicant"], UNIV, "申报人（赣南科技大学）"),
    ("researcher2", "王芳", ["applicant"], INSTITUTE, "申报人（市农科院）"),
    ("unitadmin", "赵主任", ["org_admin"], UNIV, "单位管理员（赣南科技大学）"),
    ("recommender", "钱处长", ["recommender"], BUREAU, "主管部门推荐"),
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


def seed() -> bool:
    """Write the demo data once; returns False when it is already there."""
    if db.session.scalar(sa.select(User.id).where(User.username == "officer")):
        return False
    orgs: dict[str, Organization] = {}
    for name, code, kind in ORGS:
        orgs[code] = accounts.create_organization(name, code, kind)
    users: dict[str, User] = {}
    for username, name, roles, org, _ in USERS:
        users[username] = accounts.create_user(
            username, DEMO_PASSWORD, roles, name=name, email=f"{username}@example.cn",
            organization=orgs[org] if org else None)
    for username, name, org, disciplines, keywords in EXPERTS:
        expert = accounts.create_user(username, DEMO_PASSWORD, ["expert"], name=name,
                                      email=f"{username}@example.cn", organization=orgs[org])
        db.session.add(ExpertProfile(user=expert, title="正高级", disciplines=disciplines,
                                     keywords=keywords, load_cap=10))
    now = utcnow()
    year = now.year
    officer = users["officer"]
    baogan = Call(
        scheme=Scheme.baogan, year=year, title=f"{year}年度市科技计划项目（包干制试点）",
        guide="面向全市高校、科研院所和企业，支持基础研究和应用基础研究，经费实行包干制。",
        state=CallState.published, opens_at=now - timedelta(days=7),
        closes_at=now + timedelta(days=30), budget=Decimal("5000000.00"),
        form_schema=BAOGAN_FORM, rubric=RUBRIC, reviewers_per_application=3,
        checklist=CHECKLIST,
        tranche_plan=[{"label": "合同签订后拨付", "percent": 70, "condition": "contract"},
                      {"label": "验收通过后拨付", "percent": 30, "condition": "acceptance"}],
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
    db.session.commit()
    return True


def logins_text() -> str:
    rows = [(u, desc) for u, _, _, _, desc in USERS]
    rows += [(u, f"评审专家（{name}）") for u, name, _, _, _ in EXPERTS]
    width = max(len(u) for u, _ in rows)
    lines = [f"演示账号（密码均为 {DEMO_PASSWORD}）："]
    lines += [f"  {u.ljust(width)}  {desc}" for u, desc in rows]
    return "\n".join(lines)
