"""What the 工作台 lists of midterm checks besides their transitions: a panel expert's
seats still to score (a score is not a transition)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import url_for

from states import MidtermState
from workflow.core.models import db
from workflow.midterm.models import MidtermReport, MidtermScore
from workflow.workbench.todo import SCAN, Board, TodoItem


def expert_seats(board: Board) -> None:
    user = board.user
    if "expert" not in user.roles:
        return
    group = board.group("expert", "待中期检查评议")
    for seat in db.session.scalars(
            sa.select(MidtermScore).join(MidtermReport).where(
                MidtermScore.expert_id == user.id, MidtermScore.submitted_at.is_(None),
                MidtermScore.round == MidtermReport.round,
                MidtermReport.state == MidtermState.reviewing)
            .order_by(MidtermScore.id).limit(SCAN)):
        app = seat.midterm.application
        group.add(TodoItem(f"待中期检查评议：{app.title}", f"第{seat.round}轮评议",
                           url_for("entities.show", collection="midterms",
                                   entity_id=seat.midterm_id)))
