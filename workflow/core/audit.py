"""The audit trail: one hash chain per entity, and chained digests of every chain head."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from workflow.core.models import AuditDigest, AuditEvent, db, utcnow
from workflow.core.rules import Actor

GENESIS = "0" * 64


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _stamp(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")


def _body(v: dict[str, Any]) -> dict[str, Any]:
    """What the hash covers, from an audit row's column values."""
    return {
        "entity_type": v["entity_type"],
        "entity_id": v["entity_id"],
        "seq": v["seq"],
        "actor_id": v["actor_id"],
        "actor_name": v["actor_name"],
        "actor_role": v["actor_role"],
        "at": _stamp(v["at"]),
        "trigger": v["trigger"],
        "from": v["from_state"],
        "to": v["to_state"],
        "comment": v["comment"] or "",
        "data": v["data"] or {},
        "ip": v["ip"],
    }


_HASHED = ("entity_type", "entity_id", "seq", "actor_id", "actor_name", "actor_role", "at",
           "trigger", "from_state", "to_state", "comment", "data", "ip")


def event_body(ev: AuditEvent) -> dict[str, Any]:
    return _body({key: getattr(ev, key) for key in _HASHED})


def chain_hash(prev_hash: str, body: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(body)).encode()).hexdigest()


def record(
    row: Any,
    entity_type: str,
    trigger: str,
    actor: Actor | None,
    role: str,
    from_state: str | None = None,
    to_state: str | None = None,
    comment: str = "",
    data: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Append to ``row``'s chain, whose head the row itself carries (``AuditedMixin``).

    The caller holds the row's lock (or has just created it), which orders writers of
    one chain; the unique ``(entity_type, entity_id, seq)`` backs that up.
    """
    if row.id is None:
        db.session.flush()
    seq, prev = (row.audit_seq or 0) + 1, row.audit_hash or GENESIS
    values: dict[str, Any] = {
        "entity_type": entity_type,
        "entity_id": row.id,
        "seq": seq,
        "actor_id": actor.id if actor else None,
        "actor_name": actor.name if actor else "系统",
        "actor_role": role,
        "at": utcnow(),
        "trigger": trigger,
        "from_state": from_state,
        "to_state": to_state,
        "comment": comment or "",
        "data": json.loads(canonical(data or {})),  # as it will read back
        "ip": ip,
        "prev_hash": prev,
    }
    values["hash"] = chain_hash(prev, _body(values))
    ev = AuditEvent(**values)
    row.audit_seq, row.audit_hash = seq, ev.hash
    db.session.add(ev)
    return ev


def history(entity_type: str, entity_id: int) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == entity_id)
            .order_by(AuditEvent.seq)
        )
    )


def _digest_body(d: AuditDigest) -> dict[str, Any]:
    return {"at": _stamp(d.at), "heads": d.heads}


def write_digest() -> AuditDigest | None:
    """Record the head of every chain that moved since the last digest; chain the digests.

    Returns None when nothing moved. Serialised by locking the last digest row.
    """
    last = db.session.scalar(
        sa.select(AuditDigest).order_by(AuditDigest.id.desc()).limit(1).with_for_update()
    )
    since = int(last.heads.get("_max_id", 0)) if last else 0
    rows = db.session.execute(
        sa.select(AuditEvent.entity_type, AuditEvent.entity_id, AuditEvent.seq, AuditEvent.hash,
                  AuditEvent.id)
        .where(AuditEvent.id > since)
        .order_by(AuditEvent.id)
    ).all()
    if not rows:
        return None
    heads: dict[str, Any] = {}
    for etype, eid, seq, h, _ in rows:
        key = f"{etype}:{eid}"
        if key not in heads or heads[key][0] < seq:
            heads[key] = [seq, h]
    heads["_max_id"] = rows[-1][4]
    digest = AuditDigest(at=utcnow(), heads=heads, prev_hash=last.hash if last else GENESIS)
    digest.hash = chain_hash(digest.prev_hash, _digest_body(digest))
    db.session.add(digest)
    return digest


@dataclass
class Breach:
    where: str  # "audit_event 17" or "audit_digest 3" or "application:5"
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


def _chains() -> Iterator[tuple[str, int, list[AuditEvent]]]:
    rows = db.session.scalars(
        sa.select(AuditEvent).order_by(AuditEvent.entity_type, AuditEvent.entity_id,
                                       AuditEvent.seq)
    )
    key: tuple[str, int] | None = None
    chain: list[AuditEvent] = []
    for ev in rows:
        if (ev.entity_type, ev.entity_id) != key:
            if key is not None:
                yield key[0], key[1], chain
            key, chain = (ev.entity_type, ev.entity_id), []
        chain.append(ev)
    if key is not None:
        yield key[0], key[1], chain


def _row_heads_match(heads: dict[str, tuple[int, str]]) -> list[Breach]:
    """Each audited row's own head must be its chain's last row: a chain cut short, or
    a row whose whole trail was deleted, shows here without waiting for a digest."""
    from workflow.core.entities import ENTITIES

    out: list[Breach] = []
    for kind, entity in ENTITIES.items():
        rows = db.session.execute(sa.select(
            entity.model.id, entity.model.audit_seq, entity.model.audit_hash
        ).where(entity.model.audit_seq > 0))
        for row_id, seq, h in rows:
            key = f"{kind}:{row_id}"
            if heads.get(key) != (seq, h):
                found = heads.get(key, (0, None))[0]
                out.append(Breach(key, f"记录的链头为第 {seq} 条，实际审计链只有 {found} 条"
                                       "（链尾被删除或改动）"))
    return out


def verify() -> list[Breach]:
    """Every breach found, the first altered or removed row of each chain named."""
    breaches: list[Breach] = []
    heads: dict[str, tuple[int, str]] = {}
    for etype, eid, chain in _chains():
        prev, expected_seq = GENESIS, 1
        for ev in chain:
            if ev.seq != expected_seq:
                breaches.append(Breach(
                    f"audit_event {ev.id}",
                    f"{etype}:{eid} 的第 {expected_seq} 条记录缺失（被删除）",
                ))
                break
            if ev.prev_hash != prev:
                breaches.append(
                    Breach(f"audit_event {ev.id}", "前序哈希不符（前一条被改动或删除）"))
                break
            if chain_hash(prev, event_body(ev)) != ev.hash:
                breaches.append(Breach(f"audit_event {ev.id}", "内容与哈希不符（记录被改动）"))
                break
            prev, expected_seq = ev.hash, expected_seq + 1
        heads[f"{etype}:{eid}"] = (chain[-1].seq, chain[-1].hash)
    breaches += _row_heads_match(heads)

    prev = GENESIS
    recorded: dict[str, tuple[int, str]] = {}
    for d in db.session.scalars(sa.select(AuditDigest).order_by(AuditDigest.id)):
        if d.prev_hash != prev or chain_hash(prev, _digest_body(d)) != d.hash:
            breaches.append(Breach(f"audit_digest {d.id}", "摘要链不符（摘要被改动或删除）"))
            break
        prev = d.hash
        for key, value in d.heads.items():
            if key != "_max_id":
                recorded[key] = (int(value[0]), str(value[1]))
    for key, (seq, h) in recorded.items():
        if key not in heads:
            breaches.append(Breach(key, "摘要中记录的整条审计链已不存在（被删除）"))
            continue
        kind, _, ident = key.partition(":")
        row = db.session.scalar(
            sa.select(AuditEvent).where(
                AuditEvent.entity_type == kind, AuditEvent.entity_id == int(ident),
                AuditEvent.seq == seq,
            )
        )
        if row is None:
            breaches.append(Breach(key, f"摘要记录的第 {seq} 条已不存在（链尾被截断）"))
        elif row.hash != h:
            breaches.append(Breach(f"audit_event {row.id}", "与摘要记录的哈希不符"))
    return breaches
