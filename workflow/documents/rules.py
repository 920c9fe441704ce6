"""The documents that ``states/`` names, each rendered (idempotently) by the worker from
the event of the transition or event that names it: its outbox consumer is
``render_<name>``."""

from __future__ import annotations

from workflow.core.models import OutboxEvent
from workflow.core.registry import Rules
from workflow.documents import official, operations
from workflow.documents.models import Document


def application(event: OutboxEvent) -> None:
    """The archival PDF of a submitted round."""
    operations.render_application(event.entity_id, int(event.payload["round"]))


def notice(event: OutboxEvent) -> None:
    """立项通知书, on approval."""
    official.render_notice(event.entity_id)


def approval_file(event: OutboxEvent) -> None:
    """立项文件 of a call, once its projects are approved."""
    official.render_approval_file(event.entity_id)


def task_book(event: OutboxEvent) -> None:
    """任务书, once the contract is signed."""
    official.render_task_book(event.entity_id)


def payment_notice(event: OutboxEvent) -> None:
    """拨付通知, for a released tranche."""
    official.render_payment_notice(event.entity_id)


def recovery_notice(event: OutboxEvent) -> None:
    """追回通知, once the recovery's notice has its 发文字号."""
    official.render_recovery_notice(event.entity_id)


RULES = Rules(
    documents={"application": application, "notice": notice, "approval_file": approval_file,
               "task_book": task_book, "payment_notice": payment_notice,
               "recovery_notice": recovery_notice},
    visible={Document: operations.can_view_document},
)
