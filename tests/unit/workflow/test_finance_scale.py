"""The money lists at national scale (issue 19): every finance page, tab and API list costs
a fixed number of statements whatever the number of rows (no lazy load per tranche, per
project, per call, per organisation, per recovery), and pages through everything with a
total: no list stops at a silent limit. The ledger is read by its sequence (a keyset) and
each page's balances are the ones the entries before it add up to."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from states import ApplicationState, RecoveryState, SanctionReviewState, TrancheState
from tests.conftest import api_token, client_for
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    OrganizationFactory,
    TrancheFactory,
    UserFactory,
)
from tests.statements import flat
from workflow.accounts.models import Sanction
from workflow.calls.models import Call
from workflow.core.models import db, utcnow
from workflow.finance import ledger
from workflow.finance.models import EntryKind, LedgerEntry, Recovery, SanctionReview, Tranche
from workflow.finance.recovery import today

_n = itertools.count(1)
TABS = ("due", "prepared", "approved", "on_hold", "released", "planned", "cancelled")


def add_projects(k: int = 2, call=None):
    """``k`` running projects of a new call (each of a new organisation): a tranche in
    every state, two ledger entries, a terminated sibling owing a recovery, and a
    sanction on the organisation under review."""
    call = call or CallFactory(budget=Decimal("900000000.00"),
                               collective_threshold=Decimal("300000.00"))
    for _ in range(k):
        i = next(_n)
        org = OrganizationFactory()
        pi = UserFactory(roles=("applicant",), organization=org)
        app = ApplicationFactory(call=call, applicant=pi, state=ApplicationState.in_progress,
                                 granted_amount=Decimal("2000000.00"),
                                 project_number=f"GZKJ-2026-BG-{i:04d}")
        for s, state in enumerate(TrancheState):
            extra = {"payment_ref": f"ZF{i}-{s}", "released_at": utcnow()} \
                if state is TrancheState.released else {}
            TrancheFactory(application=app, seq=s + 1, state=state, **extra)
        ledger.post(call.id, EntryKind.commitment, Decimal("2000000.00"), application_id=app.id)
        ledger.post(call.id, EntryKind.disbursement, Decimal("200000.00"),
                    application_id=app.id, ref=f"ZF{i}")
        other = ApplicationFactory(call=call, applicant=pi, state=ApplicationState.terminated,
                                   project_number=f"GZKJ-2026-BG-9{i:03d}")
        db.session.add(Recovery(application_id=other.id, amount=Decimal("1000.00"),
                                reason="项目终止", due_on=today() + timedelta(days=i),
                                state=RecoveryState.opened))
        sanction = Sanction(subject="org", name=org.name, uscc=org.uscc, reason="数据造假",
                            starts_on=today(), ends_on=today() + timedelta(days=365))
        db.session.add(sanction)
        db.session.flush()
        db.session.add(SanctionReview(sanction_id=sanction.id, application_id=app.id,
                                      subject=f"承担单位{org.name}",
                                      state=SanctionReviewState.open, held_tranche_ids=[]))
    db.session.commit()
    return call


@pytest.fixture
def people(app):
    return {role: UserFactory(username=role, roles=(role,), organization=None)
            for role in ("finance", "officer", "auditor")}


def pages(call_id: int, year: int) -> list[str]:
    return [*(f"/finance?state={t}" for t in TABS), "/finance",
            "/finance?q=GZKJ&sort=amount", "/finance?sort=payee&dir=desc",
            f"/finance?state=released&call={call_id}", f"/finance?year={year}&state=planned",
            "/finance?export=xlsx&state=released",
            "/finance/reconcile", "/finance/reconcile?sort=budget",
            f"/calls/{call_id}/ledger", f"/calls/{call_id}/ledger?page=2&per_page=10",
            "/recoveries", "/recoveries?state=opened", "/sanction-reviews",
            "/sanction-reviews?state=open"]


def apis(call_id: int) -> list[str]:
    return ["/api/v1/tranches", "/api/v1/tranches?state=due",
            "/api/v1/tranches?state=released&sort=amount",
            "/api/v1/finance/reconciliation", "/api/v1/finance/reconciliation?per_page=1",
            f"/api/v1/budgets/{call_id}/ledger", f"/api/v1/budgets/{call_id}/ledger?dir=desc",
            f"/api/v1/budgets/{call_id}/ledger?after=2&per_page=3",
            "/api/v1/recoveries", "/api/v1/recoveries?state=opened",
            "/api/v1/sanction-reviews", "/api/v1/sanction-reviews?state=open"]


@pytest.mark.parametrize("role", ["finance", "officer", "auditor"])
def test_every_money_page_and_tab_is_flat(app, people, role):
    call = add_projects(2)
    client = client_for(app, role, PASSWORD)
    for url in pages(call.id, call.year):
        # More projects of the same call (its ledger grows) and of a new call.
        flat(client, url, lambda: (add_projects(2, call), add_projects(1)))


@pytest.mark.parametrize("role", ["finance", "officer", "auditor"])
def test_every_money_api_list_is_flat(app, client, people, role):
    call = add_projects(2)
    headers = {"Authorization": "Bearer " + api_token(client, role, PASSWORD)}
    client.get("/api/v1/tranches", headers=headers)  # (the token's first use is recorded)
    for url in apis(call.id):
        flat(client, url, lambda: (add_projects(2, call), add_projects(1)), headers=headers)


def test_an_organisations_own_recoveries_are_flat(app, client, people):
    call = add_projects(1)
    pi = db.session.scalar(sa.select(Recovery)).application.applicant
    own = client_for(app, pi.username, PASSWORD)
    flat(own, "/recoveries", lambda: add_projects(2, call))
    headers = {"Authorization": "Bearer " + api_token(client, pi.username, PASSWORD)}
    client.get("/api/v1/recoveries", headers=headers)
    flat(client, "/api/v1/recoveries", lambda: add_projects(2, call), headers=headers)
    flat(client, "/api/v1/tranches", lambda: add_projects(2, call), headers=headers)


def _walk(client, url, headers):
    """Every page of an API list: (items of each page, the first page's body)."""
    first = client.get(url, headers=headers).get_json()
    out = [first["items"]]
    for n in range(2, first["pages"] + 1):
        sep = "&" if "?" in url else "?"
        out.append(client.get(f"{url}{sep}page={n}", headers=headers).get_json()["items"])
    return out, first


def test_the_api_lists_page_through_everything_with_a_total(client, people):
    add_projects(4)  # 28 tranches, 4 recoveries, 4 reviews
    add_projects(3)  # 21 more, 3 and 3
    headers = {"Authorization": "Bearer " + api_token(client, "finance", PASSWORD)}
    every = set(db.session.scalars(sa.select(Tranche.id)))
    walked, first = _walk(client, "/api/v1/tranches?per_page=10", headers)
    assert (first["total"], first["page"], first["per_page"], first["pages"]) == (49, 1, 10, 5)
    assert [len(p) for p in walked] == [10, 10, 10, 10, 9]
    seen = [t["id"] for p in walked for t in p]
    assert len(seen) == len(set(seen)) and set(seen) == every  # none twice, none left out
    due = client.get("/api/v1/tranches?state=due&per_page=5", headers=headers).get_json()
    assert (due["total"], due["pages"], len(due["items"])) == (7, 2, 5)
    beyond = client.get("/api/v1/tranches?per_page=10&page=9", headers=headers).get_json()
    assert beyond["items"] == [] and beyond["total"] == 49
    for path, model in (("/api/v1/recoveries", Recovery),
                        ("/api/v1/sanction-reviews", SanctionReview)):
        walked, first = _walk(client, f"{path}?per_page=3", headers)
        assert (first["total"], first["pages"]) == (7, 3)
        assert [len(p) for p in walked] == [3, 3, 1]
        assert {r["id"] for p in walked for r in p} == set(
            db.session.scalars(sa.select(model.id)))
    assert client.get("/api/v1/sanction-reviews?state=nope",
                      headers=headers).status_code == 422
    recovery = client.get("/api/v1/recoveries?per_page=1", headers=headers).get_json()
    assert recovery["items"][0]["doc_number"] is None


def test_the_queue_pages_through_a_tab_with_its_total(app, people):
    add_projects(6)
    client = client_for(app, "finance", PASSWORD)
    page = client.get("/finance?state=released&per_page=10").get_data(as_text=True)
    assert "共 <strong>6</strong> 条" in page
    page = client.get("/finance?per_page=10").get_data(as_text=True)
    assert "共 <strong>6</strong> 条，第 1–6 条" in page
    add_projects(6)
    first = client.get("/finance?per_page=10").get_data(as_text=True)
    second = client.get("/finance?per_page=10&page=2").get_data(as_text=True)
    assert "共 <strong>12</strong> 条，第 1–10 条" in first
    assert "第 11–12 条" in second
    rows = re.findall(r'data-tranche="(\d+)"', first) + re.findall(
        r'data-tranche="(\d+)"', second)
    assert sorted(map(int, rows)) == sorted(db.session.scalars(sa.select(Tranche.id).where(
        Tranche.state == TrancheState.due)))


def _balances(entries):
    """The balances after each entry, added up here from the amounts alone."""
    b = ledger.Balances()
    out = {}
    for e in sorted(entries, key=lambda e: e["seq"]):
        b = b.after(EntryKind(e["kind"]), Decimal(e["amount_wan"]) * 10000)
        out[e["seq"]] = b
    return out


def _wan(b):
    return {"available_wan": f"{b.available / 10000:.2f}",
            "committed_wan": f"{b.committed / 10000:.2f}",
            "disbursed_wan": f"{b.disbursed / 10000:.2f}"}


def _after(e):
    return {k: e[k.replace("_wan", "_after_wan")] for k in
            ("available_wan", "committed_wan", "disbursed_wan")}


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_the_ledger_api_pages_by_sequence_and_each_pages_balances_add_up(
        client, people, direction):
    call = add_projects(5)  # the allocation and 10 entries
    for i in range(12):
        ledger.post(call.id, EntryKind.commitment, Decimal(f"{1000 + 100 * i}.00"))
    db.session.commit()
    headers = {"Authorization": "Bearer " + api_token(client, "finance", PASSWORD)}
    url = f"/api/v1/budgets/{call.id}/ledger?per_page=5" + (
        "&dir=desc" if direction == "desc" else "")
    bodies = []
    while url:
        body = client.get(url, headers=headers).get_json()
        bodies.append(body)
        url = body["next"]
    entries = [e for b in bodies for e in b["entries"]]
    assert [len(b["entries"]) for b in bodies] == [5, 5, 5, 5, 3]
    assert {b["total"] for b in bodies} == {23}
    seqs = [e["seq"] for e in entries]
    assert seqs == (list(range(1, 24)) if direction == "asc" else list(range(23, 0, -1)))
    expected = _balances(entries)
    for e in entries:
        assert _after(e) == _wan(expected[e["seq"]]), e["seq"]
    for b in bodies:
        low = min(e["seq"] for e in b["entries"])
        high = max(e["seq"] for e in b["entries"])
        assert b["opening"] == _wan(expected.get(low - 1, ledger.Balances()))
        assert b["closing"] == _wan(expected[high])
    last = bodies[-1 if direction == "asc" else 0]["closing"]
    assert last["available_wan"] == bodies[0]["reconciliation"]["available_wan"]
    # A cursor past the end: an empty page, the balances where it would start.
    end = client.get(f"/api/v1/budgets/{call.id}/ledger?after=23", headers=headers).get_json()
    assert end["entries"] == [] and end["next"] is None
    assert end["opening"] == end["closing"] == _wan(expected[23])
    for bad in ("after=-1", "after=x", "per_page=0", "per_page=5000", "before=0",
                "after=1&before=5", "dir=up", "page=2", "after=3&dir=desc",
                "before=3&dir=asc"):
        assert client.get(f"/api/v1/budgets/{call.id}/ledger?{bad}",
                          headers=headers).status_code == 422, bad


def test_the_ledger_page_shows_a_page_of_entries_with_their_balances(app, people):
    call = add_projects(6)  # 13 entries
    client = client_for(app, "finance", PASSWORD)
    page = client.get(f"/calls/{call.id}/ledger?per_page=10&page=2").get_data(as_text=True)
    assert "共 <strong>13</strong> 条，第 11–13 条" in page
    last = db.session.scalar(sa.select(LedgerEntry).where(LedgerEntry.call_id == call.id)
                             .order_by(LedgerEntry.seq.desc()).limit(1))
    assert last.seq == 13 and ledger.reconcile(call_id=call.id).ok


def test_the_reconciliation_pages_calls_and_totals_every_call(app, client, people):
    calls = [add_projects(1) for _ in range(5)]
    headers = {"Authorization": "Bearer " + api_token(client, "finance", PASSWORD)}
    walked = []
    body = client.get("/api/v1/finance/reconciliation?per_page=2", headers=headers).get_json()
    assert (body["total"], body["pages"], body["ok"], body["problems"]) == (5, 3, True, 0)
    for n in (1, 2, 3):
        walked += client.get(f"/api/v1/finance/reconciliation?per_page=2&page={n}",
                             headers=headers).get_json()["calls"]
    assert [c["call_id"] for c in walked] == [c.id for c in calls]
    whole = ledger.reconcile()
    assert body["entries"] == sum(c.entries for c in whole.calls) == 15
    for kind in EntryKind:
        if whole.total(kind):
            assert body["totals_wan"][kind.value] == f"{whole.total(kind) / 10000:.2f}"
    # A tampered entry of a call on the last page: the first page says so.
    db.session.execute(sa.update(LedgerEntry).where(
        LedgerEntry.call_id == calls[-1].id, LedgerEntry.seq == 3).values(
        available_after=LedgerEntry.available_after + 1))
    db.session.commit()
    body = client.get("/api/v1/finance/reconciliation?per_page=2", headers=headers).get_json()
    assert (body["ok"], body["problems"]) == (False, 1)
    assert all(c["ok"] for c in body["calls"])
    page = client_for(app, "finance", PASSWORD).get("/finance/reconcile?per_page=10")
    text = page.get_data(as_text=True)
    assert "存在不一致（1 个指南）" in text and "共 <strong>5</strong> 条" in text
    assert "分录汇总的余额与账面余额不一致" in text


def test_the_summary_in_sql_is_the_sum_of_each_calls_reconciliation(app, people):
    calls = [add_projects(1) for _ in range(3)]
    ledger.post(calls[0].id, EntryKind.recovery, Decimal("100.00"), application_id=None)
    db.session.execute(sa.update(LedgerEntry).where(
        LedgerEntry.call_id == calls[1].id, LedgerEntry.seq == 3).values(
        committed_after=LedgerEntry.committed_after - 1))
    db.session.commit()
    by_call = ledger.summary_of(ledger.reconcile())
    assert by_call.problems == 1 and by_call.entries == 10
    assert ledger.summary() == by_call
    some = sa.select(Call.id).where(Call.id.in_([calls[0].id, calls[2].id]))
    assert ledger.summary(some) == ledger.summary_of(
        ledger.reconcile(call_ids=[calls[0].id, calls[2].id]))
    # An entry gone from the middle of a call's sequence: that call does not reconcile.
    db.session.execute(sa.delete(LedgerEntry).where(LedgerEntry.call_id == calls[2].id,
                                                    LedgerEntry.seq == 2))
    db.session.commit()
    gapped = ledger.summary_of(ledger.reconcile())
    assert gapped.problems == 2 and gapped.entries == 9
    assert ledger.summary() == gapped
    assert ledger.summary(some).problems == 1
