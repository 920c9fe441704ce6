"""A person's security events on the audit trail: each is a row of the user's own hash
chain (``entity_type = "user"``), like a transition of an application, and ``flask audit
verify`` checks it with the others."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from workflow.accounts.models import User
from workflow.core import audit
from workflow.core.models import AuditEvent, db

KIND = "user"
# What each event is called on the pages.
EVENTS = {
    "password_changed": "修改密码",
    "password_reset": "管理员重置密码",
    "password_reset_by_email": "通过邮件重置密码",
    "signed_out_everywhere": "强制下线",
    "second_factor_enabled": "启用两步验证",
    "second_factor_disabled": "关闭两步验证",
    "second_factor_reset": "管理员重置两步验证",
    "recovery_code_used": "使用恢复码登录",
    "recovery_codes_renewed": "重新生成恢复码",
}


def record(user: User, trigger: str, actor: User | None, *, comment: str = "",
           data: dict[str, Any] | None = None, ip: str | None = None) -> AuditEvent:
    """Append ``trigger`` to ``user``'s chain, the user's row locked first (two events of
    one person never take the same place in the chain)."""
    if trigger not in EVENTS:
        raise ValueError(trigger)
    db.session.flush()  # an earlier event of this transaction moved the head: keep it
    db.session.execute(sa.select(User.id).where(User.id == user.id).with_for_update())
    db.session.refresh(user, ["audit_seq", "audit_hash"])
    role = "self" if actor is not None and actor.id == user.id else (
        "admin" if actor is not None else "system")
    return audit.record(user, KIND, trigger, actor, role, comment=comment or EVENTS[trigger],
                        data=data, ip=ip)


def events(user: User, limit: int = 20) -> list[AuditEvent]:
    """The person's latest security events, newest first."""
    return list(db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.entity_type == KIND,
                                    AuditEvent.entity_id == user.id)
        .order_by(AuditEvent.seq.desc()).limit(limit)))
