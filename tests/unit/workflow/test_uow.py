"""One unit of work per request (workflow/core/uow.py): a request commits once when it
succeeds and rolls back when it fails; views never commit."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, redirect, request

from states import ApplicationState, CallState
from tests.conftest import IsolatedClient, api_token, build_app, clear_tables, client_for, csrf_of
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.accounts.models import Organization, User
from workflow.applying import operations as applying
from workflow.applying.models import Application
from workflow.core import engine, outbox, uow
from workflow.core.errors import GuardFailed
from workflow.core.models import AuditEvent, OutboxEvent, db
from workflow.web import attempt

ROOT = Path(__file__).resolve().parents[3]
REASONS = [{"code": "first", "message": "第一条理由"}, {"code": "second", "message": "第二条理由"}]


def stored(statement: Any) -> Any:
    """``statement``'s scalar as another connection sees it: only what was committed."""
    with db.engine.connect() as conn:
        return conn.scalar(statement)


def count(model: Any, *where: Any) -> int:
    return int(stored(sa.select(sa.func.count()).select_from(model).where(*where)))


def state_of(row: Application) -> ApplicationState:
    state: ApplicationState = stored(sa.select(Application.state).where(Application.id == row.id))
    return state


def relayed(sent: list[tuple[str, dict[str, Any]]]) -> list[int]:
    return [i for name, kwargs in sent if name == outbox.RELAY_TASK for i in kwargs["event_ids"]]


# ---- the product's own views -------------------------------------------------------------

@pytest.fixture
def draft(app: Flask) -> Application:
    applicant = UserFactory(username="li", roles=("applicant",))
    row = ApplicationFactory(applicant=applicant, call=CallFactory(state=CallState.published),
                             data={"summary": "摘要"})
    db.session.commit()
    return row


def test_a_page_post_that_succeeds_is_committed(app, draft):
    li = client_for(app, "li", PASSWORD)
    token = csrf_of(li.get("/preferences").get_data(as_text=True))
    resp = li.post("/preferences", data={"csrf_token": token})  # reminders unticked
    assert resp.status_code == 302
    assert stored(sa.select(User.email_reminders).where(User.username == "li")) is False


def test_an_api_post_that_succeeds_is_committed_and_its_event_relayed(client, sent, draft):
    headers = {"Authorization": f"Bearer {api_token(client, 'li', PASSWORD)}"}
    resp = client.post(f"/api/v1/applications/{draft.id}/transitions", headers=headers,
                       json={"trigger": "withdraw"})
    assert resp.status_code == 200, resp.get_json()
    assert state_of(draft) is ApplicationState.withdrawn
    event_id = stored(sa.select(OutboxEvent.id).where(OutboxEvent.topic == "application.withdraw"))
    assert relayed(sent) == [event_id]


@pytest.mark.injected_fault  # the 500 it provokes is not the API's contract
def test_an_api_view_that_raises_after_writing_leaves_nothing(client, sent, draft, monkeypatch):
    fire = engine.fire

    def fire_then_fail(*args: Any, **kwargs: Any) -> Any:
        fire(*args, **kwargs)  # the change, its audit row and its outbox event are written
        raise RuntimeError("a bug after the write")

    headers = {"Authorization": f"Bearer {api_token(client, 'li', PASSWORD)}"}
    monkeypatch.setattr(engine, "fire", fire_then_fail)
    resp = client.post(f"/api/v1/applications/{draft.id}/transitions", headers=headers,
                       json={"trigger": "withdraw"})
    assert resp.status_code == 500 and resp.get_json()["error"]["code"] == "internal"
    assert state_of(draft) is ApplicationState.draft
    assert count(AuditEvent) == 0 and count(OutboxEvent) == 0
    assert relayed(sent) == []


def test_a_refused_page_action_keeps_nothing_and_shows_every_reason(app, sent, draft,
                                                                    monkeypatch):
    fire = engine.fire

    def fire_then_refuse(*args: Any, **kwargs: Any) -> Any:
        fire(*args, **kwargs)
        raise GuardFailed("条件不满足", details=REASONS)

    li = client_for(app, "li", PASSWORD)
    token = csrf_of(li.get(f"/applications/{draft.id}").get_data(as_text=True))
    monkeypatch.setattr(engine, "fire", fire_then_refuse)
    resp = li.post(f"/applications/{draft.id}/fire",
                   data={"csrf_token": token, "trigger": "withdraw"})
    assert resp.status_code == 302
    page = li.get(resp.headers["Location"]).get_data(as_text=True)
    assert "第一条理由" in page and "第二条理由" in page
    assert state_of(draft) is ApplicationState.draft
    assert count(AuditEvent) == 0 and count(OutboxEvent) == 0
    assert relayed(sent) == []


