"""The one path of every state change.

``fire(row, trigger, actor, ...)``: lock the row, check the version, resolve the
transition under the call's optional steps, check the role and ownership, run every
guard and collect every reason (422; 409 when one says that what an earlier step
checked has changed since), apply the change through the lifecycle's shared machine,
record the audit row and the outbox event. The caller's unit of work commits; a refusal
raises before anything was changed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from forms import has_line_break
from states import OPERATIONS, ROLES, SYSTEM, Field, Transition
from workflow.core import audit, outbox, registry
from workflow.core.entities import ENTITIES, Entity, entity_of
from workflow.core.errors import Conflict, Forbidden, GuardFailed, Invalid, NotFound
from workflow.core.models import AuditEvent, OutboxEvent, db, utcnow
from workflow.core.rules import Actor, Changes, FireResult, GuardContext, Reason

# What is being carried out now (``Transition.via``): the transitions whose follow-ups are
# running, and the operation a service declared.
_CARRYING_OUT: ContextVar[tuple[str, ...]] = ContextVar("kjflow_carrying_out", default=())


@contextmanager
def carrying_out(*names: str) -> Iterator[None]:
    """Within this block, transitions carried out ``via`` one of ``names`` (a
    ``kind.trigger`` or an ``Operation``) may be fired."""
    token = _CARRYING_OUT.set((*_CARRYING_OUT.get(), *names))
    try:
        yield
    finally:
        _CARRYING_OUT.reset(token)


def _via_label(name: str) -> tuple[str, str]:
    """What a person and an API client are told carries a transition out."""
    if name in OPERATIONS:
        return f"“{OPERATIONS[name].label}”", OPERATIONS[name].api
    kind, trigger = name.split(".", 1)
    entity = ENTITIES[kind]
    label = entity.lifecycle.transitions_for(trigger)[0].label
    return (f"{entity.label}的“{label}”",
            f"POST /api/v1/{entity.collection}/{{id}}/transitions（{trigger}）")


def _carried(spec: Transition) -> bool:
    """Not carried out ``via`` anything, or by what is being carried out now."""
    return not spec.via or bool(set(spec.via) & set(_CARRYING_OUT.get()))


def _not_on_its_own(spec: Transition) -> Conflict:
    told = [_via_label(name) for name in spec.via]
    return Conflict(f"“{spec.label}”随{'或'.join(label for label, _ in told)}执行，"
                    f"不能单独执行", code="carried_out_via",
                    details={"via": list(spec.via), "api": [api for _, api in told]})


MAX_TEXT = 5000  # characters of a text input

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


def _acting_role(entity: Entity, spec: Transition, row: Any, actor: Actor | None,
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
        reasons.extend(registry.GUARDS[name](ctx))
    return reasons


def _check_fields(spec: Transition, data: dict[str, Any]) -> None:
    """Only the inputs the transition declares, each of its kind: anything else is refused
    by name, never dropped in silence."""
    errors = {name: "不接受该字段" for name in sorted(set(data) - spec.field_names)}
    for declared in spec.fields:
        if data.get(declared.name) not in (None, ""):
            problem = _field_problem(declared, data[declared.name])
            if problem:
                errors[declared.name] = problem
    if errors:
        unknown = [k for k, v in errors.items() if v == "不接受该字段"]
        message = (f"“{spec.label}”不接受以下字段：{'、'.join(unknown)}" if unknown
                   else f"“{spec.label}”的输入有误")
        raise Invalid(message, details=errors,
                      code="unknown_field" if unknown else "invalid_field")


def _field_problem(declared: Field, value: Any) -> str | None:
    kind = declared.kind
    if kind == "choice":
        return None if value in declared.choices else "应为以下之一：" + "、".join(
            declared.choices)
    if kind == "checklist":
        ok = isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, bool) for k, v in value.items())
        return None if ok else "应为 {要点: true 或 false}"
    if kind == "integer":
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and value.isascii() and value.isdigit())
        return None if ok else "应为整数"
    if kind == "list":  # of texts (attachments' SHA-256, say)
        ok = isinstance(value, list) and all(
            isinstance(v, str) and len(v) <= MAX_TEXT for v in value)
        return None if ok else "应为文字列表"
    if kind in ("money", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return "应为数字"
        try:
            number = Decimal(str(value).strip())
        except ArithmeticError:
            return "应为数字"
        return None if number.is_finite() and number >= 0 else "应为不小于零的数字"
    if not isinstance(value, str):
        return "应为文字"
    if kind == "line" and has_line_break(value):
        return "不能换行，请写在一行内"
    return None if len(value) <= MAX_TEXT else f"不超过{MAX_TEXT}字"


def fire(
    row: Any,
    trigger: str,
    actor: Actor | None,
    comment: str = "",
    data: dict[str, Any] | None = None,
    expected_version: int | None = None,
    ip: str | None = None,
    as_role: str | None = None,
    now: datetime | None = None,
) -> FireResult:
    """Fire ``trigger`` on ``row`` (a model instance) as ``actor`` (None: the system)."""
    entity = entity_of(row)
    result, spec, steps, _note = _change(entity, db.session(), row, trigger, actor, comment,
                                         data, expected_version, ip, as_role, now, flush=True)
    return _follow(entity, spec, steps, result, actor, ip)


def _change(entity: Entity, session: Session, row: Any, trigger: str, actor: Actor | None,
            comment: str, data: dict[str, Any] | None, expected_version: int | None,
            ip: str | None, as_role: str | None, now: datetime | None, *,
            flush: bool) -> tuple[FireResult, Transition, frozenset[str], dict[str, Any]]:
    """``fire`` up to its follow-ups: lock, check, change, audit, outbox, and with
    ``flush`` write it; else the audit event is left out of the session and the outbox
    event returned as its column values, for ``fire_many`` to insert with its batch."""
    locked = _locked(session)
    if (entity.kind, row.id) not in locked:
        row = load(entity.kind, row.id, lock=True)
    steps = locked[(entity.kind, row.id)]
    if steps is None:
        steps = entity.steps(row)
    if expected_version is not None and row.version != expected_version:
        raise Conflict(f"{entity.label}已被他人修改，请刷新后重试",
                       details={"version": row.version}, code="stale_version")
    spec = _resolve(entity, row, trigger, steps)
    if not _carried(spec):
        raise _not_on_its_own(spec)
    role = _acting_role(entity, spec, row, actor, as_role)
    _check_fields(spec, data or {})
    ctx = GuardContext(row=row, actor=actor, role=role, comment=(comment or "").strip(),
                       data=dict(data or {}), now=now or utcnow(), steps=steps,
                       trigger=spec.trigger)
    reasons = check_guards(spec, ctx)
    if reasons:
        raise GuardFailed("；".join(r.message for r in reasons),
                          details=[r.as_dict() for r in reasons],
                          status=max(r.status for r in reasons))

    # No autoflush from here to the write: a lazy load inside an effect must not send
    # the half-made change on its own.
    with session.no_autoflush:
        from_state = row.state
        entity.lifecycle.apply(row, trigger, ctx.steps)
        changes = Changes(state=[from_state.value, row.state.value])
        if spec.effect is not None:
            registry.EFFECTS[spec.effect](ctx, changes)
        record = {"changes": dict(changes), "version": row.version + 1}
        if ctx.data:
            record["input"] = ctx.data
        event = audit.record(row, entity.kind, trigger, actor, role, from_state.value,
                             row.state.value, ctx.comment, record, ip, add=flush)
        note = {"topic": f"{entity.kind}.{trigger}", "entity_type": entity.kind,
                "entity_id": row.id, "payload": {
                    "from": from_state.value, "to": row.state.value,
                    "actor_id": actor.id if actor else None, "role": role,
                    "version": row.version + 1,
                    "comment": ctx.comment,  # what the consumers tell, without a query
                }}
        if flush:
            outbox.emit(note["topic"], entity.kind, row.id, note["payload"])
        if flush:
            # One flush: the row's UPDATE (checked against its version), the audit row,
            # the outbox row, and whatever the effects added. The outbox's after_flush
            # listener queues the event to be sent once the transaction commits.
            _flush(entity, session)
    return (FireResult(row, trigger, from_state.value, row.state.value, event, now=ctx.now),
            spec, steps, note)


def _flush(entity: Entity, session: Session) -> None:
    try:
        session.flush()
    except StaleDataError as err:
        raise Conflict(f"{entity.label}已被他人修改，请刷新后重试",
                       code="stale_version") from err


def _follow(entity: Entity, spec: Transition, steps: frozenset[str], result: FireResult,
            actor: Actor | None, ip: str | None) -> FireResult:
    """What comes after a transition is written: its follow-ups, then the automatic
    transition from the state it reached."""
    if spec.follow_ups:
        with carrying_out(f"{entity.kind}.{result.trigger}"):
            for name in spec.follow_ups:
                registry.FOLLOW_UPS[name](result, actor, ip)
    automatic = entity.lifecycle.automatic(result.row.state, steps)
    if automatic is not None:
        result.followed_by = fire(result.row, automatic.trigger, None, ip=ip, now=result.now)
    return result


def fire_many(items: Collection[tuple[Any, str, dict[str, Any] | None]], trigger: str,
              actor: Actor | None, ip: str | None = None, as_role: str | None = None,
              now: datetime | None = None) -> list[FireResult]:
    """``fire`` on each of a batch of rows, each ``(row, comment, data)``: every row
    resolved, checked, changed, audited (on its own hash chain) and given its outbox event
    exactly as ``fire`` does, then the batch written set-based (``_write_batch``), then each
    row's follow-ups. The rows are best locked beforehand, a batch at a time, by
    ``load_many``. One refusal refuses the batch: the caller's unit of work rolls it back
    whole. The audit events of the results are written by the batch's INSERT, not by
    the session (their objects carry no id)."""
    session = db.session()
    done = []
    for row, comment, data in items:
        entity = entity_of(row)
        done.append((entity, *_change(entity, session, row, trigger, actor, comment, data,
                                      None, ip, as_role, now, flush=False)))
    if done:
        _write_batch(session, [(entity, result) for entity, result, *_ in done],
                     [note for *_, note in done])
    return [_follow(entity, spec, steps, result, actor, ip)
            for entity, result, spec, steps, _note in done]


_AUDIT_TABLE = cast(sa.Table, AuditEvent.__table__)
_OUTBOX_TABLE = cast(sa.Table, OutboxEvent.__table__)
_AUDIT_COLUMNS = tuple(c.key for c in _AUDIT_TABLE.columns if c.key != "id")


def _write_batch(session: Session, results: list[tuple[Entity, FireResult]],
                 notes: list[dict[str, Any]]) -> None:
    """A batch of changes in a few statements whatever its size: the audit rows in one
    INSERT, the outbox rows in one (their ids queued to be sent on commit, as the outbox's
    flush listener does), the rows' UPDATEs one per set of changed columns, each checked
    against the row's version; then whatever the effects added, by a flush."""
    with session.no_autoflush:
        session.execute(_AUDIT_TABLE.insert(), [
            {k: getattr(r.audit_event, k) for k in _AUDIT_COLUMNS} for _, r in results])
        ids = session.execute(_OUTBOX_TABLE.insert().returning(_OUTBOX_TABLE.c.id),
                              notes).scalars().all()
        for event_id in ids:
            outbox.pending(session, event_id)
        kinds: dict[str, tuple[Entity, list[Any]]] = {}
        for entity, r in results:
            kinds.setdefault(entity.kind, (entity, []))[1].append(r.row)
        for entity, rows in kinds.values():
            _update_rows(entity, session, rows)
    _flush(results[0][0], session)


