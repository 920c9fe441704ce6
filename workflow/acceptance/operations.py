"""The verbs of 结题验收 besides its transitions: the team fills in its package (report,
科技报告, outputs, 决算 or the 包干制 declaration, self-assessment), each panel member scores
the indicators and grades the project, and finance (or an appointed auditor) checks the
决算 against the ledger. Every state change is a transition of ``states.ACCEPTANCE``."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal
from types import SimpleNamespace
from typing import IO, Any

import sqlalchemy as sa

from forms import FieldError, format_wan, parse_wan
from states import ACCEPTANCE, AcceptanceState, ApplicationState
from workflow.acceptance.models import (
    ASSESSMENTS,
    FINANCE_VERDICTS,
    GRADES,
    OUTPUT_KINDS,
    STRICTNESS,
    Acceptance,
    AcceptanceMember,
)
from workflow.annual.models import SPENDING_CATEGORIES
from workflow.applying.models import Application
from workflow.applying.visibility import can_view_application
from workflow.core import audit, engine
from workflow.core.errors import Conflict, Forbidden, Invalid
from workflow.core.files import save_upload
from workflow.core.models import Attachment, db, utcnow
from workflow.documents.official import project_indicators
from workflow.permissions import (
    allow,
    bureau_reader,
    demand_side,
    found,
    has_role,
    money_reader,
    principal_investigator,
)

A = ApplicationState
AC = AcceptanceState
EDITABLE = (AC.draft, AC.returned)
FINAL = ACCEPTANCE.final
TECH_REPORT_FIELD = "tech_report"
MIN_REPORT = 20
MIN_OPINION = 5
MAX_TEXT = 5000
MAX_OUTPUTS = 200
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# Simple format rules of each output's identifier (an empty one is refused except for
# products, whose 型号 or 批准文号 may not exist).
IDENTIFIER_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "paper": (re.compile(r"^10\.\d{4,9}/\S+$"), "DOI 应形如 10.1000/xyz123"),
    "patent": (re.compile(r"^(ZL|CN)?\d{8,12}(\.[0-9X])?([A-Z]\d?)?$"),
               "专利号应形如 ZL202110123456.7 或 CN112345678A"),
    "standard": (re.compile(r"^(GB|GB/T|GB/Z|[A-Z]{2,4}(/T)?|T/[A-Z0-9]{2,12})\s?"
                            r"\d{1,6}(\.\d{1,3})?-\d{4}$"),
                 "标准号应形如 GB/T 9704-2012 或 T/CAS 123-2021"),
    "software": (re.compile(r"^\d{4}SR\d{6,8}$"), "登记号应形如 2021SR0123456"),
}
finance_checker = has_role("finance", "auditor")


# ---- what the pages and the rules read ----------------------------------------------------

def acceptance_of(app: Application) -> Acceptance | None:
    return db.session.scalar(sa.select(Acceptance).where(Acceptance.application_id == app.id))


def indicator_names(app: Application) -> list[str]:
    return [i.name for i in project_indicators(app)]


def baogan(app: Application) -> bool:
    return app.challenge_id is None


def disbursed(app: Application) -> Decimal:
    """What the ledger paid the project (its released tranches)."""
    return app.disbursed or Decimal("0.00")


def spending_total(acc: Acceptance) -> Decimal:
    if baogan(acc.application):
        return acc.spent or Decimal("0.00")
    return sum((Decimal(v) for v in (acc.spending or {}).values()), Decimal("0.00"))


def demand_member(acc: Acceptance) -> AcceptanceMember | None:
    return next((m for m in acc.members if m.role == "demand"), None)


def proposed_grade(acc: Acceptance) -> str | None:
    """The panel's majority (experts and the demand side alike); a tie proposes the
    stricter grade. None until every member is in."""
    graded = [m.grade for m in acc.members if m.submitted_at is not None and m.grade]
    if not acc.members or len(graded) < len(acc.members):
        return None
    counts = Counter(graded)
    top = max(counts.values())
    return next(g for g in STRICTNESS if counts.get(g) == top)


def package_problems(acc: Acceptance) -> dict[str, str]:
    """What the package still lacks, by field (empty: complete)."""
    app = acc.application
    out: dict[str, str] = {}
    if len((acc.report or "").strip()) < MIN_REPORT:
        out["report"] = f"请填写结题报告（不少于{MIN_REPORT}字）"
    if not acc.tech_report_sha256:
        out["tech_report"] = "请上传科技报告（PDF）"
    if not acc.outputs:
        out["outputs"] = "请填写成果和知识产权清单（至少一项）"
    if baogan(app):
        if not acc.negative_list_declared:
            out["negative_list_declared"] = "请勾选经费使用声明（遵守负面清单）"
        if acc.spent is None:
            out["spent"] = "请填写已使用经费"
    elif not acc.spending:
        out["spending"] = "请填写经费决算表"
    total = spending_total(acc)
    if total > disbursed(app):
        out["spending" if not baogan(app) else "spent"] = (
            f"决算支出 {format_wan(total)} 万元超过已拨付的 {format_wan(disbursed(app))} 万元")
    if baogan(app) and (acc.surplus or 0) + total > disbursed(app):
        out["surplus"] = (f"已使用经费与结余之和超过已拨付的 {format_wan(disbursed(app))} 万元")
    missing = [n for n in indicator_names(app) if n not in (acc.self_assessment or {})]
    if missing:
        out["self_assessment"] = "请逐项自评考核指标：" + "、".join(missing)
    return out


# ---- the package -----------------------------------------------------------------------

def _team_lead(actor: Any, app: Application) -> None:
    found(app, actor, can_view_application, what="项目")
    allow(principal_investigator(actor, app), "只有项目负责人可以填报验收材料", code="not_owner")


def open_package(actor: Any, app: Application, ip: str | None = None) -> Acceptance:
    """The project's acceptance, opened as a draft by its principal investigator while the
    project runs (the one already opened, if any)."""
    _team_lead(actor, app)
    app = engine.load("application", app.id, lock=True)
    existing = acceptance_of(app)
    if existing is not None:
        return existing
    if app.state is not A.in_progress:
        raise Conflict(f"项目当前为“{app.state.label}”，执行中的项目才能申请结题验收",
                       code="project_not_running")
    acc = Acceptance(application_id=app.id, outputs=[], spending={}, self_assessment={})
    db.session.add(acc)
    db.session.flush()
    audit.record(acc, "acceptance", "create", actor, "applicant", None, acc.state.value, ip=ip)
    return acc


def _text(value: Any, label: str, key: str, errors: dict[str, str],
          limit: int = MAX_TEXT) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[key] = "应为文字"
        return ""
    text = value.strip()
    if _CONTROL.search(text):
        errors[key] = f"{label}含有无法保存的控制字符，请重新输入"
    elif len(text) > limit:
        errors[key] = f"{label}不超过{limit}字（当前{len(text)}字）"
    return text


def _money(value: Any, label: str, key: str, errors: dict[str, str]) -> Decimal | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        errors[key] = f"{label}应为金额（万元）"
        return None
    try:
        amount = parse_wan(str(value))
    except FieldError as err:
        errors[key] = f"{label}：{err}"
        return None
    if amount < 0:
        errors[key] = f"{label}不能为负数"
        return None
    return amount


def parse_outputs(value: Any, errors: dict[str, str]) -> list[dict[str, str]]:
    """The outputs and IP list: each with its kind, title and identifier, checked."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_OUTPUTS:
        errors["outputs"] = f"成果清单应为不超过{MAX_OUTPUTS}项的列表"
        return []
    out: list[dict[str, str]] = []
    for i, row in enumerate(value):
        key = f"outputs.{i}"
        if not isinstance(row, dict):
            errors[key] = "每项成果应含类型、名称和编号"
            continue
        kind = row.get("kind")
        if not isinstance(kind, str) or kind not in OUTPUT_KINDS:
            errors[f"{key}.kind"] = "成果类型应为：" + "、".join(
                f"{k}（{v}）" for k, v in OUTPUT_KINDS.items())
            continue
        title = _text(row.get("title"), "成果名称", f"{key}.title", errors, 300)
        ident = _text(row.get("identifier"), "编号", f"{key}.identifier", errors, 100)
        if not title:
            errors[f"{key}.title"] = f"第{i + 1}项成果：请填写名称"
        rule = IDENTIFIER_RULES.get(kind)
        if rule is not None and not rule[0].match(ident):
            errors[f"{key}.identifier"] = f"第{i + 1}项成果（{OUTPUT_KINDS[kind]}）：{rule[1]}"
        out.append({"kind": kind, "title": title, "identifier": ident})
    return out


