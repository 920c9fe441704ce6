"""The 科研失信 list kept by officers: who may not apply, or review, until when."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import sqlalchemy as sa

from forms import FieldError, check_id_number, check_uscc, has_line_break
from workflow.accounts.models import Sanction, User
from workflow.accounts.models.integrity import DEFAULT_MEASURES, MEASURES
from workflow.core import memo, outbox
from workflow.core.errors import Forbidden, Invalid
from workflow.core.models import db
from workflow.permissions import integrity_keeper


def add_sanction(actor: User, data: dict[str, Any]) -> Sanction:
    if not integrity_keeper(actor):
        raise Forbidden("只有项目主管可以维护科研失信名单", code="role_not_allowed")
    errors: dict[str, str] = {}
    subject = data.get("subject")
    if subject not in ("person", "org"):
        errors["subject"] = "对象应为个人或单位"
    name = str(data.get("name") or "").strip()
    if not name:
        errors["name"] = "请填写姓名或单位名称"
    elif len(name) > 200:
        errors["name"] = "姓名或单位名称不能超过200字"
    elif has_line_break(name):
        errors["name"] = "姓名或单位名称不能换行，请写在一行内"
    ident = str(data.get("identifier") or "").strip()
    id_number = uscc = None
    try:
        if subject == "person":
            id_number = check_id_number(ident)
        elif subject == "org":
            uscc = check_uscc(ident)
    except FieldError as err:
        errors["identifier"] = str(err)
    reason = str(data.get("reason") or "").strip()
    if not reason:
        errors["reason"] = "请填写处理事由"
    dates: dict[str, date] = {}
    for key, label in (("starts_on", "开始日期"), ("ends_on", "结束日期")):
        try:
            dates[key] = date.fromisoformat(str(data.get(key) or ""))
        except ValueError:
            errors[key] = f"{label}格式应为 YYYY-MM-DD"
    if len(dates) == 2 and dates["ends_on"] < dates["starts_on"]:
        errors["ends_on"] = "结束日期不能早于开始日期"
    measures = _measures(data.get("measures"), errors)
    if errors:
        raise Invalid("失信记录有误", details=errors)
    row = Sanction(subject=subject, name=name, id_number=id_number, uscc=uscc, reason=reason,
                   recorded_by_id=actor.id, measures=measures, **dates)
    db.session.add(row)
    db.session.flush()
    # The projects it touches are held and reviewed (workflow/finance/sanctions.py).
    outbox.emit(SANCTION_RECORDED, "sanction", row.id)
    return row


SANCTION_RECORDED = "sanction.recorded"


def _measures(raw: Any, errors: dict[str, str]) -> list[str]:
    """The measures ticked (a list, or a form's comma-separated text); none given: the
    default 不得申报、不得评审."""
    if raw is None or raw == "" or raw == []:
        return list(DEFAULT_MEASURES)
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(m, str) for m in items):
        errors["measures"] = "处理措施应为列表"
        return []
    picked = [m.strip() for m in items if m.strip()]
    unknown = [m for m in picked if m not in MEASURES]
    if unknown:
        errors["measures"] = "处理措施可选：" + "、".join(
            f"{k}（{v}）" for k, v in MEASURES.items())
    return list(dict.fromkeys(picked))


SUBJECTS = {"person": "个人", "org": "单位"}




def team_of(data: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(身份证号, 姓名) of each person in an application's team tables (a ``persons``
    field: rows with an ``id_number``)."""
    out: dict[str, str] = {}
    for value in (data or {}).values():
        if not isinstance(value, list):
            continue
        for row in value:
            if isinstance(row, dict) and str(row.get("id_number") or "").strip():
                out.setdefault(str(row["id_number"]).strip().upper(), str(row.get("name") or ""))
    return list(out.items())


def people_of(pi_name: str, pi_id: str | None, team: list[tuple[str, str]]) -> dict[str, str]:
    """A project's people by 身份证号 (upper case), each named as a sanction hits them."""
    pi_key = (pi_id or "").upper()
    people = {pi_key: f"项目负责人{pi_name}"} if pi_key else {}
    for id_number, name in team:
        people.setdefault(id_number, f"项目组成员{name or id_number[-4:]}")
    return people


def sanctions_on(id_numbers: Iterable[str], usccs: Iterable[str | None],
                 day: date | None = None) -> list[Sanction]:
    """The sanctions (in force on ``day`` when given) on any of these people or
    organisations, in the order they were entered."""
    ids, orgs = sorted(set(id_numbers)), sorted({u for u in usccs if u})
    conditions = []
    if ids:
        conditions.append(sa.and_(Sanction.subject == "person",
                                  sa.func.upper(Sanction.id_number).in_(ids)))
    if orgs:
        conditions.append(sa.and_(Sanction.subject == "org", Sanction.uscc.in_(orgs)))
    if not conditions:
        return []
    query = sa.select(Sanction).where(sa.or_(*conditions)).order_by(Sanction.id)
    if day is not None:
        query = query.where(Sanction.starts_on <= day, Sanction.ends_on >= day)
    return list(memo.remembered(("sanctions_on", tuple(ids), tuple(orgs), day),
                                lambda: list(db.session.scalars(query))))


def touching(rows: Iterable[Sanction], people: dict[str, str], org_name: str,
             org_uscc: str | None, measure: str | None = None) -> list[tuple[Sanction, str]]:
    """Of ``rows``, those on ``people`` or the organisation (with ``measure`` when given),
    each with whom it hits (项目负责人张三 / 项目组成员李四 / 承担单位某某)."""
    out = []
    for row in rows:
        if measure is not None and measure not in (row.measures or DEFAULT_MEASURES):
            continue
        if row.subject == "person":
            who = people.get((row.id_number or "").upper())
        else:
            who = f"承担单位{org_name}" if org_uscc and row.uscc == org_uscc else None
        if who is not None:
            out.append((row, who))
    return out


def sanctions_touching(pi_name: str, pi_id: str | None, org_name: str, org_uscc: str | None,
                       team: list[tuple[str, str]], day: date | None = None,
                       measure: str | None = None) -> list[tuple[Sanction, str]]:
    """The sanctions on a project's principal investigator, team members or organisation
    (in force on ``day`` with ``measure`` when given), each with whom it hits."""
    people = people_of(pi_name, pi_id, team)
    return touching(sanctions_on(people, [org_uscc], day), people, org_name, org_uscc,
                    measure)
