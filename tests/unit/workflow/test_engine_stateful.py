"""Random triggers by random roles: the engine's invariants hold after every step."""

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from states import APPLICATION, STEPS, ApplicationState, CallState, ReviewState
from tests.conftest import clear_tables
from tests.factories import (
    ApplicationFactory,
    CallFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.applying.models import Application
from workflow.core import audit, engine
from workflow.core.errors import ServiceError
from workflow.core.models import AuditEvent, OutboxEvent, db, utcnow
from workflow.review.models import ReviewAssignment

ROLES = ["applicant", "stranger", "org_admin", "recommender", "officer", "leader", "expert",
         "system"]
EVERYTHING = {
    "signed_by": ["bureau", "team", "demand"], "verdict": "pass", "objector_name": "张三",
    "objector_contact": "13812345678", "override_reason": "专家未按期提交",
}


def count(model):
    """The application's rows (an approval also writes on the call: its 立项文件 number)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(
        model.entity_type == "application"))


class ApplicationLifecycle(RuleBasedStateMachine):
    @initialize(steps=st.sets(st.sampled_from(sorted(STEPS))))
    def setup(self, steps):
        org = OrganizationFactory()
        self.users = {
            "applicant": UserFactory(organization=org, roles=("applicant",)),
            "stranger": UserFactory(roles=("applicant",)),
            "org_admin": UserFactory(organization=org, roles=("org_admin",)),
            "recommender": UserFactory(organization=None, roles=("recommender",)),
            "officer": UserFactory(organization=None, roles=("officer",)),
            "leader": UserFactory(organization=None, roles=("leader",)),
            "expert": UserFactory(roles=("expert",)),
            "system": None,
        }
        self.call = CallFactory(steps=sorted(steps), state=CallState.published)
        self.row = ApplicationFactory(
            call=self.call, applicant=self.users["applicant"],
            data={"summary": "摘要"}, signed=True)
        db.session.add(ReviewAssignment(
            application=self.row, expert=self.users["expert"], state=ReviewState.submitted,
            scores={"innovation": 80, "feasibility": 80}, total=Decimal(80)))
        db.session.commit()
        self.changes = 0

    @rule(trigger=st.sampled_from(APPLICATION.triggers), role=st.sampled_from(ROLES),
          comment=st.sampled_from(["", "理由充分的意见"]), full_data=st.booleans())
    def fire_anything(self, trigger, role, comment, full_data):
        self._fire(trigger, role, comment, full_data)

    @rule(data=st.data())
    def fire_what_the_state_offers(self, data):
        """Mostly well-formed moves, so that runs reach the later states too."""
        offered = APPLICATION.available(self.row.state, self.call.enabled_steps)
        if not offered:
            return
        spec = data.draw(st.sampled_from(offered))
        role = data.draw(st.sampled_from(sorted(r for r in spec.roles if r in self.users)))
        comment = data.draw(st.sampled_from(["理由充分的意见", "理由充分的意见", ""]))
        self._fire(spec.trigger, role, comment, data.draw(st.sampled_from([True, True, False])))

    def _fire(self, trigger, role, comment, full_data):
        before = (self.row.state, self.row.version, count(AuditEvent), count(OutboxEvent))
        try:
            # The inputs the trigger declares (anything else is refused by name).
            takes = {f.name for s in APPLICATION.transitions_for(trigger) for f in s.fields}
            data = {k: v for k, v in EVERYTHING.items() if k in takes} if full_data else {}
            result = engine.fire(self.row, trigger, self.users[role], comment=comment,
                                 data=data)
        except ServiceError as err:
            db.session.rollback()
            db.session.expire_all()
            assert err.status in (403, 404, 409, 422)
            after = (self.row.state, self.row.version, count(AuditEvent), count(OutboxEvent))
            assert after == before, f"refused {trigger} as {role} changed something"
            return
        db.session.commit()
        hops = 2 if result.followed_by else 1
        self.changes += hops
        assert self.row.version == before[1] + hops
        assert count(AuditEvent) == before[2] + hops
        # A (re)submission also announces its round (the receipt, the archival PDF).
        announced = 1 if trigger in ("submit", "resubmit") else 0
        assert count(OutboxEvent) == before[3] + hops + announced

    @rule()
    def time_passes(self):
        self.row.notice_ends_at = utcnow() - timedelta(minutes=1)
        db.session.commit()

    @rule()
    def leader_decides(self):
        self.call.state = CallState.decided
        db.session.commit()

    @invariant()
    def state_is_declared(self):
        if hasattr(self, "row"):
            assert isinstance(db.session.get(Application, self.row.id).state, ApplicationState)

    @invariant()
    def audit_rows_are_the_successful_changes_and_the_chain_verifies(self):
        if hasattr(self, "row"):
            assert count(AuditEvent) == self.changes
            assert audit.verify() == []

    def teardown(self):
        db.session.rollback()
        clear_tables()


def test_random_triggers_keep_every_invariant(app):
    run_state_machine_as_test(ApplicationLifecycle, settings=settings(
        max_examples=100, stateful_step_count=40, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