def parse_spending(value: Any, errors: dict[str, str]) -> dict[str, str]:
    """经费决算表: 万元 by category of ``SPENDING_CATEGORIES``, stored in yuan."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors["spending"] = "经费决算表应按科目填写金额（万元）"
        return {}
    out: dict[str, str] = {}
    for key, raw in value.items():
        if key not in SPENDING_CATEGORIES:
            errors[f"spending.{key}"] = "科目应为：" + "、".join(
                f"{k}（{v}）" for k, v in SPENDING_CATEGORIES.items())
            continue
        amount = _money(raw, SPENDING_CATEGORIES[key], f"spending.{key}", errors)
        if amount is not None:
            out[key] = str(amount)
    return out


def parse_assessment(app: Application, value: Any, errors: dict[str, str]
                     ) -> dict[str, dict[str, str]]:
    if value is None:
        return {}
    names = indicator_names(app)
    if not isinstance(value, dict):
        errors["self_assessment"] = "自评应按考核指标逐项填写"
        return {}
    out: dict[str, dict[str, str]] = {}
    for name, row in value.items():
        if name not in names:
            errors["self_assessment"] = "项目没有这些考核指标：" + str(name)[:100]
            continue
        status = row.get("status") if isinstance(row, dict) else None
        if not isinstance(status, str) or status not in ASSESSMENTS:
            errors[f"self_assessment.{name}"] = f"“{name}”：请选择已完成、部分完成或未完成"
            continue
        evidence = _text(row.get("evidence"), "佐证说明", f"self_assessment.{name}", errors,
                         2000)
        if not evidence:
            errors[f"self_assessment.{name}"] = f"“{name}”：请填写完成情况和佐证说明"
        out[name] = {"status": status, "evidence": evidence}
    return out


def parse_package(app: Application, body: dict[str, Any]) -> dict[str, Any]:
    """The package's fields given, checked (a scheme's field the other scheme takes is
    refused by name); every problem in one 422."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    if "report" in body:
        out["report"] = _text(body["report"], "结题报告", "report", errors, 50000)
    if "outputs" in body:
        out["outputs"] = parse_outputs(body["outputs"], errors)
    if "self_assessment" in body:
        out["self_assessment"] = parse_assessment(app, body["self_assessment"], errors)
    if baogan(app):
        if body.get("spending"):
            errors["spending"] = "包干制项目不编制分科目决算表，请填写经费使用声明"
        if "negative_list_declared" in body:
            if not isinstance(body["negative_list_declared"], bool):
                errors["negative_list_declared"] = "应为 true 或 false"
            out["negative_list_declared"] = body["negative_list_declared"] is True
        if "spent_wan" in body:
            out["spent"] = _money(body["spent_wan"], "已使用经费", "spent_wan", errors)
        if "surplus_wan" in body:
            out["surplus"] = _money(body["surplus_wan"], "结余", "surplus_wan",
                                    errors) or Decimal("0.00")
    else:
        for name in ("negative_list_declared", "spent_wan", "surplus_wan"):
            if body.get(name) not in (None, "", False):
                errors[name] = "揭榜挂帅项目请填写分科目经费决算表（spending）"
        if "spending" in body:
            out["spending"] = parse_spending(body["spending"], errors)
    if errors:
        raise Invalid("验收材料有误：" + "；".join(list(dict.fromkeys(errors.values()))[:6]),
                      details=errors)
    return out


