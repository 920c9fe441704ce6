"""The 科研失信 list kept by officers: who may not apply, or review, until when."""

from __future__ import annotations

from datetime import date
from typing import Any

from forms import FieldError, check_id_number, check_uscc, has_line_break
from workflow.accounts.models import Sanction, User
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
    if errors:
        raise Invalid("失信记录有误", details=errors)
    row = Sanction(subject=subject, name=name, id_number=id_number, uscc=uscc, reason=reason,
                   recorded_by_id=actor.id, **dates)
    db.session.add(row)
    db.session.flush()
    return row


SUBJECTS = {"person": "个人", "org": "单位"}