def _update_rows(entity: Entity, session: Session, rows: list[Any]) -> None:
    """Each row's changed columns written by an executemany UPDATE per set of changed
    columns, the version checked and moved on as the session's flush would; the rows then
    hold what was written, with nothing left for the session to flush."""
    mapper = sa.inspect(entity.model)
    table = mapper.local_table
    version = mapper.version_id_col
    version_key = mapper.get_property_by_column(version).key if version is not None else None
    columns_of = {prop.key: prop.columns[0].name for prop in mapper.column_attrs}
    groups: dict[tuple[str, ...], list[tuple[Any, dict[str, Any]]]] = {}
    for row in rows:
        state = sa.inspect(row)
        # The attributes changed since the row was loaded, with their values now.
        changed = {key: state.dict[key] for key in state.committed_state
                   if key in columns_of and key != version_key and key in state.dict}
        groups.setdefault(tuple(sorted(changed)), []).append((row, changed))
    updated_on = [mapper.get_property_by_column(c).key for c in table.columns
                  if c.onupdate is not None]
    for keys, members in groups.items():
        if not keys:
            continue
        where = [table.c.id == sa.bindparam("b_id")]
        if version is not None:
            where.append(version == sa.bindparam("b_version"))
        params = []
        for row, changed in members:
            values = {columns_of[k]: v for k, v in changed.items()}
            values["b_id"] = row.id
            if version_key is not None:
                values[columns_of[version_key]] = getattr(row, version_key) + 1
                values["b_version"] = getattr(row, version_key)
            params.append(values)
        found = cast(sa.CursorResult[Any], session.execute(table.update().where(*where), params))
        if found.rowcount != len(params):
            raise Conflict(f"{entity.label}已被他人修改，请刷新后重试", code="stale_version")
        identity_map = session.identity_map
        for row, changed in members:
            state = sa.inspect(row)
            if version_key is not None:
                state.dict[version_key] = getattr(row, version_key) + 1
            if set(state.committed_state) <= {*changed, version_key}:
                # All it had changed is written: nothing left for the session to flush.
                state._commit_all(state.dict, identity_map)
            else:
                for key, value in changed.items():
                    set_committed_value(row, key, value)
                if version_key is not None:
                    set_committed_value(row, version_key, state.dict[version_key])
            # A column the UPDATE set by its own default (``onupdate``) is read again
            # when asked for.
            stale = [key for key in updated_on if key not in changed]
            if stale:
                session.expire(row, stale)


