"""``flask --app workflow audit verify`` and ``states diagram`` from the command line."""

import sqlalchemy as sa

from states import CallState
from tests.factories import CallFactory, UserFactory
from workflow.core import engine
from workflow.core.models import AuditEvent, db
from workflow.decisions.models import FundingDecision


def _history():
    officer = UserFactory(roles=("officer",), organization=None)
    leader = UserFactory(roles=("leader",), organization=None)
    call = CallFactory(state=CallState.closed)
    decision = FundingDecision(call_id=call.id, total=0, proposed_by_id=officer.id)
    db.session.add(decision)
    db.session.commit()
    engine.fire(call, "start_review", officer)
    engine.fire(decision, "approve", leader)  # which decides the call
    db.session.commit()
    assert call.state is CallState.decided
    return call


def test_verify_passes_on_an_untouched_trail(app):
    _history()
    out = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert out.exit_code == 0 and "审计链完整" in out.output


def test_verify_fails_naming_the_edited_row(app):
    call = _history()
    first = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.entity_id == call.id)
                               .order_by(AuditEvent.seq)).first()
    # Someone with database access rewrites who did it.
    db.session.execute(sa.text("UPDATE audit_event SET actor_name = '别人' WHERE id = :id"),
                       {"id": first.id})
    db.session.commit()
    out = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert out.exit_code == 1
    assert f"audit_event {first.id}" in out.output


def test_digest_then_deleted_history_is_detected(app):
    call = _history()
    runner = app.test_cli_runner()
    assert "已记录摘要" in runner.invoke(args=["audit", "digest"]).output
    db.session.execute(sa.delete(AuditEvent).where(AuditEvent.entity_id == call.id))
    db.session.commit()
    out = runner.invoke(args=["audit", "verify"])
    assert out.exit_code == 1 and f"call:{call.id}" in out.output


def test_states_diagram_mermaid_and_svg(app, tmp_path):
    runner = app.test_cli_runner()
    out = runner.invoke(args=["states", "diagram", "application"])
    assert out.exit_code == 0
    assert out.output.startswith("stateDiagram-v2")
    assert "formal_review --> expert_review : 形式审查通过" in out.output
    target = tmp_path / "tranche.svg"
    out = runner.invoke(args=["states", "diagram", "tranche", "--format", "svg", "-o",
                              str(target)])
    assert out.exit_code == 0, out.output
    assert target.read_text().startswith("<svg") and "已拨付" in target.read_text()
    assert runner.invoke(args=["states", "diagram", "nope"]).exit_code != 0
