"""Pages: the recovery list (追回台账) and the list of sanction reviews (失信复核). Each
recovery and review has its own page (/recoveries/<id>, /sanction-reviews/<id>: the
workbench's entity page, with its details block and its actions)."""

from __future__ import annotations

from flask import Blueprint
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from workflow.finance.recovery_lists import RECOVERIES, SANCTION_REVIEWS
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
def reviews() -> Response | str:
    allow(money_reader(current_user), "只有财务和项目主管、领导、审计人员可以查看失信复核")
    return listing.respond(SANCTION_REVIEWS, "finance/sanction_reviews.html",
                           user=current_user)