def load_many(kind: str, *where: Any, after: int = 0, limit: int = 1000) -> list[Any]:
    """The rows of ``kind`` matching ``where`` whose id is above ``after``, the first
    ``limit`` of them by id, locked for the rest of the transaction as ``load`` locks
    one (and remembered as such): a keyset batch for ``fire_many``, bound parameters
    that do not grow with the rows."""
    entity = ENTITIES[kind]
    model = entity.model
    if entity.parent is not None:
        parent_kind, column = entity.parent
        batch = (sa.select(getattr(model, column).label("parent")).where(*where, model.id > after)
                 .order_by(model.id).limit(limit).subquery())
        parents = db.session.scalars(sa.select(batch.c.parent).distinct())
        for parent_id in sorted({p for p in parents if p is not None}):
            if (parent_kind, parent_id) not in _locked():
                load(parent_kind, parent_id, lock=True)
    columns = [model] if entity.locked_steps is None else [model, entity.locked_steps]
    found = db.session.execute(
        sa.select(*columns).where(*where, model.id > after).order_by(model.id).limit(limit)
        .with_for_update(of=model).execution_options(populate_existing=True)
        .options(*entity.lock_options)).all()
    locks = _locked()
    for f in found:
        locks[(kind, f[0].id)] = (None if entity.locked_steps is None
                                  else frozenset(f[1] or ()))
    return [f[0] for f in found]


