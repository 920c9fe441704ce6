"""The typed facts of an application in the shape ``data`` once carried them.

Until the facts had columns and tables of their own (migration 20261206_0002), the API
returned them inside the application's ``data``: ``commitment``/``pledge``, ``contract``,
``final_report``, ``demand_acceptance``, ``acceptance`` and ``defence_score``. Clients
still read them there, so the API builds them from the typed facts, key for key; an
application round keeps its signature the same way.

The answers themselves go out in the unit they come in (``api_data``): the form's money
answers in 万元 as typed, a milestone plan's amounts in 万元 as ``amount_wan``, as the API
takes them, though kept in yuan.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from forms import format_wan_exact
from forms.schema import FieldDef, to_input
from workflow.applying.models import Application, Signature, SignedDocument, SigningParty
from workflow.calls.operations import form_fields

KEYS = ("commitment", "pledge", "contract", "final_report", "demand_acceptance",
        "acceptance", "defence_score")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def signature_json(sig: Signature) -> dict[str, Any]:
    """A commitment letter's or pledge's signature: who, when, and which text."""
    return {"signed_by": sig.signer_name, "user_id": sig.signer_id,
            "signed_at": _iso(sig.signed_at), "text": sig.text_sha256}


def contract_json(signatures: Iterable[Signature]) -> dict[str, Any] | None:
    """The task book's signatures: the parties, each one's signer and time (the bureau's
    time is the contract's)."""
    parties = {s.party: s for s in signatures if s.document is SignedDocument.task_book}
    if not parties:
        return None
    out: dict[str, Any] = {"signed_by": sorted(p.value for p in parties)}
    for party, sig in sorted(parties.items(), key=lambda item: item[0].value):
        if party is SigningParty.bureau:
            out["signed_at"], out["bureau_signer"] = _iso(sig.signed_at), sig.signer_name
        else:
            out[f"{party.value}_signed_at"] = _iso(sig.signed_at)
            out[f"{party.value}_signer"] = sig.signer_name
    return out


def facts_json(app: Application, keys: Iterable[str] = KEYS) -> dict[str, Any]:
    """The facts ``app`` holds, under their former ``data`` keys (absent ones left out)."""
    wanted = set(keys)
    out: dict[str, Any] = {}
    for document in (SignedDocument.commitment, SignedDocument.pledge):
        sig = app.signature(document)
        if document.value in wanted and sig is not None:
            out[document.value] = signature_json(sig)
    if "contract" in wanted:
        contract = contract_json(app.signatures)
        if contract is not None:
            out["contract"] = contract
    report = app.final_report
    if "final_report" in wanted and report is not None:
        out["final_report"] = {"report": report.report, "surplus": str(report.surplus),
                               "evidence": list(report.evidence or []),
                               "submitted_at": _iso(report.submitted_at)}
    if "demand_acceptance" in wanted and app.demand_verdict is not None:
        out["demand_acceptance"] = {
            "verdict": app.demand_verdict.value, "opinion": app.demand_opinion or "",
            "by": app.demand_verdict_by or "", "at": _iso(app.demand_verdict_at)}
    if "acceptance" in wanted and app.acceptance_verdict is not None:
        out["acceptance"] = {"verdict": app.acceptance_verdict.value,
                             "opinions": app.acceptance_opinions or ""}
    if "defence_score" in wanted and app.defence_score is not None:
        out["defence_score"] = str(app.defence_score)
    return out


def milestones_wan(plan: Any) -> Any:
    """A 揭榜挂帅 milestone plan as the API reads and writes it: each amount in 万元 as
    ``amount_wan`` (kept in yuan as ``amount``, which the tranches and the task book read)."""
    if not isinstance(plan, list):
        return plan
    return [{("amount_wan" if k == "amount" else k): (format_wan_exact(v) if k == "amount"
                                                       else v) for k, v in item.items()}
            if isinstance(item, dict) else item for item in plan]


def api_data(data: dict[str, Any] | None, fields: Sequence[FieldDef] = ()) -> dict[str, Any]:
    """An application's (or a round's) ``data`` in the API's units: what a client sends
    back unchanged is taken as it is (the form's money answers and the milestones'
    amounts in 万元, as typed; kept in yuan)."""
    out = to_input(fields, data or {})
    if "milestones" in out:
        out["milestones"] = milestones_wan(out["milestones"])
    return out


def data_with_facts(app: Application,
                    fields: Sequence[FieldDef] | None = None) -> dict[str, Any]:
    """``data`` as the API returns it: the answers (in the API's units) and the facts;
    ``fields`` the form's when already read (a list reads them at once)."""
    if fields is None:
        fields = form_fields(app.call, app.form_version)
    return {**api_data(app.data, fields), **facts_json(app)}
