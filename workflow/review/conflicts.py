"""Conflicts of interest (回避), typed and explained, between experts and applications."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from states import ApplicationState
from workflow.accounts.models import Organization, Sanction, User, UserRole
from workflow.applying.models import Application
from workflow.core.models import db, utcnow
from workflow.review.matching import CONFLICT_LABELS
from workflow.review.models import ConflictRelation
from workflow.timeutil import SHANGHAI

LABELS = CONFLICT_LABELS  # one set of names for the conflict types
JOINT_WORK_YEARS = 3


def _people(app: Application) -> tuple[set[int], set[str], set[str]]:
    """Applicant and team: user ids, 身份证号, organisation names."""
    users = {app.applicant_id}
    ids = {app.applicant.id_number} if app.applicant.id_number else set()
    orgs = {app.organization.name}
    for fld_value in (app.data or {}).values():
        if isinstance(fld_value, list):
            for row in fld_value:
                if isinstance(row, dict) and "id_number" in row:
                    if row.get("id_number"):
                        ids.add(str(row["id_number"]).upper())
                    if row.get("org"):
                        orgs.add(str(row["org"]).strip())
    return users, ids, orgs


def conflict_map(experts: Iterable[User], apps: Iterable[Application],
                 today: date | None = None) -> dict[tuple[int, int], list[str]]:
    """``{(application id, expert id): [conflict codes]}`` for every conflicted pair."""
    experts, apps = list(experts), list(apps)
    today = today or utcnow().astimezone(SHANGHAI).date()
    expert_ids = [e.id for e in experts]
    relations: dict[int, list[ConflictRelation]] = defaultdict(list)
    for rel in db.session.scalars(sa.select(ConflictRelation).where(
            ConflictRelation.expert_id.in_(expert_ids))):
        relations[rel.expert_id].append(rel)
    call_ids = {a.call_id for a in apps}
    applied = {(c, u) for c, u in db.session.execute(sa.select(
        Application.call_id, Application.applicant_id).where(
        Application.call_id.in_(call_ids), Application.state != ApplicationState.withdrawn))}
    sanctioned = {row.id_number for row in db.session.scalars(sa.select(Sanction).where(
        Sanction.subject == "person", Sanction.starts_on <= today, Sanction.ends_on >= today))
        if row.in_force(today, "no_review")}
    org_names = dict(db.session.execute(sa.select(Organization.id, Organization.name)).all())
    out: dict[tuple[int, int], list[str]] = {}
    for app in apps:
        users, ids, orgs = _people(app)
        for expert in experts:
            codes: list[str] = []
            if expert.organization_id == app.organization_id or (
                    expert.organization_id and org_names.get(expert.organization_id) in orgs):
                codes.append("same_org")
            for rel in relations.get(expert.id, ()):
                touches = (rel.application_id == app.id or rel.other_user_id in users
                           or (rel.other_id_number or "").upper() in ids
                           or rel.other_org_id == app.organization_id)
                if not touches:
                    continue
                if rel.kind == "joint_work" and rel.year is not None and \
                        rel.year < today.year - JOINT_WORK_YEARS:
                    continue
                if rel.kind not in codes:
                    codes.append(rel.kind)
            if (app.call_id, expert.id) in applied:
                codes.append("same_call")
            if expert.id_number and expert.id_number in sanctioned:
                codes.append("sanctioned")
            if codes:
                out[(app.id, expert.id)] = codes
    return out


def reasons(expert: User, app: Application) -> list[str]:
    """Why ``expert`` may not review ``app``, in Chinese (empty: they may)."""
    return [LABELS[c] for c in conflict_map([expert], [app]).get((app.id, expert.id), [])]


# ---- panels after the award (中期检查, 结题验收) ------------------------------------------

MIN_PANEL = 3
MAX_PANEL = 15


def expert_pool(app: Application) -> list[tuple[User, list[str]]]:
    """The active experts of the pool by name, each with why they must stand aside from
    ``app`` (empty: they may sit on its panel)."""
    experts = list(db.session.scalars(sa.select(User).join(UserRole).where(
        UserRole.role == "expert", User.active.is_(True)).order_by(User.name, User.id)))
    found = conflict_map(experts, [app])
    return [(e, [LABELS[c] for c in found.get((app.id, e.id), [])]) for e in experts]


@dataclass(frozen=True)
class PanelProblem:
    """Why a panel as chosen cannot sit: a code, a message, the field's explanation."""

    code: str
    message: str
    details: dict[str, str]


def panel_problem(ids: list[int], app: Application, panel: str) -> PanelProblem | None:
    """A panel (``panel``: what it is called, 中期检查专家组…) of the experts ``ids`` for
    ``app``: between MIN_PANEL and MAX_PANEL active experts of the pool, none conflicted."""
    if not MIN_PANEL <= len(ids) <= MAX_PANEL:
        return PanelProblem("panel_size", f"{panel}应由{MIN_PANEL}至{MAX_PANEL}名专家组成"
                            f"（现选{len(ids)}名）",
                            {"expert_ids": f"请选择{MIN_PANEL}至{MAX_PANEL}名专家"})
    experts = {u.id: u for u in db.session.scalars(sa.select(User).join(UserRole).where(
        User.id.in_(ids), UserRole.role == "expert", User.active.is_(True)))}
    unknown = [str(i) for i in ids if i not in experts]
    if unknown:
        return PanelProblem("not_experts", "有的人不是在库的评审专家（或账号已停用）："
                            + "、".join(unknown),
                            {"expert_ids": "不是在库的评审专家：" + "、".join(unknown)})
    found = conflict_map([experts[i] for i in ids], [app])
    if found:
        lines = [f"{experts[eid].name}（" + "、".join(LABELS[c] for c in codes) + "）"
                 for (_aid, eid), codes in sorted(found.items())]
        return PanelProblem("expert_conflicted", "以下专家须回避：" + "；".join(lines),
                            {"expert_ids": "有专家须回避：" + "；".join(lines),
                             **{str(eid): "、".join(LABELS[c] for c in codes)
                                for (_aid, eid), codes in found.items()}})
    return None
