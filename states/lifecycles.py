"""The lifecycles of DESIGN.md: call, application, review assignment, tranche, and the rows
that move with a project: milestone, funding decision (立项建议名单) and objection (异议)."""

from __future__ import annotations

from states.base import Event, Field, Lifecycle, Operation, Stage, StateEnum, t

APPLICANT = "applicant"
ORG_ADMIN = "org_admin"
RECOMMENDER = "recommender"
OFFICER = "officer"
EXPERT = "expert"
LEADER = "leader"
FINANCE = "finance"
DEMAND = "demand"
AUDITOR = "auditor"
ADMIN = "admin"
SYSTEM = "system"

ROLES: dict[str, str] = {
    APPLICANT: "申报人",
    ORG_ADMIN: "单位管理员",
    RECOMMENDER: "主管部门",
    OFFICER: "项目主管",
    EXPERT: "评审专家",
    LEADER: "分管领导",
    FINANCE: "财务人员",
    DEMAND: "发榜方",
    AUDITOR: "审计人员",
    ADMIN: "系统管理员",
}

# Optional steps a call may enable.
STEPS: dict[str, str] = {
    "unit_review": "单位审核",
    "recommendation": "主管部门推荐",
    "defence": "答辩",
    "midterm": "中期检查",
}


# The call's formal-review checklist as ticked: {item: true | false}.
CHECKLIST = Field("checklist", "形式审查要点", kind="checklist")
OVERRIDE_REASON = Field("override_reason", "未评完即结束评审的理由")
DECISION_ID = Field("decision_id", "立项建议名单编号", kind="integer")


class CallState(StateEnum):
    draft = ("draft", "草稿")
    published = ("published", "已发布")
    closed = ("closed", "已截止")
    reviewing = ("reviewing", "评审中")
    decided = ("decided", "已决策")
    archived = ("archived", "已归档")


CALL = Lifecycle(
    name="call",
    label="申报指南",
    states=CallState,
    initial=CallState.draft,
    final=frozenset({CallState.archived}),
    transitions=(
        t("publish", CallState.draft, CallState.published, [OFFICER], "发布",
          guards=["call_complete"]),
        t("close", CallState.published, CallState.closed, [OFFICER, SYSTEM], "截止受理",
          guards=["call_deadline_passed"],
          fields=[Field("early_close_reason", "提前截止理由")]),
        t("start_review", CallState.closed, CallState.reviewing, [OFFICER], "开始评审"),
        # The leader's approval of the pending list (立项建议名单) decides the call.
        t("decide", CallState.reviewing, CallState.decided, [LEADER], "审定立项名单",
          guards=["decision_ready"], via=["decision.approve"],
          fields=[DECISION_ID, Field("total", "拟资助总额（元）", kind="money")]),
        t("archive", CallState.decided, CallState.archived, [OFFICER], "归档"),
    ),
)


class ApplicationState(StateEnum):
    draft = ("draft", "草稿")
    submitted = ("submitted", "已提交")
    unit_review = ("unit_review", "单位审核")
    recommended = ("recommended", "主管部门推荐")
    formal_review = ("formal_review", "形式审查")
    returned = ("returned", "退回修改")
    rejected = ("rejected", "不予受理")
    expert_review = ("expert_review", "专家评审")
    defence = ("defence", "答辩")
    reviewed = ("reviewed", "评审完成")
    shortlisted = ("shortlisted", "拟立项")
    not_funded = ("not_funded", "未立项")
    public_notice = ("public_notice", "公示")
    objection = ("objection", "异议处理")
    approved = ("approved", "立项")
    contracted = ("contracted", "已签任务书")
    in_progress = ("in_progress", "执行中")
    midterm = ("midterm", "中期检查")
    acceptance = ("acceptance", "验收")
    completed = ("completed", "结题")
    failed = ("failed", "验收不通过")
    terminated = ("terminated", "终止")
    withdrawn = ("withdrawn", "已撤回")


A = ApplicationState
RUNNING = (A.approved, A.contracted, A.in_progress, A.midterm, A.acceptance)
BEFORE_FORMAL_REVIEW = (A.submitted, A.unit_review, A.recommended)

