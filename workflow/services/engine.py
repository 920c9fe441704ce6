"""The one path of every state change.

``fire(row, trigger, actor, ...)``: lock the row, check the version, resolve the
transition under the call's optional steps, check the role and ownership, run every
guard and collect every reason, apply the change through the lifecycle's shared
machine, record the audit row and the outbox event. The caller's unit of work
commits; a refusal raises before anything was changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from states import ROLES, SYSTEM, Transition
from workflow.models import AuditEvent, User, db, utcnow
from workflow.services import audit, outbox
from workflow.services.effects import EFFECTS, Changes
from workflow.services.entities import ENTITIES, Entity, entity_of
from workflow.services.errors import Conflict, Forbidden, GuardFailed, NotFound
from workflow.services.guards import GUARDS, GuardContext, Reason

# Triggers with more to them than the transition (a receipt and the round's snapshot, the
# review finishing the application, a reserve invited, the panel's scores): they are
# fired by their own services, never through the generic transitions endpoint or page.
SERVICE_ONLY: dict[tuple[str, str], str] = {
    ("application", "submit"): "请在申报书填写页提交",
    ("application", "resubmit"): "请在申报书填写页重新提交",
    ("review", "submit_scores"): "请在评分页提交评分",
    ("review", "decline"): "请在评审任务页谢绝（可同时声明回避）",
    ("application", "finish_defence"): "请在答辩页按评审组评分完成答辩",
    ("call", "decide"): "请在立项决策页审定立项建议名单",
    ("application", "shortlist"): "请在立项决策页拟定并审定立项名单",
    ("application", "decline_funding"): "请在立项决策页拟定并审定立项名单",
}


def fire_generic(row: Any, trigger: str, actor: User | None, **kwargs: Any) -> FireResult:
    """``fire`` for the generic transitions endpoint and page: refuses service-only
    triggers with a pointer to the right place."""
    kind = entity_of(row).kind
    if (kind, trigger) in SERVICE_ONLY:
        raise Conflict(SERVICE_ONLY[(kind, trigger)], code="use_dedicated_action")
    return fire(row, trigger, actor, **kwargs)


# After entering one of these states the system moves on at once, in the same unit of
# work: routing a (re)submitted application by the call's optional steps.
AUTOMATIC: dict[tuple[str, str], str] = {("application", "submitted"): "forward"}

# What a change sets going on other rows, in the same unit of work, once the change is
# written: a signed contract plans the tranches, a release enters the ledger, a
# termination cancels what is left to pay. Each moves its rows through ``fire`` too.
FollowUp = Callable[["FireResult", User | None, str | None], None]
FOLLOW_UPS: dict[tuple[str, str], list[FollowUp]] = {}


def follow_up(kind: str, *triggers: str) -> Callable[[FollowUp], FollowUp]:
    def register(fn: FollowUp) -> FollowUp:
        for trigger in triggers:
            FOLLOW_UPS.setdefault((kind, trigger), []).append(fn)
        return fn

    return register


@dataclass
class FireResult:
    row: Any
    trigger: str
    from_state: str
    to_state: str
    audit_event: AuditEvent
    followed_by: FireResult | None = None

    @property
    def final_state(self) -> str:
        return self.followed_by.final_state if self.followed_by else self.to_state


_LOCKS = "kjflow_locked"


def _locked(session: Session | None = None) -> dict[tuple[str, int], frozenset[str] | None]:
    """The rows this transaction has locked, each with its call's optional steps when the
    lock read them."""
    locks: dict[tuple[str, int], frozenset[str] | None] = (
        (session or db.session()).info.setdefault(_LOCKS, {}))
    return locks


def _forget_locks(session: Session, *_: Any) -> None:
    session.info.pop(_LOCKS, None)


def _forget_locks_on_rollback(session: Session, previous: Any) -> None:
    if previous.parent is None:
        session.info.pop(_LOCKS, None)


if not sa.event.contains(db.session, "after_commit", _forget_locks):
    sa.event.listen(db.session, "after_commit", _forget_locks)
    sa.event.listen(db.session, "after_soft_rollback", _forget_locks_on_rollback)


@lru_cache(maxsize=32)
def _select(kind: str, lock: bool) -> sa.Select[Any]:
    """The statement that loads (and locks) a row of ``kind`` by its id: built once, so
    that each load skips building it and computing its cache key (about a third of the
    cost of a locked load)."""
    entity = ENTITIES[kind]
    model = entity.model
    if not lock:
        return sa.select(model).where(model.id == sa.bindparam("id"))
    # PostgreSQL: writers of one row queue here; SQLite has no row locks and relies on
    # the version column instead. The call's steps come in the same statement.
    columns = [model] if entity.locked_steps is None else [model, entity.locked_steps]
    return (sa.select(*columns).where(model.id == sa.bindparam("id"))
            .with_for_update(of=model).execution_options(populate_existing=True)
            .options(*entity.lock_options))


@lru_cache(maxsize=32)
def _select_parent(kind: str, column: str) -> sa.Select[Any]:
    model = ENTITIES[kind].model
    return sa.select(getattr(model, column)).where(model.id == sa.bindparam("id"))


def load(kind: str, entity_id: int, lock: bool = False) -> Any:
    """The row, optionally locked for the rest of the transaction (and remembered as
    such, so that ``fire`` in the same transaction does not lock and load it again)."""
    entity = ENTITIES.get(kind)
    if entity is None:
        raise NotFound(f"未知的对象类型：{kind}")
    if lock and entity.parent is not None:
        parent_kind, column = entity.parent
        parent_id = db.session.scalar(_select_parent(kind, column), {"id": entity_id})
        if parent_id is not None and (parent_kind, parent_id) not in _locked():
            load(parent_kind, parent_id, lock=True)
    found = db.session.execute(_select(kind, lock), {"id": entity_id}).one_or_none()
    if found is None:
        raise NotFound(f"{entity.label}不存在")
    row = found[0]
    if lock:
        _locked()[(kind, entity_id)] = (None if entity.locked_steps is None
                                        else frozenset(found[1] or ()))
    return row


def _acting_role(entity: Entity, spec: Transition, row: Any, actor: User | None,
                 as_role: str | None) -> str:
    held = {SYSTEM} if actor is None else set(actor.roles)
    if as_role is not None:
        held &= {as_role}
    allowed = [r for r in sorted(held) if r in spec.roles]
    if not allowed:
        names = "、".join(ROLES.get(r, "系统") for r in sorted(spec.roles))
        raise Forbidden(f"“{spec.label}”只能由{names}执行", code="role_not_allowed")
    for role in allowed:
        if entity.owner(actor, role, row):
            return role
    raise Forbidden(f"您只能对本人或本单位的{entity.label}执行“{spec.label}”",
                    code="not_owner")


def _resolve(entity: Entity, row: Any, trigger: str, steps: frozenset[str]) -> Transition:
    lifecycle = entity.lifecycle
    if trigger not in lifecycle.triggers:
        raise NotFound(f"{entity.label}没有“{trigger}”操作", code="unknown_trigger")
    state = row.state
    spec = lifecycle.resolve(state, trigger, steps)
    if spec is None:
        declared = lifecycle.transitions_for(trigger)
        label = declared[0].label if declared else trigger
        raise Conflict(f"当前状态为“{state.label}”，不能执行“{label}”",
                       details={"state": state.value}, code="invalid_state")
    return spec


def check_guards(spec: Transition, ctx: GuardContext) -> list[Reason]:
    reasons: list[Reason] = []
    for name in spec.guards:
        reasons.extend(GUARDS[name](ctx))
    return reasons


def fire(
    row: Any,
    trigger: str,
    actor: User | None,
    comment: str = "",
    data: dict[str, Any] | None = None,
    expected_version: int | None = None,
    ip: str | None = None,
    as_role: str | None = None,
    now: datetime | None = None,
) -> FireResult:
    """Fire ``trigger`` on ``row`` (a model instance) as ``actor`` (None: the system)."""
    entity = entity_of(row)
    session = db.session()  # once: each ``db.session`` goes through the app context
    locked = _locked(session)
    if (entity.kind, row.id) not in locked:
        row = load(entity.kind, row.id, lock=True)
    steps = locked[(entity.kind, row.id)]
    if steps is None:
        steps = entity.steps(row)
    if expected_version is not None and row.version != expected_version:
        raise Conflict(f"{entity.label}已被他人修改（当前版本 {row.version}），请刷新后重试",
                       details={"version": row.version}, code="stale_version")
    spec = _resolve(entity, row, trigger, steps)
    role = _acting_role(entity, spec, row, actor, as_role)
    ctx = GuardContext(row=row, actor=actor, role=role, comment=(comment or "").strip(),
                       data=dict(data or {}), now=now or utcnow(), steps=steps)
    reasons = check_guards(spec, ctx)
    if reasons:
        raise GuardFailed("；".join(r.message for r in reasons),
                          details=[r.as_dict() for r in reasons])

    # No autoflush from here to the write: a lazy load inside an effect must not send
    # the half-made change on its own.
    with session.no_autoflush:
        from_state = row.state
        entity.lifecycle.apply(row, trigger, ctx.steps)
        changes = Changes(state=[from_state.value, row.state.value])
        effect = EFFECTS.get((entity.kind, trigger))
        if effect is not None:
            effect(ctx, changes)
        record = {"changes": dict(changes), "version": row.version + 1}
        if ctx.data:
            record["input"] = ctx.data
        event = audit.record(row, entity.kind, trigger, actor, role, from_state.value,
                             row.state.value, ctx.comment, record, ip)
        outbox.emit(f"{entity.kind}.{trigger}", entity.kind, row.id, {
            "from": from_state.value, "to": row.state.value,
            "actor_id": actor.id if actor else None, "role": role, "version": row.version + 1,
            "comment": ctx.comment,  # what the consumers tell people, without a query
        })
        try:
            # One flush: the row's UPDATE (checked against its version), the audit row,
            # the outbox row, and whatever the effects added. The outbox's after_flush
            # listener queues the event to be sent once the transaction commits.
            session.flush()
        except StaleDataError as err:
            raise Conflict(f"{entity.label}已被他人修改，请刷新后重试",
                           code="stale_version") from err
    result = FireResult(row, trigger, from_state.value, row.state.value, event)
    for hook in FOLLOW_UPS.get((entity.kind, trigger), ()):
        hook(result, actor, ip)
    follow = AUTOMATIC.get((entity.kind, row.state.value))
    if follow is not None:
        result.followed_by = fire(row, follow, None, ip=ip, now=ctx.now)
    return result


@dataclass
class Option:
    trigger: str
    label: str
    dest: str
    dest_label: str
    allowed: bool
    reasons: list[Reason]
    needs_comment: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger, "label": self.label, "dest": self.dest,
            "dest_label": self.dest_label, "allowed": self.allowed,
            "needs_comment": self.needs_comment,
            "reasons": [r.as_dict() for r in self.reasons],
        }


def options(row: Any, actor: User | None, now: datetime | None = None) -> list[Option]:
    """Every trigger that leaves the row's state, whether ``actor`` may fire it, and why not."""
    entity = entity_of(row)
    steps = entity.steps(row)
    out: list[Option] = []
    for spec in entity.lifecycle.available(row.state, steps):
        if (entity.kind, spec.trigger) in SERVICE_ONLY:
            continue
        reasons: list[Reason] = []
        try:
            role = _acting_role(entity, spec, row, actor, None)
        except Forbidden as err:
            reasons.append(Reason(err.code, err.message))
        else:
            # A guard that a written reason satisfies (comment_given, an early close, an
            # override) is answered when the reason is typed: such a trigger is allowed,
            # and marked as needing a comment.
            ctx = GuardContext(row=row, actor=actor, role=role, comment="理由", data={},
                               now=now or utcnow(), steps=steps)
            reasons = check_guards(spec, ctx)
            if not reasons:
                ctx.comment = ""
                needs = bool(check_guards(spec, ctx))
                out.append(Option(spec.trigger, spec.label, spec.dest.value, spec.dest.label,
                                  True, [], needs))
                continue
        out.append(Option(spec.trigger, spec.label, spec.dest.value, spec.dest.label,
                          not reasons, reasons))
    return out