def _editable(actor: Any, acc: Acceptance) -> Acceptance:
    _team_lead(actor, acc.application)
    acc = engine.load("acceptance", acc.id, lock=True)
    if acc.state not in EDITABLE:
        raise Conflict(f"验收材料当前为“{acc.state.label}”，不能修改", code="not_editable")
    return acc


def save_package(actor: Any, acc: Acceptance, body: dict[str, Any],
                 expected_version: int | None = None, ip: str | None = None) -> Acceptance:
    """The team's package, saved (the fields given replace those stored)."""
    acc = _editable(actor, acc)
    if expected_version is not None and acc.version != expected_version:
        raise Conflict("验收材料已在别处修改，请刷新后再改", code="stale_version")
    values = parse_package(acc.application, body)
    changed = []
    for name, value in values.items():
        if getattr(acc, name) != value:
            setattr(acc, name, value)
            changed.append(name)
    db.session.flush()
    if changed:
        audit.record(acc, "acceptance", "update", actor, "applicant", acc.state.value,
                     acc.state.value, data={"fields": changed}, ip=ip)
    return acc


def attach_tech_report(actor: Any, acc: Acceptance, filename: str, stream: IO[bytes],
                       ip: str | None = None) -> Attachment:
    """科技报告: a PDF, checked by its content and size as every upload is."""
    acc = _editable(actor, acc)
    attachment = save_upload(actor, filename, stream, TECH_REPORT_FIELD,
                             application_id=acc.application_id)
    if attachment.kind != "pdf":
        raise Invalid("科技报告应为 PDF 文件", details={"file": "请上传 PDF"})
    acc.tech_report_sha256 = attachment.sha256
    db.session.flush()
    audit.record(acc, "acceptance", "attach_tech_report", actor, "applicant", acc.state.value,
                 acc.state.value, data={"sha256": attachment.sha256,
                                        "filename": attachment.filename}, ip=ip)
    return attachment