APPLICATION = Lifecycle(
    name="application",
    label="申报书",
    states=ApplicationState,
    initial=A.draft,
    final=frozenset({A.rejected, A.not_funded, A.completed, A.failed, A.terminated,
                     A.withdrawn}),
    # What the applicant follows: 申报 → 形式审查 → 专家评审 → 立项公示 → 立项 → 合同 → 执行
    # → 验收. A return for revision is back at 申报; an ending off the path (不予受理, 未立项,
    # 终止, 撤回, 验收不通过) stops the bar at the stage it happened in.
    stages=(
        Stage("申报", (A.draft, A.submitted, A.unit_review, A.recommended, A.returned)),
        Stage("形式审查", (A.formal_review,)),
        Stage("专家评审", (A.expert_review, A.defence, A.reviewed)),
        Stage("立项公示", (A.shortlisted, A.public_notice, A.objection)),
        Stage("立项", (A.approved,)),
        Stage("合同", (A.contracted,)),
        Stage("执行", (A.in_progress, A.midterm)),
        Stage("验收", (A.acceptance, A.completed)),
    ),
    transitions=(
        t("submit", A.draft, A.submitted, [APPLICANT], "提交",
          guards=["call_open", "form_complete", "signed", "within_limits", "integrity_clear",
                  "no_overdue_annual_report"],
          effect="record_submission"),
        t("resubmit", A.returned, A.submitted, [APPLICANT], "修改后重新提交",
          guards=["call_accepts_resubmission", "form_complete", "signed", "integrity_clear"],
          effect="record_submission"),
        # Routing right after (re)submission follows the call's optional steps.
        t("forward", A.submitted, A.unit_review, [SYSTEM], "送单位审核", step="unit_review",
          auto=True),
        t("forward", A.submitted, A.recommended, [SYSTEM], "送主管部门推荐",
          step="recommendation", auto=True),
        t("forward", A.submitted, A.formal_review, [SYSTEM], "送形式审查", auto=True),
        t("unit_approve", A.unit_review, A.recommended, [ORG_ADMIN], "单位审核通过",
          step="recommendation"),
        t("unit_approve", A.unit_review, A.formal_review, [ORG_ADMIN], "单位审核通过"),
        t("unit_return", A.unit_review, A.returned, [ORG_ADMIN], "单位退回",
          guards=["comment_given"]),
        t("recommend", A.recommended, A.formal_review, [RECOMMENDER], "推荐"),
        t("decline_recommendation", A.recommended, A.returned, [RECOMMENDER], "不予推荐退回",
          guards=["comment_given"]),
        t("withdraw", (A.draft, *BEFORE_FORMAL_REVIEW), A.withdrawn, [APPLICANT], "撤回"),
        t("return_for_revision", A.formal_review, A.returned, [OFFICER], "退回修改",
          guards=["comment_given", "checklist_known"], messages=["returned"],
          effect="record_formal_review", fields=[CHECKLIST]),
        t("reject", A.formal_review, A.rejected, [OFFICER], "不予受理",
          guards=["comment_given", "checklist_known"], messages=["rejected"],
          effect="record_formal_review", fields=[CHECKLIST]),
        t("pass_formal_review", A.formal_review, A.expert_review, [OFFICER],
          "形式审查通过", guards=["eligible", "checklist_known", "required_checks_ticked"],
          effect="record_formal_review", fields=[CHECKLIST]),
        t("finish_review", A.expert_review, A.defence, [OFFICER, SYSTEM], "进入答辩",
          guards=["reviews_complete"], step="defence", fields=[OVERRIDE_REASON]),
        t("finish_review", A.expert_review, A.reviewed, [OFFICER, SYSTEM], "评审完成",
          guards=["reviews_complete"], fields=[OVERRIDE_REASON]),
        t("finish_defence", A.defence, A.reviewed, [OFFICER], "答辩完成",
          guards=["defence_scored"], effect="record_defence_score"),
        # The approved list shortlists its projects and declines the call's others; for a
        # 揭榜挂帅 challenge the teams are chosen by their scores.
        t("shortlist", A.reviewed, A.shortlisted, [OFFICER, LEADER], "拟立项",
          effect="set_grant", messages=["shortlisted"],
          via=["decision.approve", "select_teams"],
          fields=[Field("amount", "拟资助金额（元）", kind="money"), DECISION_ID]),
        t("decline_funding", A.reviewed, A.not_funded, [OFFICER, LEADER], "不予立项",
          messages=["not_funded"], fields=[DECISION_ID], via=["decision.approve"]),
        t("open_notice", A.shortlisted, A.public_notice, [OFFICER], "公示",
          guards=["decision_approved", "notice_period_countable"],
          effect="open_notice_period",
          messages=["notice_opened"]),
        t("raise_objection", A.public_notice, A.objection, [OFFICER, SYSTEM], "受理异议",
          guards=["objection_real_name"], follow_ups=["record_objection"],
          messages=["objection_received"],
          fields=[Field("objector_name", "异议人姓名", kind="line", required=True),
                  Field("objector_contact", "异议人联系方式", kind="line", required=True),
                  Field("objector_org", "异议人单位", kind="line"),
                  Field("objector_ip", "提交地址", kind="line")]),
        t("uphold_objection", A.objection, A.not_funded, [OFFICER], "异议成立",
          guards=["comment_given"], follow_ups=["uphold_objections"],
          messages=["objection_decided"]),
        t("dismiss_objection", A.objection, A.public_notice, [OFFICER], "异议不成立",
          guards=["comment_given"], follow_ups=["dismiss_objections"],
          messages=["objection_decided"]),
        t("approve", A.public_notice, A.approved, [SYSTEM, OFFICER], "立项",
          guards=["notice_period_over", "no_open_objection"], effect="number_project",
          follow_ups=["commit_grant"], messages=["task_book_to_sign"]),
        t("sign_contract", A.approved, A.contracted, [OFFICER], "签订任务书",
          guards=["contract_signed"], effect="countersign_contract",
          follow_ups=["plan_tranches"], documents=["task_book"]),
        t("start", A.contracted, A.in_progress, [OFFICER, SYSTEM], "开始执行"),
        t("start_midterm", A.in_progress, A.midterm, [OFFICER], "中期检查", step="midterm"),
        t("pass_midterm", A.midterm, A.in_progress, [OFFICER], "中期检查通过",
          guards=["midterm_check_concluded"]),
        # 结题验收 is a lifecycle of its own (ACCEPTANCE below): the unit's endorsement of
        # the team's package takes the project to acceptance, and the officer's conclusion
        # after the panel and 财务验收 ends it (通过 and 结题: completed; 不通过: failed).
        t("request_acceptance", A.in_progress, A.acceptance, [SYSTEM], "申请验收",
          guards=["final_report_given"], via=["acceptance.endorse"]),
        t("pass_acceptance", A.acceptance, A.completed, [SYSTEM], "验收通过",
          guards=["acceptance_recorded", "demand_accepted"], effect="record_acceptance",
          follow_ups=["settle_completion", "open_evaluation"],
          via=["acceptance.pass", "acceptance.conclude"],
          fields=[Field("verdict", "验收结论", kind="choice", choices=("pass", "fail")),
                  Field("opinions", "专家意见")]),
        t("fail_acceptance", A.acceptance, A.failed, [SYSTEM], "验收不通过",
          guards=["comment_given"], effect="record_acceptance",
          follow_ups=["wind_up", "open_evaluation"], via=["acceptance.fail"],
          fields=[Field("verdict", "验收结论", kind="choice", choices=("pass", "fail")),
                  Field("opinions", "专家意见"),
                  Field("recovery_wan", "应追回金额（万元）", kind="money")]),
        t("terminate", RUNNING, A.terminated, [OFFICER, SYSTEM], "终止",
          guards=["comment_given"], follow_ups=["wind_up", "open_evaluation"],
          fields=[Field("recovery_wan", "应追回金额（万元）", kind="money")]),
    ),
)