@dataclass
class Option:
    trigger: str
    label: str
    dest: str
    dest_label: str
    allowed: bool
    reasons: list[Reason]
    needs_comment: bool = False
    # The person holds a role for it and owns the row: only guards can stand in the way.
    permitted: bool = True
    # The role they would act in (None when not permitted).
    role: str | None = None
    # Carried out by another transition or an operation (``via``), never on its own: the
    # generic form does not offer it.
    dedicated: bool = False
    # It ends the row's lifecycle (irreversible: the pages ask for confirmation).
    final: bool = False
    # What the page's own inputs still have to answer (reasons the caller said its page
    # answers: a field to fill, a score to give); they do not make the option refused.
    pending: list[Reason] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger, "label": self.label, "dest": self.dest,
            "dest_label": self.dest_label, "allowed": self.allowed,
            "needs_comment": self.needs_comment, "final": self.final,
            "reasons": [r.as_dict() for r in self.reasons],
        }


def option(row: Any, spec: Transition, actor: Actor | None, now: datetime | None = None, *,
           steps: frozenset[str] | None = None,
           answered: Collection[str] = ()) -> Option:
    """May ``actor`` fire ``spec`` (a transition leaving the row's state) now, and why not.

    ``answered``: the reason codes that the caller's page answers with its own inputs (a
    payment reference typed in the queue, a form filled on the edit page): they are
    reported as ``pending`` and do not refuse. A guard that a written reason satisfies
    (comment_given, an early close, an override) is answered when the reason is typed:
    such a trigger is allowed, and marked as needing a comment."""
    entity = entity_of(row)
    if steps is None:
        steps = entity.steps(row)
    dedicated = bool(spec.via)
    made = {"trigger": spec.trigger, "label": spec.label, "dest": spec.dest.value,
            "dest_label": spec.dest.label, "dedicated": dedicated,
            "final": spec.dest in entity.lifecycle.final}
    try:
        role = _acting_role(entity, spec, row, actor, None)
    except Forbidden as err:
        return Option(**made, allowed=False, reasons=[Reason(err.code, err.message)],
                      permitted=False)
    if not _carried(spec):
        refusal = _not_on_its_own(spec)
        return Option(**made, allowed=False, reasons=[Reason(refusal.code, refusal.message)],
                      role=role)
    ctx = GuardContext(row=row, actor=actor, role=role, comment="理由", data={},
                       now=now or utcnow(), steps=steps, trigger=spec.trigger)
    reasons = check_guards(spec, ctx)
    pending = [r for r in reasons if r.code in answered]
    reasons = [r for r in reasons if r.code not in answered]
    if reasons:
        return Option(**made, allowed=False, reasons=reasons, role=role, pending=pending)
    ctx.comment = ""
    needs = any(r.code not in answered for r in check_guards(spec, ctx))
    return Option(**made, allowed=True, reasons=[], needs_comment=needs, role=role,
                  pending=pending)


def options(row: Any, actor: Actor | None, now: datetime | None = None, *,
            answered: Collection[str] = ()) -> list[Option]:
    """Every trigger that leaves the row's state, whether ``actor`` may fire it, and why
    not (those carried out ``via`` something else are refused with what carries them
    out); ``answered``: see ``option``."""
    entity = entity_of(row)
    steps = entity.steps(row)
    return [option(row, spec, actor, now, steps=steps, answered=answered)
            for spec in entity.lifecycle.available(row.state, steps)]


def permitted(row: Any, trigger: str, actor: Actor | None) -> bool:
    """May ``actor`` fire ``trigger`` from the row's state by role and ownership (guards
    not run: for lists, where a guard per row would cost a query each)."""
    entity = entity_of(row)
    spec = entity.lifecycle.resolve(row.state, trigger, entity.steps(row))
    if spec is None:
        return False
    try:
        _acting_role(entity, spec, row, actor, None)
    except Forbidden:
        return False
    return True