def test_a_stale_write_at_commit_is_409_on_a_page(app, draft, monkeypatch):
    def save_then_lose_the_race(actor: Any, row: Application, *args: Any) -> Application:
        # Another window saves the same draft first; this save is flushed at commit.
        db.session.execute(sa.text("UPDATE application SET version = version + 1 "
                                   "WHERE id = :id"), {"id": row.id})
        row.title = "这一次的标题"
        return row

    li = client_for(app, "li", PASSWORD)
    token = csrf_of(li.get(f"/applications/{draft.id}/edit").get_data(as_text=True))
    monkeypatch.setattr(applying, "save_draft", save_then_lose_the_race)
    resp = li.post(f"/applications/{draft.id}/autosave", data={"csrf_token": token})
    assert resp.status_code == 409
    assert "内容已被他人（或另一个窗口）修改" in resp.get_data(as_text=True)
    assert stored(sa.select(Application.version).where(Application.id == draft.id)) == 1
    assert stored(sa.select(Application.title).where(Application.id == draft.id)) == draft.title


# ---- the rule itself, on routes added after the factory -----------------------------------

def write_then() -> Any:
    """An organisation and its outbox event, then the ending the query string asks for."""
    end = request.args["end"]
    org = OrganizationFactory(name=f"uow-{end}")
    outbox.emit("organization.test", "organization", org.id)
    if end == "raise":
        raise RuntimeError("a bug after the write")
    if end == "error":
        return "refused", 422
    if end == "stale":  # another request saved the application between our read and write
        row = db.session.get(Application, int(request.args["app"]))
        assert row is not None
        db.session.execute(sa.text("UPDATE application SET version = version + 1 "
                                   "WHERE id = :id"), {"id": row.id})
        row.title = "这一次的标题"
    if end == "duplicate":  # another request took the same number first
        db.session.add(Organization(name="uow-twin", uscc=org.uscc, kind=org.kind))
    if end == "refused":
        def refused_step() -> None:
            step = OrganizationFactory(name="uow-refused-step")
            outbox.emit("organization.test", "organization", step.id)
            raise GuardFailed("条件不满足", details=REASONS)

        assert attempt(refused_step, "不应出现") is None
        return redirect("/")
    if end in ("kept", "kept-then-broken"):
        uow.keep()
        after = OrganizationFactory(name="uow-after-keep")
        outbox.emit("organization.test", "organization", after.id)
        if end == "kept-then-broken":  # the failed flush undoes the keep point's savepoint
            db.session.add(Organization(name="uow-twin", uscc=after.uscc, kind=after.kind))
            db.session.flush()
        return "refused after keeping", 422
    return "ok"


@pytest.fixture(scope="module")
def later(tmp_path_factory: pytest.TempPathFactory, _unit_app: Flask) -> Flask:
    instance = tmp_path_factory.mktemp("uow")
    app = build_app(instance, f"sqlite:///{instance / 'uow.sqlite'}", WTF_CSRF_ENABLED=False)
    _unit_app.extensions["celery"].set_default()  # the unit tier's stays the default
    with app.app_context():
        db.create_all()
    # Added once the factory has returned, as a feature's route added later would be.
    app.add_url_rule("/later", "later", write_then, methods=["POST"])
    app.add_url_rule("/api/later", "api_later", write_then, methods=["POST"])
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture
def box(later: Flask) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    sent: list[tuple[str, dict[str, Any]]] = []
    later.extensions["kjflow.outbox_sender"] = lambda name, kwargs: sent.append((name, kwargs))
    with later.app_context():
        yield sent
        db.session.remove()
        clear_tables()


def names() -> list[str]:
    with db.engine.connect() as conn:
        return sorted(conn.scalars(sa.select(Organization.name)))


def test_success_commits_once_and_relays_after(later, box):
    assert later.test_client().post("/later?end=ok").status_code == 200
    assert names() == ["uow-ok"]
    assert relayed(box) == [stored(sa.select(OutboxEvent.id))]


@pytest.mark.parametrize("prefix", ["", "/api"])
def test_raising_after_writing_leaves_nothing_and_sends_nothing(later, box, prefix):
    resp = later.test_client().post(f"{prefix}/later?end=raise")
    assert resp.status_code == 500
    assert names() == [] and count(OutboxEvent) == 0 and box == []


def test_answering_an_error_rolls_back(later, box):
    assert later.test_client().post("/later?end=error").status_code == 422
    assert names() == [] and box == []


@pytest.mark.parametrize("prefix", ["", "/api"])
def test_a_stale_write_at_commit_is_409_not_500(later, box, prefix):
    row = ApplicationFactory()
    db.session.commit()
    resp = later.test_client().post(f"{prefix}/later?end=stale&app={row.id}")
    assert resp.status_code == 409
    if prefix:
        assert resp.get_json()["error"]["code"] == "stale_version"
    else:
        assert "内容已被他人（或另一个窗口）修改" in resp.get_data(as_text=True)
    assert "uow-stale" not in names() and box == []
    assert stored(sa.select(Application.version).where(Application.id == row.id)) == 1


@pytest.mark.parametrize("prefix", ["", "/api"])
def test_a_constraint_broken_at_commit_is_409_not_500(later, box, prefix):
    resp = later.test_client().post(f"{prefix}/later?end=duplicate")
    assert resp.status_code == 409
    if prefix:
        assert resp.get_json()["error"]["code"] == "conflict"
    else:
        assert "冲突" in resp.get_data(as_text=True)
    assert names() == [] and box == []