class ReviewState(StateEnum):
    invited = ("invited", "已邀请")
    accepted = ("accepted", "已接受")
    declined = ("declined", "已谢绝")
    expired = ("expired", "已过期")
    submitted = ("submitted", "已提交评分")
    recused = ("recused", "已回避")


R = ReviewState
REVIEW = Lifecycle(
    name="review",
    label="评审任务",
    states=ReviewState,
    initial=R.invited,
    final=frozenset({R.declined, R.expired, R.submitted, R.recused}),
    stages=(Stage("收到邀请", (R.invited,)), Stage("评分", (R.accepted,)),
            Stage("提交评分", (R.submitted,))),
    transitions=(
        t("accept", R.invited, R.accepted, [EXPERT], "接受邀请"),
        t("decline", R.invited, R.declined, [EXPERT], "谢绝", guards=["comment_given"],
          effect="record_decline", follow_ups=["record_conflict", "invite_reserve"],
          fields=[Field("conflict_kind", "回避类型", kind="choice",
                        choices=("declared", "near_relative", "teacher_student", "joint_work"))]),
        t("expire", R.invited, R.expired, [SYSTEM, OFFICER], "邀请过期",
          guards=["invitation_overdue"], messages=["review_expired"],
          follow_ups=["invite_reserve"]),
        t("submit_scores", R.accepted, R.submitted, [EXPERT], "提交评分",
          guards=["scores_complete"], effect="total_scores",
          follow_ups=["keep_score", "finish_when_all_in"]),
        t("recuse", R.accepted, R.recused, [EXPERT, OFFICER], "回避",
          guards=["comment_given"]),
        t("cancel_invitation", R.invited, R.recused, [OFFICER], "撤销邀请",
          guards=["comment_given"]),
    ),
)


class TrancheState(StateEnum):
    planned = ("planned", "计划")
    due = ("due", "应付")
    prepared = ("prepared", "已制单")
    approved = ("approved", "已审核")
    released = ("released", "已拨付")
    on_hold = ("on_hold", "暂停")
    cancelled = ("cancelled", "已取消")


# Not a call's option: the step a prepared (or approved) tranche has when its payee's
# account is no longer the one the voucher was made out to.
PAYEE_CHANGED = "payee_changed"

T = TrancheState
TRANCHE = Lifecycle(
    name="tranche",
    label="拨付批次",
    states=TrancheState,
    initial=T.planned,
    final=frozenset({T.released, T.cancelled}),
    stages=(Stage("计划", (T.planned,)), Stage("应付", (T.due,)), Stage("制单", (T.prepared,)),
            Stage("审核", (T.approved,)), Stage("拨付", (T.released,))),
    transitions=(
        t("make_due", T.planned, T.due, [SYSTEM, OFFICER], "到期应付",
          guards=["tranche_condition_met"]),
        # The maker checks the payee's account and the voucher keeps it (name, bank,
        # account): the money goes to the account that was checked, and a released
        # tranche shows it for good. An account changed since refuses the check and the
        # payment (409) until the maker prepares the voucher again on the new account.
        t("prepare", T.due, T.prepared, [FINANCE], "制单",
          guards=["payee_account_known", "no_integrity_hold"], effect="record_maker"),
        t("reprepare", (T.prepared, T.approved), T.prepared, [FINANCE],
          "按变更后的收款账户重新制单", guards=["payee_account_known"], step=PAYEE_CHANGED,
          effect="record_maker"),
        t("approve", T.prepared, T.approved, [FINANCE], "审核",
          guards=["payee_unchanged", "checker_not_maker", "collective_decision_recorded",
                  "no_integrity_hold"],
          effect="record_checker",
          fields=[Field("decision_ref", "“三重一大”会议纪要编号", kind="line")]),
        t("release", T.approved, T.released, [FINANCE], "拨付",
          guards=["payee_unchanged", "payment_reference_given", "within_grant",
                  "no_integrity_hold"],
          effect="record_release",
          follow_ups=["post_disbursement"],
          fields=[Field("payment_ref", "支付凭证号", kind="line", required=True)]),
        # A sanction on the project's people or organisation holds its due tranches
        # (暂停拨付, by the system) until the officer's review; none moves meanwhile.
        t("hold", (T.due, T.prepared, T.approved), T.on_hold, [FINANCE, OFFICER, SYSTEM],
          "暂停", guards=["comment_given"]),
        t("resume", T.on_hold, T.due, [FINANCE, OFFICER, SYSTEM], "恢复",
          guards=["no_integrity_hold"]),
        t("cancel", (T.planned, T.due, T.prepared, T.approved, T.on_hold), T.cancelled,
          [FINANCE, OFFICER, SYSTEM], "取消", guards=["comment_given"],
          follow_ups=["return_commitment"]),
    ),
)

