import sqlalchemy as sa

from workflow.models import Call, Organization, User, db
from workflow.services.demo import DEMO_PASSWORD, EXPERTS, USERS

GOOD_USCC = "91360700MA35A0001P"


def test_org_create_then_user_create_with_password_from_stdin(app):
    runner = app.test_cli_runner()
    out = runner.invoke(args=["org", "create", "--name", "某某大学", "--uscc", GOOD_USCC,
                              "--kind", "university"])
    assert out.exit_code == 0, out.output
    assert "已创建单位" in out.output
    out = runner.invoke(args=["user", "create", "li", "--role", "applicant", "--org", GOOD_USCC,
                              "--name", "李明", "--email", "li@example.cn", "--password-stdin"],
                        input="a-long-enough-secret\n")
    assert out.exit_code == 0, out.output
    user = db.session.scalar(sa.select(User).where(User.username == "li"))
    assert user is not None and user.roles == {"applicant"}
    assert user.organization.uscc == GOOD_USCC
    assert user.password_hash != "a-long-enough-secret"


def test_org_with_a_wrong_check_digit_is_refused_and_nothing_saved(app):
    out = app.test_cli_runner().invoke(
        args=["org", "create", "--name", "某某大学", "--uscc", "91360700MA35A0001Q"])
    assert out.exit_code != 0
    assert "校验位不正确" in out.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Organization)) == 0


def test_user_with_a_weak_password_is_refused(app):
    out = app.test_cli_runner().invoke(
        args=["user", "create", "li", "--role", "officer", "--password", "123456"])
    assert out.exit_code != 0 and "密码至少" in out.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_applicant_needs_an_organisation(app):
    out = app.test_cli_runner().invoke(
        args=["user", "create", "li", "--role", "applicant", "--password", "a-long-secret-1"])
    assert out.exit_code != 0 and "必须属于一个单位" in out.output


def test_seed_twice_does_not_duplicate(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed", "--demo"])
    assert first.exit_code == 0, first.output
    assert DEMO_PASSWORD in first.output
    for username, *_ in USERS + EXPERTS:  # type: ignore[operator]
        assert username in first.output
    second = runner.invoke(args=["seed", "--demo"])
    assert "已存在" in second.output
    count = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    assert count == len(USERS) + len(EXPERTS)
    calls = list(db.session.scalars(sa.select(Call)))
    assert sorted(c.scheme.value for c in calls) == ["baogan", "jiebang"]
    assert len(next(c for c in calls if c.scheme.value == "jiebang").challenges) == 2
