"""The rules of 追回 and of the review of a sanction after funding that ``states/``
names (``RECOVERY``, ``SANCTION_REVIEW``, and the tranche guard ``no_integrity_hold``)."""

from __future__ import annotations

from workflow.core.registry import Consumer, Rules
from workflow.finance import recovery, sanctions

RULES = Rules(
    entities=(recovery.RECOVERY_ENTITY, sanctions.REVIEW_ENTITY),
    guards={
        "recovery_due_date_ahead": recovery.recovery_due_date_ahead,
        "instalment_valid": recovery.instalment_valid,
        "fully_repaid": recovery.fully_repaid,
        "recovery_past_due": recovery.recovery_past_due,
        "no_integrity_hold": sanctions.no_integrity_hold,
        "review_project_running": sanctions.review_project_running,
    },
    effects={
        "issue_recovery_notice": recovery.issue_recovery_notice,
        "record_instalment": recovery.record_instalment,
        "mark_overdue": recovery.mark_overdue,
    },
    follow_ups={
        "close_if_repaid": recovery.close_if_repaid,
        "lift_integrity_holds": sanctions.lift_integrity_holds,
        "terminate_reviewed_project": sanctions.terminate_reviewed_project,
        "revoke_reviewed_project": sanctions.revoke_reviewed_project,
    },
    consumers={"sanction_holds": Consumer(("sanction.recorded",),
                                          sanctions.sanction_recorded)},
)