class MilestoneState(StateEnum):
    planned = ("planned", "待提交")
    reported = ("reported", "待验收")
    demand_accepted = ("demand_accepted", "发榜方已通过（待项目主管验收）")
    officer_accepted = ("officer_accepted", "项目主管已通过（待发榜方验收）")
    accepted = ("accepted", "验收通过")
    rejected = ("rejected", "未通过（待重新提交）")
    cancelled = ("cancelled", "已取消")


# Not a call's option: the step a milestone has when its project takes a challenge, whose
# demand side (发榜方) accepts each milestone besides the officer.
DEMAND_SIDE = "demand_side"

M = MilestoneState
JUDGED = (M.reported, M.demand_accepted, M.officer_accepted)
OPINION = ["comment_given"]  # a verdict on a milestone is given with its opinion

MILESTONE = Lifecycle(
    name="milestone",
    label="里程碑",
    states=MilestoneState,
    initial=M.planned,
    final=frozenset({M.accepted, M.cancelled}),
    stages=(Stage("提交完成情况", (M.planned, M.rejected)),
            Stage("验收", (M.reported, M.demand_accepted, M.officer_accepted)),
            Stage("验收通过", (M.accepted,))),
    transitions=(
        t("report", (M.planned, M.rejected), M.reported, [APPLICANT], "提交完成情况",
          guards=["project_in_progress", "milestone_report_given", "evidence_on_file"],
          effect="record_milestone_report",
          fields=[Field("report", "完成情况（不少于10字）", required=True),
                  Field("evidence", "佐证材料（已上传附件的 SHA-256）", kind="list")]),
        # Both the demand side and the officer accept; the second acceptance makes the
        # milestone's tranche due. A project without a demand side needs the officer only.
        t("demand_accept", M.reported, M.demand_accepted, [DEMAND], "发榜方验收通过",
          guards=OPINION, effect="record_milestone_verdict", step=DEMAND_SIDE),
        t("demand_accept", M.officer_accepted, M.accepted, [DEMAND], "发榜方验收通过",
          guards=OPINION, effect="record_milestone_verdict",
          follow_ups=["make_milestone_tranche_due"], messages=["milestone_decided"],
          step=DEMAND_SIDE),
        t("officer_accept", M.reported, M.officer_accepted, [OFFICER], "项目主管验收通过",
          guards=OPINION, effect="record_milestone_verdict", step=DEMAND_SIDE),
        t("officer_accept", M.reported, M.accepted, [OFFICER], "项目主管验收通过",
          guards=OPINION, effect="record_milestone_verdict", unless_steps=[DEMAND_SIDE],
          follow_ups=["make_milestone_tranche_due"], messages=["milestone_decided"]),
        t("officer_accept", M.demand_accepted, M.accepted, [OFFICER], "项目主管验收通过",
          guards=OPINION, effect="record_milestone_verdict",
          follow_ups=["make_milestone_tranche_due"], messages=["milestone_decided"]),
        # A rejection by a party still to judge sends it back to the team (a party that
        # passed it has given its verdict); the second rejection ends the project.
        t("reject", M.reported, M.rejected, [DEMAND, OFFICER], "验收不通过",
          guards=OPINION, effect="record_milestone_verdict",
          follow_ups=["end_project_after_rejections"], messages=["milestone_decided"]),
        t("reject", M.officer_accepted, M.rejected, [DEMAND], "验收不通过",
          guards=OPINION, effect="record_milestone_verdict",
          follow_ups=["end_project_after_rejections"], messages=["milestone_decided"]),
        t("reject", M.demand_accepted, M.rejected, [OFFICER], "验收不通过",
          guards=OPINION, effect="record_milestone_verdict",
          follow_ups=["end_project_after_rejections"], messages=["milestone_decided"]),
        t("cancel", (M.planned, *JUDGED, M.rejected), M.cancelled, [SYSTEM], "取消",
          guards=["comment_given"]),
    ),
)


class DecisionState(StateEnum):
    proposed = ("proposed", "待领导审定")
    approved = ("approved", "已审定")
    returned = ("returned", "已退回")


D = DecisionState
DECISION = Lifecycle(
    name="decision",
    label="立项建议名单",
    states=DecisionState,
    initial=D.proposed,
    final=frozenset({D.approved, D.returned}),
    stages=(Stage("拟定名单", (D.proposed,)), Stage("领导审定", (D.approved,))),
    transitions=(
        t("approve", D.proposed, D.approved, [LEADER], "审定",
          guards=["meeting_recorded"], effect="record_leader_decision",
          follow_ups=["carry_out_decision"]),
        t("send_back", D.proposed, D.returned, [LEADER], "退回重拟",
          guards=["return_reason_given"], effect="record_leader_decision"),
        t("withdraw", D.proposed, D.returned, [OFFICER], "撤回重拟",
          guards=["comment_given"], effect="record_withdrawal"),
    ),
)


class ObjectionState(StateEnum):
    open = ("open", "调查中")
    upheld = ("upheld", "异议成立")
    dismissed = ("dismissed", "异议不成立")
    not_accepted = ("not_accepted", "匿名异议，不予受理")


