"""What a transition changes besides the state, per (entity kind, trigger).

Each effect sets fields through ``Changes.set`` so that the audit row records every
field's old and new value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from workflow.core.guards import GuardContext
from workflow.timeutil import period_end


class Changes(dict[str, list[Any]]):
    def set(self, row: Any, name: str, value: Any) -> None:
        old = getattr(row, name)
        if old != value:
            setattr(row, name, value)
            self[name] = [_plain(old), _plain(value)]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return json.loads(json.dumps(value, default=str))


Effect = Callable[[GuardContext, Changes], None]
EFFECTS: dict[tuple[str, str], Effect] = {}


def effect(kind: str, *triggers: str) -> Callable[[Effect], Effect]:
    def register(fn: Effect) -> Effect:
        for trigger in triggers:
            EFFECTS[(kind, trigger)] = fn
        return fn

    return register


def _merge_data(ctx: GuardContext, ch: Changes, **entries: Any) -> None:
    data = dict(ctx.row.data or {})
    data.update(entries)
    ch.set(ctx.row, "data", data)


@effect("application", "submit", "resubmit")
def _submitted(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "submitted_at", ctx.now)


@effect("application", "open_notice")
def _notice_opens(ctx: GuardContext, ch: Changes) -> None:
    call = ctx.row.call
    ch.set(ctx.row, "notice_started_at", ctx.now)
    ch.set(ctx.row, "notice_ends_at",
           period_end(ctx.now, call.notice_days, call.notice_working_days))


@effect("application", "shortlist")
def _shortlisted(ctx: GuardContext, ch: Changes) -> None:
    if ctx.text("amount"):  # the decision service passes the listed amount
        ch.set(ctx.row, "granted_amount", Decimal(ctx.text("amount")))


@effect("application", "raise_objection")
def _objection_raised(ctx: GuardContext, ch: Changes) -> None:
    from workflow.core.models import db
    from workflow.decisions.models import Objection

    db.session.add(Objection(
        application_id=ctx.row.id, name=ctx.text("objector_name")[:50],
        contact=ctx.text("objector_contact")[:100],
        organization=ctx.text("objector_org")[:200], text=ctx.comment,
        ip=ctx.text("objector_ip")[:45] or None, received_at=ctx.now))


@effect("application", "uphold_objection", "dismiss_objection")
def _objection_decided(ctx: GuardContext, ch: Changes) -> None:
    from workflow.decisions.notices import resolve_objections

    upheld = ctx.row.state.value == "not_funded"
    ch["objections"] = resolve_objections(ctx.row, upheld, ctx.comment, ctx.actor, ctx.now)
    if upheld:
        from workflow.decisions.notices import settle_call

        settle_call(ctx.row, ctx.now)


@effect("application", "approve")
def _project_approved(ctx: GuardContext, ch: Changes) -> None:
    from workflow.core import numbering
    from workflow.decisions.notices import settle_call

    app = ctx.row
    if app.project_number is None:
        ch.set(app, "project_number", numbering.project_number(app.call.year, app.call.scheme))
    if app.doc_number is None:
        ch.set(app, "doc_number", numbering.doc_number(ctx.now))
    ch.set(app, "approved_at", ctx.now)
    settle_call(app, ctx.now)


@effect("application", "finish_defence")
def _defence(ctx: GuardContext, ch: Changes) -> None:
    if "defence_score" in ctx.data:  # only the defence service reaches this trigger
        _merge_data(ctx, ch, defence_score=str(ctx.data["defence_score"]))


@effect("application", "sign_contract")
def _contract(ctx: GuardContext, ch: Changes) -> None:
    contract = dict((ctx.row.data or {}).get("contract") or {})
    signed = sorted(set(contract.get("signed_by", [])) | {"bureau"})
    contract.update(signed_by=signed, signed_at=ctx.now.isoformat(),
                    bureau_signer=ctx.actor.name if ctx.actor else "")
    _merge_data(ctx, ch, contract=contract)


@effect("application", "pass_acceptance", "fail_acceptance")
def _acceptance(ctx: GuardContext, ch: Changes) -> None:
    verdict = "pass" if (ctx.text("verdict") or "pass") == "pass" else "fail"
    if ctx.data:
        _merge_data(ctx, ch, acceptance={"verdict": verdict,
                                          "opinions": ctx.text("opinions")})


@effect("review", "decline")
def _declined(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "decline_reason", ctx.comment)


@effect("review", "submit_scores")
def _scored(ctx: GuardContext, ch: Changes) -> None:
    from workflow.review.ranking import weighted_total

    review = ctx.row
    ch.set(review, "total", weighted_total(review.application.call.rubric or [],
                                           review.scores or {}))
    ch.set(review, "submitted_at", ctx.now)


@effect("tranche", "prepare")
def _prepared(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "prepared_by_id", ctx.actor.id if ctx.actor else None)
    # A new voucher needs a new check: an approval given before a hold lapses.
    ch.set(ctx.row, "approved_by_id", None)


@effect("tranche", "approve")
def _approved(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "approved_by_id", ctx.actor.id if ctx.actor else None)
    if ctx.text("decision_ref"):
        ch.set(ctx.row, "decision_ref", ctx.text("decision_ref")[:100])


@effect("tranche", "release")
def _released(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "payment_ref", ctx.text("payment_ref")[:100])
    ch.set(ctx.row, "released_at", ctx.now)
