"""Pages: the recovery list (追回台账) and the list of sanction reviews (失信复核). Each
recovery and review has its own page (/recoveries/<id>, /sanction-reviews/<id>: the
workbench's entity page, with its details block and its actions)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from workflow.core.models import db
from workflow.finance.models import SanctionReview
from workflow.finance.recovery_lists import RECOVERIES
from workflow.permissions import allow, money_reader
from workflow.web import listing

bp = Blueprint("recoveries", __name__)


@bp.route("/recoveries")
@login_required
def index() -> Response | str:
    """Finance, officers, leaders and auditors: every recovery; a project's organisation
    (its researchers and research office): its own (others see an empty list)."""
    allow(money_reader(current_user) or current_user.has_role("applicant", "org_admin"),
          "您无权查看经费追回")
    return listing.respond(RECOVERIES, "finance/recoveries.html", user=current_user)


@bp.route("/sanction-reviews")
@login_required
def reviews() -> str:
    allow(money_reader(current_user), "只有财务和项目主管、领导、审计人员可以查看失信复核")
    rows = list(db.session.scalars(sa.select(SanctionReview).order_by(
        SanctionReview.state != "open", SanctionReview.id.desc()).limit(500)))
    return render_template("finance/sanction_reviews.html", rows=rows)