OB = ObjectionState
OBJECTION = Lifecycle(
    name="objection",
    label="公示异议",
    states=ObjectionState,
    initial=OB.open,
    final=frozenset({OB.upheld, OB.dismissed, OB.not_accepted}),
    stages=(Stage("调查核实", (OB.open,)),
            Stage("处理结论", (OB.upheld, OB.dismissed, OB.not_accepted))),
    transitions=(
        # The officer's finding on the project (uphold_objection / dismiss_objection)
        # closes every open objection of it.
        t("uphold", OB.open, OB.upheld, [OFFICER], "异议成立", guards=["comment_given"],
          effect="record_finding", via=["application.uphold_objection"]),
        t("dismiss", OB.open, OB.dismissed, [OFFICER], "异议不成立", guards=["comment_given"],
          effect="record_finding", via=["application.dismiss_objection"]),
        # Objections must be real-name: an anonymous one is recorded, and not accepted.
        t("refuse_anonymous", OB.open, OB.not_accepted, [SYSTEM], "匿名异议不予受理",
          guards=["objection_anonymous", "comment_given"], effect="record_finding"),
    ),
)



# ---- recovery (追回) and the review of a sanction after funding --------------------------

class RecoveryState(StateEnum):
    opened = ("opened", "待发追回通知")
    notified = ("notified", "已发追回通知")
    partly_repaid = ("partly_repaid", "部分归还")
    overdue = ("overdue", "逾期未还")
    repaid = ("repaid", "已全额追回")
    written_off = ("written_off", "已核销")


RC = RecoveryState
UNPAID = (RC.notified, RC.partly_repaid, RC.overdue)
INSTALMENT = (Field("amount_wan", "本次归还金额（万元）", kind="money", required=True),
              Field("key", "到账流水号（同一笔只记一次）", kind="line", required=True),
              Field("paid_on", "到账日期（YYYY-MM-DD）", kind="line", required=True))

RECOVERY = Lifecycle(
    name="recovery",
    label="经费追回",
    states=RecoveryState,
    initial=RC.opened,
    final=frozenset({RC.repaid, RC.written_off}),
    stages=(Stage("立案", (RC.opened,)), Stage("追回通知", (RC.notified,)),
            Stage("归还", (RC.partly_repaid, RC.overdue)), Stage("结案", (RC.repaid,))),
    transitions=(
        # The 追回通知 is issued with its 发文字号 and rendered by the worker.
        t("notify", RC.opened, RC.notified, [OFFICER], "印发追回通知",
          guards=["recovery_due_date_ahead"], effect="issue_recovery_notice",
          fields=[Field("due_on", "还款期限（YYYY-MM-DD，不给出按立案时所定）", kind="line")]),
        # Finance records each sum received: a ledger entry tied to the recovery, never
        # more than is owed, each 流水号 once; the last one closes it.
        t("receive", (RC.notified, RC.partly_repaid), RC.partly_repaid, [FINANCE],
          "登记归还款", guards=["instalment_valid"], effect="record_instalment",
          follow_ups=["close_if_repaid"], fields=INSTALMENT),
        t("receive", RC.overdue, RC.overdue, [FINANCE], "登记归还款",
          guards=["instalment_valid"], effect="record_instalment",
          follow_ups=["close_if_repaid"], fields=INSTALMENT),
        t("close", (RC.partly_repaid, RC.overdue), RC.repaid, [SYSTEM], "全额追回结案",
          guards=["fully_repaid"]),
        # The beat: past the due date and not repaid, flagged and told.
        t("escalate", (RC.notified, RC.partly_repaid), RC.overdue, [SYSTEM], "逾期督办",
          guards=["recovery_past_due"], effect="mark_overdue", messages=["recovery_overdue"]),
        t("write_off", (RC.opened, *UNPAID), RC.written_off, [LEADER], "核销结案",
          guards=["comment_given"]),
    ),
)


class SanctionReviewState(StateEnum):
    open = ("open", "待复核（暂停拨付）")
    continued = ("continued", "继续执行")
    terminated = ("terminated", "终止项目")
    revoked = ("revoked", "撤销立项")


SR = SanctionReviewState
SANCTION_REVIEW = Lifecycle(
    name="sanction_review",
    label="失信复核",
    states=SanctionReviewState,
    initial=SR.open,
    final=frozenset({SR.continued, SR.terminated, SR.revoked}),
    stages=(Stage("复核", (SR.open,)),
            Stage("复核结论", (SR.continued, SR.terminated, SR.revoked))),
    transitions=(
        t("continue", SR.open, SR.continued, [OFFICER, LEADER], "继续执行（恢复拨付）",
          guards=["comment_given"], follow_ups=["lift_integrity_holds"]),
        t("terminate", SR.open, SR.terminated, [OFFICER, LEADER], "终止项目",
          guards=["comment_given", "review_project_running"],
          follow_ups=["terminate_reviewed_project"],
          fields=[Field("recovery_wan", "应追回金额（万元）", kind="money")]),
        t("revoke", SR.open, SR.revoked, [OFFICER, LEADER], "撤销立项（全额追回）",
          guards=["comment_given", "review_project_running"],
          follow_ups=["revoke_reviewed_project"]),
    ),
)


class AnnualReportState(StateEnum):
    due = ("due", "待提交")
    submitted = ("submitted", "待单位审核")
    endorsed = ("endorsed", "待项目主管审核")
    accepted = ("accepted", "已通过")
    returned = ("returned", "已退回修改")
    overdue = ("overdue", "逾期未报")


# The project states in which a yearly report is filed (signed task book, not yet in
# acceptance).
ANNUAL_REPORTING = (A.contracted, A.in_progress, A.midterm)

