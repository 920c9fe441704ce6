"""The searches of applications and tranches through their index of two-character pieces
(issue 19), on PostgreSQL: a word finds exactly the rows ``LIKE`` would (whatever its
length, case or LIKE's own characters), and the statement the list runs can be answered
from indexes, never by reading every row to try the word on it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from states import ApplicationState, TrancheState
from tests.conftest import api_token
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    OrganizationFactory,
    TrancheFactory,
    UserFactory,
)
from workflow.accounts.lists import USERS
from workflow.accounts.models import User
from workflow.applying.lists import APPLICATIONS
from workflow.core.listing import filtered, parse
from workflow.core.models import db, utcnow
from workflow.finance.lists import TRANCHES

pytestmark = pytest.mark.integration

TITLES = ["稀土永磁电机驱动系统", "钕铁硼废料中回收稀土", "脐橙黄龙病防控", "Rare-Earth 回收率 50%",
          "油茶_良种选育", "稀", "土壤修复"]
WORDS = ["稀土", "稀土永磁", "土永", "稀", "回收", "rare-earth", "EARTH", "50%", "%", "_",
         "油茶_", "sb2026ab", "GZKJ-2026-00", "gzkj", "赣州稀土", "测试指南", "ZF-2026",
         "合同签订", "第二笔", "稀土 回收", "欧阳", "阳明", "欧阳明", "明", "没有这个词",
         "ouyang", "GZKJ.GOV", "ming.o", "kuaiji", "@"]


@pytest.fixture
def world(app: Any) -> dict[str, Any]:
    UserFactory(username="officer", roles=("officer",), organization=None)
    UserFactory(username="kuaiji", roles=("finance",), organization=None)
    UserFactory(username="admin", roles=("admin",), organization=None)
    UserFactory(username="ouyang_m", email="Ming.OuYang@gzkj.gov.cn", name="欧阳敏")
    rare = OrganizationFactory(name="赣州稀土集团有限公司")
    other = OrganizationFactory(name="江西理工大学")
    apps, tranches = [], []
    for n, title in enumerate(TITLES, 1):
        applicant = UserFactory(organization=rare if n % 3 == 0 else other,
                                **({"name": "欧阳明"} if n == 2 else {}))
        funded = n % 2 == 1
        a = ApplicationFactory(
            call=CallFactory(state="closed"), applicant=applicant, title=title,
            state=ApplicationState.in_progress if funded else ApplicationState.formal_review,
            submitted_at=utcnow(), receipt_no=f"SB2026AB{n:04d}",
            project_number=f"GZKJ-2026-{n:04d}" if funded else None,
            granted_amount=Decimal("500000.00") if funded else None)
        apps.append(a)
        if funded:
            released = n == 1
            tranches.append(TrancheFactory(
                application=a, seq=1, label="合同签订后拨付" if n < 5 else "第二笔",
                state=TrancheState.released if released else TrancheState.due,
                payment_ref=f"ZF-2026-{n}" if released else None,
                released_at=utcnow() if released else None))
    db.session.commit()
    return {"apps": apps, "tranches": tranches}


def _found(text: str | None, word: str) -> bool:
    return text is not None and word.lower() in text.lower()


def expected_applications(apps: list[Any], words: list[str]) -> set[int]:
    return {a.id for a in apps if all(any(_found(t, w) for t in (
        a.title, a.receipt_no, a.project_number, a.organization.name, a.applicant.name,
        a.call.title)) for w in words)}


def expected_tranches(tranches: list[Any], words: list[str]) -> set[int]:
    return {t.id for t in tranches if all(any(_found(x, w) for x in (
        t.project_number, t.payee_name, t.label, t.payment_ref, t.application.title,
        t.application.organization.name)) for w in words)}


def expected_users(words: list[str]) -> set[int]:
    return {u.id for u in db.session.scalars(sa.select(User)) if all(any(
        _found(x, w) for x in (u.username, u.name, u.email)) for w in words)}


def test_a_word_finds_through_the_index_exactly_what_like_finds(app, world):
    client = app.test_client()
    officer = {"Authorization": "Bearer " + api_token(client, "officer", PASSWORD)}
    kuaiji = {"Authorization": "Bearer " + api_token(client, "kuaiji", PASSWORD)}
    admin = {"Authorization": "Bearer " + api_token(client, "admin", PASSWORD)}
    for word in WORDS:
        terms = word.split()
        body = client.get("/api/v1/applications", query_string={"q": word, "per_page": 100},
                          headers=officer).get_json()
        assert {i["id"] for i in body["items"]} == \
            expected_applications(world["apps"], terms), word
        assert body["total"] == len(body["items"]), word
        body = client.get("/api/v1/tranches", query_string={"q": word, "per_page": 100},
                          headers=kuaiji).get_json()
        assert {i["id"] for i in body["items"]} == \
            expected_tranches(world["tranches"], terms), word
        body = client.get("/api/v1/users", query_string={"q": word, "per_page": 100},
                          headers=admin).get_json()
        assert {i["id"] for i in body["items"]} == expected_users(terms), word
    # Not every word finds nothing, nor everything.
    assert 0 < len(expected_applications(world["apps"], ["稀土"])) < len(world["apps"])
    assert 0 < len(expected_tranches(world["tranches"], ["稀土"])) < len(world["tranches"])


def plan(spec: Any, username: str, word: str) -> str:
    """The database's plan of the list's count with the word, when it reads a whole
    table only if nothing else can answer."""
    user = db.session.scalar(sa.select(User).where(User.username == username))
    query = filtered(spec, user, parse(spec, user, {"q": word}, defaults=False))
    sql = query.with_only_columns(sa.func.count()).order_by(None).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    db.session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    rows = db.session.execute(sa.text(f"EXPLAIN {sql}")).scalars()
    return "\n".join(rows)


@pytest.mark.parametrize("word", ["稀土", "稀土永磁", "gzkj"])
def test_the_lists_search_reads_indexes_not_every_row(app, world, word):
    with app.app_context():
        found = plan(APPLICATIONS, "officer", word)
        assert "ix_application_search_grams" in found and "ix_user_account_search_grams" in found
        assert "Seq Scan on application" not in found, found
        found = plan(TRANCHES, "kuaiji", word)
        assert "ix_tranche_search_grams" in found and "ix_tranche_organization_id" in found
        assert "Seq Scan on tranche" not in found and "application" not in found, found
        found = plan(USERS, "admin", word)
        assert "ix_user_account_login_search_grams" in found, found
        assert "Seq Scan on user_account" not in found, found
        db.session.rollback()