def test_a_refused_step_is_undone_and_what_came_before_committed(later, box):
    client = later.test_client()
    resp = client.post("/later?end=refused")
    assert resp.status_code == 302
    with client.session_transaction() as session:
        assert [m for _, m in session["_flashes"]] == ["第一条理由", "第二条理由"]
    assert names() == ["uow-refused"]
    # Only the kept event leaves; the refused step's went with its savepoint.
    assert relayed(box) == [stored(sa.select(OutboxEvent.id))] and count(OutboxEvent) == 1


@pytest.mark.parametrize(("end", "status"), [("kept", 422), ("kept-then-broken", 409)])
def test_a_failing_request_commits_what_it_kept(later, box, end, status):
    assert later.test_client().post(f"/later?end={end}").status_code == status
    assert names() == [f"uow-{end}"]
    assert relayed(box) == [stored(sa.select(OutboxEvent.id))] and count(OutboxEvent) == 1


# ---- who commits ---------------------------------------------------------------------------

# Pages and API routes: views.py, api.py and the like (defence_api.py), the API's and the
# pages' shared helpers, the workbench.
VIEW_MODULES = sorted({*ROOT.glob("workflow/**/*views.py"), *ROOT.glob("workflow/**/*api.py"),
                       *ROOT.glob("workflow/api/*.py"), *ROOT.glob("workflow/workbench/*.py"),
                       *ROOT.glob("workflow/web/*.py")})

# Units of work of their own (workflow/core/uow.py): the request's, CLI commands, Celery
# tasks and the beat's per-row loops. ``None``: the whole module.
OWN_UNITS: dict[str, set[str] | None] = {
    "workflow/core/uow.py": {"dispatch_request", "fail"},
    "workflow/cli.py": None,
    "workflow/demo.py": None,
    "workflow/core/outbox.py": {"relay", "_consume_batch", "_consume"},
    "workflow/core/jobs.py": {"run"},
    "workflow/notify/notifications.py": {"deliver_many", "_record_and_commit", "_failed"},
    "workflow/notify/messages.py": {"send_reminders"},
    "workflow/notify/scheduler.py": {"_fire_each"},
    "workflow/review/operations.py": {"expire_overdue"},
    "workflow/finance/recovery.py": {"escalate_overdue"},
    # The beat's annual reports: opening a year, marking each late one, the reminders.
    "workflow/annual/operations.py": {"open_due_reports", "mark_overdue", "send_reminders"},
    # The beat's sweep: an evaluation for every closed project that has none.
    "workflow/evaluation/operations.py": {"open_missing"},
    # The beat's midterm reports: marking each late one, the reminders.
    "workflow/midterm/operations.py": {"mark_overdue", "send_reminders"},
    # A page view moves its session's "last seen" in a short transaction of its own.
    "workflow/accounts/sessions.py": {"_touch"},
}


def calls_of(path: Path, methods: tuple[str, ...]) -> Iterator[tuple[str, int, str]]:
    """(enclosing function, line, method) of each ``<something>.<method>()`` call."""
    def walk(node: ast.AST, function: str) -> Iterator[tuple[str, int, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield from walk(child, child.name)
                continue
            if (isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute)
                    and child.func.attr in methods):
                yield function, child.lineno, ast.unparse(child.func)
            yield from walk(child, function)

    yield from walk(ast.parse(path.read_text(encoding="utf-8")), "")


def test_the_view_modules_are_found():
    found = {p.relative_to(ROOT).as_posix() for p in VIEW_MODULES}
    assert {"workflow/applying/views.py", "workflow/applying/api.py", "workflow/workbench/api.py",
            "workflow/review/defence_api.py", "workflow/workbench/public.py",
            "workflow/web/__init__.py"} <= found


def test_no_view_commits_or_rolls_back():
    found = [f"{path.relative_to(ROOT)}:{line} {call}()" for path in VIEW_MODULES
             for _f, line, call in calls_of(path, ("commit", "rollback"))]
    assert found == [], "the request commits once (workflow/core/uow.py):\n" + "\n".join(found)


def test_only_units_of_work_of_their_own_commit():
    found = []
    for path in sorted(ROOT.glob("workflow/**/*.py")):
        name = path.relative_to(ROOT).as_posix()
        allowed = OWN_UNITS.get(name, set())
        for function, line, call in calls_of(path, ("commit",)):
            if call.endswith("session.commit") and allowed is not None and \
                    function not in allowed:
                found.append(f"{name}:{line} {call}() in {function or 'the module'}")
    assert found == [], "commits outside a unit of work of their own:\n" + "\n".join(found)


def test_json_columns_read_by_orjson_and_what_it_refuses_by_json():
    import math

    from workflow import _json_loads

    assert _json_loads('{"题目": "稀土", "n": [1, 2.5, null]}') == {"题目": "稀土",
                                                                   "n": [1, 2.5, None]}
    assert math.isnan(_json_loads("NaN"))