def tech_report_of(acc: Acceptance) -> Attachment | None:
    if not acc.tech_report_sha256:
        return None
    return db.session.scalar(sa.select(Attachment).where(
        Attachment.application_id == acc.application_id,
        Attachment.sha256 == acc.tech_report_sha256).limit(1))


# ---- the panel ---------------------------------------------------------------------------

def seat_of(user: Any, acc: Acceptance) -> AcceptanceMember | None:
    """The seat ``user`` fills on the panel: their expert seat, or the demand side's."""
    if user is None:
        return None
    for m in acc.members:
        if m.role == "expert" and m.user_id == user.id and user.has_role("expert"):
            return m
        if m.role == "demand" and demand_side(user, acc.application):
            return m
    return None


def verdict_shown(user: Any, acc: Acceptance, member: AcceptanceMember) -> bool:
    """Whether ``user`` reads ``member``'s verdict (each indicator, grade, opinion): a
    panel member still to give theirs reads only their own; the bureau (and finance) every
    verdict; the team, its unit and the others once the acceptance is concluded."""
    seat = seat_of(user, acc)
    if seat is not None and seat.submitted_at is None:
        return member.id == seat.id
    if seat is not None or bureau_reader(user) or money_reader(user):
        return True
    return acc.state in FINAL


def score(actor: Any, acc: Acceptance, body: dict[str, Any],
          ip: str | None = None) -> AcceptanceMember:
    """A panel member's verdict: each indicator met or not, the graded conclusion, the
    opinion and (at a 不通过) whether the team worked diligently. Given once."""
    acc = engine.load("acceptance", acc.id, lock=True)
    seat = seat_of(actor, acc)
    if seat is None:
        raise Forbidden("您不是本项目验收专家组成员", code="not_on_panel")
    if acc.state is not AC.panel_review:
        raise Conflict(f"验收当前为“{acc.state.label}”，不在专家组验收阶段", code="invalid_state")
    if seat.submitted_at is not None:
        raise Conflict("您已提交验收意见，不能再修改", code="already_scored")
    names = indicator_names(acc.application)
    errors: dict[str, str] = {}
    raw = body.get("scores")
    scores: dict[str, bool] = {}
    if not isinstance(raw, dict):
        errors["scores"] = "请逐项判断考核指标是否完成"
    else:
        unknown = [str(k)[:50] for k in raw if k not in names]
        if unknown:
            errors["scores"] = "项目没有这些考核指标：" + "、".join(unknown)
        for name in names:
            if not isinstance(raw.get(name), bool):
                errors[f"scores.{name}"] = f"“{name}”：请判断已完成或未完成"
            else:
                scores[name] = raw[name]
    grade = body.get("grade")
    if grade not in GRADES:
        errors["grade"] = "请选择验收结论：通过、结题或不通过"
    opinion = _text(body.get("opinion"), "验收意见", "opinion", errors)
    if len(opinion) < MIN_OPINION and "opinion" not in errors:
        errors["opinion"] = f"请填写验收意见（不少于{MIN_OPINION}字）"
    diligent = body.get("diligent")
    if diligent is not None and not isinstance(diligent, bool):
        errors["diligent"] = "应为 true 或 false"
    if grade == "fail" and acc.application.call.tolerate_failure and diligent is None:
        errors["diligent"] = "结论为不通过时，请判断项目团队是否勤勉尽责"
    if errors:
        raise Invalid("验收意见有误：" + "；".join(list(dict.fromkeys(errors.values()))[:6]),
                      details=errors)
    seat.scores, seat.grade, seat.opinion = scores, grade, opinion
    seat.diligent = diligent if grade == "fail" else None
    seat.signed_by = actor.name[:100]
    seat.submitted_at = utcnow()
    if seat.role == "demand":
        seat.user_id = actor.id
        _record_demand_verdict(acc.application, str(grade), opinion, actor)
    db.session.flush()
    # The trail names an expert by seat (专家N): the team reads it; the bureau has the id.
    # The verdict is in its data, not its comment: the team reads the trail's comments, and
    # the verdicts only once the acceptance is concluded (``verdict_shown``).
    role = "demand" if seat.role == "demand" else "expert"
    signer = actor if seat.role == "demand" else SimpleNamespace(id=actor.id, name=seat.alias)
    audit.record(acc, "acceptance", "score", signer, role, acc.state.value, acc.state.value,
                 "", {"seat": seat.seq, "grade": grade, "scores": scores,
                      "opinion": opinion[:500]}, ip)
    return seat


