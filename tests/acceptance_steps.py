"""结题验收 step by step, as the people do it (through the services and the engine), for the
tests of the acceptance and of what follows it (finance, the project's page, the engine)."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from tests.factories import UserFactory
from workflow.acceptance import operations as acceptances
from workflow.acceptance.models import Acceptance
from workflow.core import engine
from workflow.core.models import db
from workflow.documents.official import project_indicators

REPORT = "项目按任务书完成了全部研究内容，考核指标均已达到，经费按规定使用，成果已整理归档。"
OPINION = "材料齐全，指标完成情况属实，同意该结论。"


def pdf_bytes(n: int = 0) -> bytes:
    return b"%PDF-1.4\n%" + str(n).encode() + b"\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def full_package(app: Any, *, spent_wan: str = "0", surplus_wan: str = "0",
                 spending: dict[str, str] | None = None) -> dict[str, Any]:
    """A complete package of ``app``: one paper, every indicator met."""
    body: dict[str, Any] = {
        "report": REPORT,
        "outputs": [{"kind": "paper", "title": "稀土萃取分离新工艺研究",
                     "identifier": "10.1016/j.hydromet.2026.106001"}],
        "self_assessment": {i.name: {"status": "met", "evidence": "见科技报告第三章"}
                            for i in project_indicators(app)}}
    if app.challenge_id is None:
        body.update(negative_list_declared=True, spent_wan=spent_wan, surplus_wan=surplus_wan)
    else:
        body["spending"] = spending if spending is not None else {"business": spent_wan}
    return body


def prepare(app: Any, pi: Any = None, **package: Any) -> Acceptance:
    """The team opens its acceptance, fills in the package and uploads its 科技报告."""
    pi = pi or app.applicant
    acc = acceptances.open_package(pi, app)
    acceptances.save_package(pi, acc, full_package(app, **package))
    acceptances.attach_tech_report(pi, acc, "科技报告.pdf", io.BytesIO(pdf_bytes(acc.id)))
    db.session.commit()
    return acc


def fire(acc: Acceptance, trigger: str, actor: Any, comment: str = "",
         **data: Any) -> Acceptance:
    engine.fire(engine.load("acceptance", acc.id, lock=True), trigger, actor,
                comment=comment, data=data)
    db.session.commit()
    db.session.expire_all()
    return acc


def unit_admin(app: Any) -> Any:
    return UserFactory(roles=("org_admin",), organization=app.organization)


def experts(n: int = 3) -> list[Any]:
    people = [UserFactory(roles=("expert",), name=f"验收专家{i + 1}") for i in range(n)]
    db.session.commit()
    return people


def to_panel(app: Any, officer: Any, panel: list[Any] | None = None, **package: Any
             ) -> tuple[Acceptance, list[Any]]:
    """Package submitted, endorsed by the unit, panel drawn."""
    acc = prepare(app, **package)
    fire(acc, "submit", app.applicant)
    fire(acc, "endorse", unit_admin(app), "同意报送")
    panel = panel or experts()
    fire(acc, "assign_panel", officer, expert_ids=[str(e.id) for e in panel])
    return acc, panel


def score_all(acc: Acceptance, panel: list[Any], grade: str = "pass",
              demand: Any = None, demand_grade: str | None = None,
              diligent: bool | None = None) -> None:
    names = acceptances.indicator_names(acc.application)
    for who, g in [*((e, grade) for e in panel),
                   *([(demand, demand_grade or grade)] if demand is not None else [])]:
        acceptances.score(who, acc, {
            "scores": dict.fromkeys(names, g != "fail"), "grade": g, "opinion": OPINION,
            "diligent": diligent if g == "fail" else None})
        db.session.commit()


def check_finance(acc: Acceptance, verdict: str = "pass") -> Any:
    checker = UserFactory(roles=("finance",), organization=None, name="财务审核员")
    acceptances.check_finance(checker, acc, verdict, "决算与拨付台账一致")
    db.session.commit()
    return checker


def accept(app: Any, officer: Any, grade: str = "pass", demand: Any = None,
           comment: str = "", **data: Any) -> Acceptance:
    """The whole acceptance, every voice agreeing on ``grade``."""
    acc, panel = to_panel(app, officer)
    score_all(acc, panel, grade, demand, diligent=(data.get("diligent") == "yes")
              if grade == "fail" else None)
    check_finance(acc)
    trigger = {"pass": "pass", "concluded": "conclude", "fail": "fail"}[grade]
    return fire(acc, trigger, officer, comment or ("" if grade == "pass" else OPINION), **data)


ZERO = Decimal("0.00")