AR = AnnualReportState
ANNUAL_REPORT = Lifecycle(
    name="annual_report",
    label="年度报告",
    states=AnnualReportState,
    initial=AR.due,
    final=frozenset({AR.accepted}),
    stages=(Stage("填报", (AR.due, AR.returned, AR.overdue)), Stage("单位审核", (AR.submitted,)),
            Stage("项目主管审核", (AR.endorsed,)), Stage("通过", (AR.accepted,))),
    transitions=(
        # Opened by the beat (or the officer, for a year) for every running project; the
        # team fills it in, late or not: a late report is still wanted.
        t("submit", (AR.due, AR.returned, AR.overdue), AR.submitted, [APPLICANT], "提交年度报告",
          guards=["annual_report_complete"],
          effect="record_annual_submission", messages=["annual_report_submitted"]),
        t("endorse", AR.submitted, AR.endorsed, [ORG_ADMIN], "单位审核通过",
          effect="record_annual_endorsement"),
        t("unit_return", AR.submitted, AR.returned, [ORG_ADMIN], "单位退回修改",
          guards=["comment_given"], effect="record_annual_return",
          messages=["annual_report_returned"]),
        t("accept", AR.endorsed, AR.accepted, [OFFICER], "审核通过",
          effect="record_annual_acceptance", messages=["annual_report_accepted"]),
        t("return", AR.endorsed, AR.returned, [OFFICER], "退回修改",
          guards=["comment_given"], effect="record_annual_return",
          messages=["annual_report_returned"]),
        t("mark_overdue", AR.due, AR.overdue, [SYSTEM], "逾期未报",
          guards=["annual_report_past_due"], effect="record_annual_overdue"),
    ),
)


class ChangeState(StateEnum):
    draft = ("draft", "草稿")
    submitted = ("submitted", "待单位审核")
    returned = ("returned", "退回修改")
    endorsed = ("endorsed", "单位已审核（待审批）")
    demand_agreed = ("demand_agreed", "发榜方已同意（待项目主管审批）")
    proposed = ("proposed", "待分管领导审批")
    approved = ("approved", "已批准")
    rejected = ("rejected", "未批准")
    withdrawn = ("withdrawn", "已撤回")


# Not a call's option: the step a change request has when a leader decides it (a change of
# the undertaking organisation, a termination): the officer proposes, the leader approves.
LEADER_DECIDES = "leader_decides"
# What a change request is checked against when it is sent and when it is decided: the
# project still runs, and the change is still allowed (限项 for a new PI, the extension
# limits, ...).
CHANGE_CHECKS = ["change_project_running", "change_permitted"]

CH = ChangeState
CHANGE = Lifecycle(
    name="change",
    label="项目变更申请",
    states=ChangeState,
    initial=CH.draft,
    final=frozenset({CH.approved, CH.rejected, CH.withdrawn}),
    stages=(Stage("提出申请", (CH.draft, CH.returned)), Stage("单位审核", (CH.submitted,)),
            Stage("审批", (CH.endorsed, CH.demand_agreed, CH.proposed)),
            Stage("批准", (CH.approved,))),
    transitions=(
        t("submit", (CH.draft, CH.returned), CH.submitted, [APPLICANT], "提交",
          guards=["change_complete", *CHANGE_CHECKS], effect="record_change_submission"),
        t("withdraw", (CH.draft, CH.submitted, CH.returned), CH.withdrawn, [APPLICANT], "撤回"),
        # The unit's research office (单位管理员) endorses or returns.
        t("endorse", CH.submitted, CH.endorsed, [ORG_ADMIN], "单位审核同意",
          guards=CHANGE_CHECKS, effect="record_change_opinion"),
        t("return_for_revision", CH.submitted, CH.returned, [ORG_ADMIN], "退回修改",
          guards=["comment_given"], effect="record_change_opinion",
          messages=["change_returned"]),
        # 揭榜挂帅: a change of indicators needs the demand side's agreement first.
        t("demand_agree", CH.endorsed, CH.demand_agreed, [DEMAND], "发榜方同意",
          step=DEMAND_SIDE, effect="record_change_opinion"),
        t("demand_refuse", CH.endorsed, CH.rejected, [DEMAND], "发榜方不同意",
          guards=["comment_given"], step=DEMAND_SIDE, effect="record_change_decision",
          messages=["change_decided"]),
        t("approve", CH.endorsed, CH.approved, [OFFICER], "批准",
          guards=["comment_given", *CHANGE_CHECKS], unless_steps=[DEMAND_SIDE, LEADER_DECIDES],
          effect="apply_change", follow_ups=["carry_out_change"],
          messages=["change_decided"]),
        t("approve", CH.demand_agreed, CH.approved, [OFFICER], "批准",
          guards=["comment_given", *CHANGE_CHECKS], effect="apply_change",
          follow_ups=["carry_out_change"],
          messages=["change_decided"]),
        # A change of organisation or a termination: the officer proposes, a leader decides.
        t("propose", CH.endorsed, CH.proposed, [OFFICER], "报分管领导审批",
          guards=["comment_given", *CHANGE_CHECKS], step=LEADER_DECIDES,
          effect="record_change_opinion"),
        t("approve", CH.proposed, CH.approved, [LEADER], "批准",
          guards=["comment_given", *CHANGE_CHECKS], effect="apply_change",
          follow_ups=["carry_out_change"],
          messages=["change_decided"]),
        t("reject", (CH.endorsed, CH.demand_agreed), CH.rejected, [OFFICER], "不予批准",
          guards=["comment_given"], effect="record_change_decision",
          messages=["change_decided"]),
        t("reject", CH.proposed, CH.rejected, [LEADER], "不予批准",
          guards=["comment_given"], effect="record_change_decision",
          messages=["change_decided"]),
    ),
)