def _record_demand_verdict(app: Application, grade: str, opinion: str, actor: Any) -> None:
    """揭榜挂帅: the demand side's verdict is the project's too (通过 and 结题 accept it)."""
    from workflow.applying.models import Verdict

    app.demand_verdict = Verdict.failed if grade == "fail" else Verdict.passed
    app.demand_opinion = f"{GRADES[grade]}：{opinion}"[:5000]
    app.demand_verdict_by, app.demand_verdict_at = actor.name[:100], utcnow()


# ---- 财务验收 -------------------------------------------------------------------------------

def check_finance(actor: Any, acc: Acceptance, verdict: Any, opinion: Any,
                  ip: str | None = None) -> Acceptance:
    """Finance staff (or an appointed auditor) check the 决算 against the ledger: the
    disbursed amount of the project's released tranches."""
    allow(finance_checker(actor), "只有财务人员或审计人员可以进行财务验收",
          code="role_not_allowed")
    acc = engine.load("acceptance", acc.id, lock=True)
    if acc.state not in (AC.endorsed, AC.panel_review):
        raise Conflict(f"验收当前为“{acc.state.label}”，不能进行财务验收", code="invalid_state")
    if acc.finance_verdict is not None:
        raise Conflict("财务验收意见已录入", code="already_checked")
    errors: dict[str, str] = {}
    if verdict not in FINANCE_VERDICTS:
        errors["verdict"] = "请选择财务验收结论：通过或不通过"
    text = _text(opinion, "财务验收意见", "opinion", errors)
    if len(text) < MIN_OPINION and "opinion" not in errors:
        errors["opinion"] = f"请填写财务验收意见（不少于{MIN_OPINION}字）"
    paid, spent = disbursed(acc.application), spending_total(acc)
    if verdict == "pass" and spent > paid:
        errors["verdict"] = (f"决算支出 {format_wan(spent)} 万元超过账面已拨付的 "
                             f"{format_wan(paid)} 万元，不能通过")
    if errors:
        raise Invalid("财务验收意见有误：" + "；".join(dict.fromkeys(errors.values())),
                      details=errors)
    acc.finance_verdict, acc.finance_opinion = str(verdict), text
    acc.finance_by, acc.finance_at, acc.disbursed_checked = actor.name[:100], utcnow(), paid
    db.session.flush()
    role = "finance" if actor.has_role("finance") else "auditor"
    audit.record(acc, "acceptance", "check_finance", actor, role, acc.state.value,
                 acc.state.value, text[:500], {"verdict": verdict, "disbursed": str(paid),
                                               "spent": str(spent)}, ip)
    return acc


