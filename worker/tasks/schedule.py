"""Beat jobs for time-driven triggers."""

from __future__ import annotations

from celery import shared_task

from workflow.notify import scheduler


@shared_task(name="kjflow.close_due_calls", time_limit=300, soft_time_limit=270)
def task_close_due_calls() -> int:
    return scheduler.close_due_calls()


@shared_task(name="kjflow.approve_ended_notices", time_limit=300, soft_time_limit=270)
def task_approve_ended_notices() -> int:
    return scheduler.approve_ended_notices()


@shared_task(name="kjflow.expire_review_invitations", time_limit=300, soft_time_limit=270)
def task_expire_review_invitations() -> int:
    from workflow.review import operations as reviews

    return reviews.expire_overdue()


@shared_task(name="kjflow.send_reminders", time_limit=300, soft_time_limit=270)
def task_send_reminders() -> int:
    """Safe under two beats: each reminder's key is unique per person and milestone."""
    from workflow.notify import messages

    return messages.send_reminders()


@shared_task(name="kjflow.escalate_overdue_recoveries", time_limit=300, soft_time_limit=270)
def task_escalate_overdue_recoveries() -> int:
    """追回 past its due date and not repaid: overdue, the officers and the unit told."""
    from workflow.finance import recovery

    return recovery.escalate_overdue()
@shared_task(name="kjflow.annual_reports", time_limit=600, soft_time_limit=540)
def task_annual_reports() -> int:
    """Open the year's annual reports in their window, mark the late ones overdue, and
    remind (each reminder keyed per report and step: two beats remind nobody twice)."""
    from workflow.annual import operations as annual

    return annual.open_due_reports() + annual.mark_overdue() + annual.send_reminders()


@shared_task(name="kjflow.midterm_reports", time_limit=600, soft_time_limit=540)
def task_midterm_reports() -> int:
    """Midterm reports past their due date and not sent: overdue (the team told by the
    transition's message), and the reminders (each keyed per report, round and step: two
    beats remind nobody twice)."""
    from workflow.midterm import operations as midterm

    return midterm.mark_overdue() + midterm.send_reminders()


@shared_task(name="kjflow.open_evaluations", time_limit=600, soft_time_limit=540)
def task_open_evaluations() -> int:
    """绩效评价: every closed project without an evaluation gets one (once per project:
    the closing transition opens it; this catches any it missed)."""
    from workflow.evaluation import operations as evaluations

    return evaluations.open_missing()