# ---- performance evaluation (绩效评价) at closure ----------------------------------------

class EvaluationState(StateEnum):
    draft = ("draft", "待评价")
    proposed = ("proposed", "待分管领导确认")
    confirmed = ("confirmed", "已确认")


# Not a call's option: the step an evaluation has when its grade is 不合格 (it goes on the
# people's and the organisation's record and the 科研失信 list page): a leader confirms it.
LEADER_CONFIRMS = "leader_confirms"

EV = EvaluationState
EVALUATION = Lifecycle(
    name="evaluation",
    label="绩效评价",
    states=EvaluationState,
    initial=EV.draft,
    final=frozenset({EV.confirmed}),
    stages=(Stage("评价", (EV.draft,)), Stage("领导确认", (EV.proposed,)),
            Stage("确认", (EV.confirmed,))),
    transitions=(
        # Opened by the system when the project closes (completed, failed, terminated),
        # with the facts and the proposed scores; the officer may adjust the scores (with a
        # reason) and confirms; a 不合格 goes to a leader, who confirms it or sends it back.
        t("confirm", EV.draft, EV.confirmed, [OFFICER], "确认评价结果",
          guards=["evaluation_graded"], unless_steps=[LEADER_CONFIRMS],
          effect="record_evaluation_confirmation", follow_ups=["keep_performance"],
          messages=["evaluation_confirmed"]),
        t("propose", EV.draft, EV.proposed, [OFFICER], "报分管领导确认",
          guards=["evaluation_graded"], step=LEADER_CONFIRMS,
          effect="record_evaluation_proposal"),
        t("confirm", EV.proposed, EV.confirmed, [LEADER], "确认评价结果",
          guards=["evaluation_graded"], effect="record_evaluation_confirmation",
          follow_ups=["keep_performance"], messages=["evaluation_confirmed"]),
        t("send_back", EV.proposed, EV.draft, [LEADER], "退回重评",
          guards=["comment_given"], effect="record_evaluation_return"),
    ),
)


# ---- 结题验收 (workflow/acceptance) ---------------------------------------------------------

class AcceptanceState(StateEnum):
    draft = ("draft", "填报中")
    submitted = ("submitted", "待单位审核")
    returned = ("returned", "退回修改")
    endorsed = ("endorsed", "待组织验收")
    panel_review = ("panel_review", "专家组验收中")
    passed = ("passed", "验收通过")
    concluded = ("concluded", "结题")
    failed = ("failed", "验收不通过")


AC = AcceptanceState
# What the officer's conclusion asks for: the diligence finding at a 不通过 (宽容失败, when
# the call tolerates failure) and the amount to recover when there is one.
CONCLUSION_FIELDS = (
    Field("diligent", "是否勤勉尽责（yes / no；宽容失败的项目不通过时必填）", kind="choice",
          choices=("yes", "no")),
    Field("recovery_wan", "应追回金额（万元）", kind="money"),
)
CONCLUSION_GUARDS = ["panel_complete", "finance_checked", "conclusion_justified"]

ACCEPTANCE = Lifecycle(
    name="acceptance",
    label="结题验收",
    states=AcceptanceState,
    initial=AC.draft,
    final=frozenset({AC.passed, AC.concluded, AC.failed}),
    stages=(Stage("填报验收材料", (AC.draft, AC.returned)), Stage("单位审核", (AC.submitted,)),
            Stage("专家组验收", (AC.endorsed, AC.panel_review)),
            Stage("验收结论", (AC.passed, AC.concluded))),
    transitions=(
        t("submit", (AC.draft, AC.returned), AC.submitted, [APPLICANT], "提交验收材料",
          guards=["acceptance_project_running", "package_complete"],
          effect="record_package_submission", messages=["acceptance_submitted"]),
        t("return_for_revision", AC.submitted, AC.returned, [ORG_ADMIN], "退回修改",
          guards=["comment_given"], effect="record_unit_opinion",
          messages=["acceptance_returned"]),
        # The unit's research office vouches for the package: the project goes to 验收.
        t("endorse", AC.submitted, AC.endorsed, [ORG_ADMIN], "单位审核同意",
          guards=["acceptance_project_running", "package_complete"],
          effect="record_unit_opinion", follow_ups=["open_project_acceptance"]),
        # A conflict-checked panel of at least 3 experts; for 揭榜挂帅 the demand side sits
        # on it and gives its own verdict.
        t("assign_panel", AC.endorsed, AC.panel_review, [OFFICER], "组织验收专家组",
          guards=["panel_valid"], effect="seat_panel", messages=["panel_invited"],
          fields=[Field("expert_ids", "验收专家（用户 id，至少3名）", kind="list",
                        required=True)]),
        t("pass", AC.panel_review, AC.passed, [OFFICER], "验收通过",
          guards=CONCLUSION_GUARDS, effect="record_conclusion",
          follow_ups=["close_accepted_project"], messages=["acceptance_concluded"],
          fields=CONCLUSION_FIELDS),
        t("conclude", AC.panel_review, AC.concluded, [OFFICER], "结题（未完全达到目标）",
          guards=[*CONCLUSION_GUARDS, "comment_given"], effect="record_conclusion",
          follow_ups=["close_accepted_project"], messages=["acceptance_concluded"],
          fields=CONCLUSION_FIELDS),
        t("fail", AC.panel_review, AC.failed, [OFFICER], "验收不通过",
          guards=[*CONCLUSION_GUARDS, "comment_given", "diligence_found"],
          effect="record_conclusion", follow_ups=["close_accepted_project"],
          messages=["acceptance_concluded"], fields=CONCLUSION_FIELDS),
    ),
)