def acceptances_of_panel(user: Any) -> list[Acceptance]:
    """The acceptances waiting for ``user``'s verdict on the panel."""
    if user is None:
        return []
    rows = db.session.scalars(sa.select(Acceptance).where(
        Acceptance.state == AC.panel_review).order_by(Acceptance.id))
    return [a for a in rows if (seat := seat_of(user, a)) is not None
            and seat.submitted_at is None]


def save_final_report(actor: Any, app: Application, body: dict[str, Any],
                      ip: str | None = None) -> Acceptance:
    """The former 结题报告 call: its report (and a 包干制 project's surplus) go into the
    acceptance's package, a PDF among its evidence becomes the 科技报告; the project stays
    where it is until the package is submitted and endorsed."""
    from workflow.applying.operations import evidence_on_file

    report = body.get("report")
    if not isinstance(report, str) or len(report.strip()) < MIN_REPORT:
        raise Invalid(f"请填写结题报告（不少于{MIN_REPORT}字）",
                      details={"report": f"不少于{MIN_REPORT}字"})
    named = evidence_on_file(app, body.get("evidence")) or [""]
    acc = open_package(actor, app, ip)
    values: dict[str, Any] = {"report": report}
    if str(body.get("surplus_wan") or "").strip():
        values["surplus_wan"] = body["surplus_wan"]
    acc = save_package(actor, acc, values, ip=ip)
    pdfs = [a for a in db.session.scalars(sa.select(Attachment).where(
        Attachment.application_id == app.id,
        Attachment.sha256.in_(named)))
        if a.kind == "pdf"]
    if pdfs and not acc.tech_report_sha256:
        acc.tech_report_sha256 = pdfs[0].sha256
        db.session.flush()
    return acc


def awaiting_finance_check() -> list[Acceptance]:
    """The acceptances whose 决算 finance has still to check."""
    return list(db.session.scalars(sa.select(Acceptance).where(
        Acceptance.state.in_([AC.endorsed, AC.panel_review]),
        Acceptance.finance_verdict.is_(None)).order_by(Acceptance.id).limit(500)))
