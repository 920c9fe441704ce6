"""What the 工作台 lists of 结题验收 besides its transitions: a project running without an
acceptance yet (its team's milestone reports and acceptance), a panel member's verdict to
give, 财务验收 to record."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import url_for
from sqlalchemy.orm import selectinload

from states import ApplicationState
from workflow.acceptance import operations as acceptances
from workflow.acceptance.models import Acceptance
from workflow.applying.models import Application
from workflow.core.models import db
from workflow.workbench.todo import SCAN, Board, TodoItem


def _running_without_acceptance(user: Any) -> list[Application]:
    """The projects ``user`` leads that run and have not yet asked for acceptance (their
    milestone reports and the acceptance are on the project's page)."""
    return list(db.session.scalars(
        sa.select(Application).where(
            Application.state == ApplicationState.in_progress,
            Application.applicant_id == user.id,
            ~Application.id.in_(sa.select(Acceptance.application_id)))
        .options(selectinload(Application.organization))
        .order_by(Application.id).limit(SCAN)))


def _link(acc: Acceptance) -> str:
    return url_for("entities.show", collection="acceptances", entity_id=acc.id)


def acceptance_todos(board: Board) -> None:
    user = board.user
    if "applicant" in user.roles:
        group = board.group("applicant", "执行中：提交里程碑或结题材料")
        for app in _running_without_acceptance(user):
            group.add(TodoItem(f"执行中：提交里程碑或结题材料：{app.title}",
                               f"{app.organization.name} · {app.applicant.name}",
                               url_for("entities.show", collection="applications",
                                       entity_id=app.id)))
    for role in ("expert", "demand"):
        if role in user.roles:
            group = board.group(role, "待提交验收意见")
            for acc in acceptances.acceptances_of_panel(user):
                seat = acceptances.seat_of(user, acc)
                if seat is not None and seat.role == role:
                    group.add(TodoItem(f"待提交验收意见：{acc.application.title}",
                                       f"{seat.alias} · {acc.application.organization.name}",
                                       _link(acc)))
    if "finance" in user.roles:
        group = board.group("finance", "待财务验收")
        for acc in acceptances.awaiting_finance_check():
            group.add(TodoItem(f"待财务验收：{acc.application.title}",
                               acc.application.organization.name, _link(acc)))