# ---- midterm check (中期检查) ----------------------------------------------------------------

class MidtermState(StateEnum):
    open = ("open", "待提交中期报告")
    overdue = ("overdue", "逾期未交")
    submitted = ("submitted", "待组织专家评议")
    reviewing = ("reviewing", "专家评议中")
    rectify = ("rectify", "整改中")
    passed = ("passed", "中期检查通过")
    terminated = ("terminated", "终止")


MT = MidtermState
# The officer's outcome: every panel score in, or a reason to decide without them.
MIDTERM_OUTCOME = ["midterm_scores_in"]
MIDTERM_OVERRIDE = Field("override_reason", "未评完即作结论的理由")

MIDTERM = Lifecycle(
    name="midterm",
    label="中期检查",
    states=MidtermState,
    initial=MT.open,
    final=frozenset({MT.passed, MT.terminated}),
    stages=(Stage("提交中期报告", (MT.open, MT.overdue, MT.rectify)),
            Stage("专家评议", (MT.submitted, MT.reviewing)),
            Stage("检查结论", (MT.passed,))),
    transitions=(
        # The team (its PI) sends the progress report, late or not; after 整改 the second
        # round's report.
        t("submit", (MT.open, MT.overdue, MT.rectify), MT.submitted, [APPLICANT],
          "提交中期报告", guards=["midterm_report_complete", "midterm_project_running"],
          effect="record_midterm_submission", follow_ups=["convene_if_panel_ready"]),
        # The panel (at least three experts, conflict-checked) starts scoring the round.
        t("convene", MT.submitted, MT.reviewing, [OFFICER, SYSTEM], "送专家评议",
          guards=["midterm_panel_ready"], messages=["midterm_panel_invited"]),
        t("pass", MT.reviewing, MT.passed, [OFFICER], "通过",
          guards=[*MIDTERM_OUTCOME, "midterm_project_running"],
          effect="record_midterm_outcome", follow_ups=["carry_out_midterm"],
          messages=["midterm_decided"],
          fields=[MIDTERM_OVERRIDE]),
        # 整改 once: the team reports again by the due date on the items required; the
        # second round ends in 通过 or 终止.
        t("rectify", MT.reviewing, MT.rectify, [OFFICER], "整改",
          guards=["comment_given", *MIDTERM_OUTCOME, "midterm_rectification_valid"],
          effect="record_rectification", messages=["midterm_decided"],
          fields=[MIDTERM_OVERRIDE,
                  Field("due_on", "整改报告提交期限（YYYY-MM-DD）", kind="line", required=True),
                  Field("items", "整改要求（每行一项）", required=True)]),
        t("terminate", (MT.reviewing, MT.overdue), MT.terminated, [OFFICER], "终止",
          guards=["comment_given", *MIDTERM_OUTCOME, "midterm_project_running"],
          effect="record_midterm_outcome", follow_ups=["carry_out_midterm"],
          messages=["midterm_decided"],
          fields=[MIDTERM_OVERRIDE,
                  Field("recovery_wan", "应追回金额（万元）", kind="money")]),
        # The beat: past the due date and not sent, flagged and the team reminded.
        t("mark_overdue", (MT.open, MT.rectify), MT.overdue, [SYSTEM], "逾期未交",
          guards=["midterm_past_due"], effect="record_midterm_overdue",
          messages=["midterm_overdue"]),
    ),
)

LIFECYCLES: dict[str, Lifecycle] = {lc.name: lc for lc in (
    CALL, APPLICATION, REVIEW, TRANCHE, MILESTONE, DECISION, OBJECTION, RECOVERY,
    SANCTION_REVIEW, ANNUAL_REPORT, CHANGE, EVALUATION, ACCEPTANCE, MIDTERM)}

# The services that carry out transitions of rows they choose (see ``Transition.via``).
OPERATIONS: dict[str, Operation] = {o.name: o for o in (
    Operation("select_teams", "确定揭榜团队",
              "POST /api/v1/challenges/{challenge_id}/selection"),
)}

# Recorded events that are not transitions, and what each sets going.
EVENTS: dict[str, Event] = {e.topic: e for e in (
    Event("application.round_submitted", "申报书提交回执", messages=("submitted",),
          documents=("application",)),
    Event("review.invited", "发出评审邀请", messages=("review_invited",)),
    # 公文 are rendered once they have the office's 发文字号 (workflow/core/numbering.py):
    # taken when issued, or entered by the office. The 立项文件 comes first; the
    # 立项通知书 of its projects follow it and cite it.
    Event("call.approval_file", "印发立项文件", documents=("approval_file",)),
    Event("application.notice", "印发立项通知书", documents=("notice",)),
    Event("tranche.payment_notice", "印发拨付通知", documents=("payment_notice",)),
    Event("recovery.notice", "印发追回通知", documents=("recovery_notice",)),
    Event("change.approval", "印发变更批复", documents=("change_approval",)),
    Event("acceptance.conclusion", "印发验收结论书", documents=("acceptance_conclusion",)),
    Event("midterm.conclusion", "印发中期检查结论通知", documents=("midterm_conclusion",)),
    # 忘记密码: the reset link goes by e-mail (made when the message is, never stored).
    Event("user.password_reset", "找回密码", messages=("password_reset",)),
)}
