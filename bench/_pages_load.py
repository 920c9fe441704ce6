"""The national-scale database of bench/pages.py, loaded in bulk (issue 19).

Staff, one researcher and one expert template and two template calls are made through the
ORM, so that every column a page reads has the value the product would give it; then
``INSERT … SELECT generate_series`` clones them into the organisations, people, calls,
applications, reviews, tranches and ledger entries of a province; the audit trail (ten
events per application, valid hash chains, the application rows carrying their heads) is
written by COPY, hashed by the product's own ``workflow.core.audit`` functions.

Sizes scale from ``applications`` (1,000,000 in the full run): 20,000 organisations,
50,000 experts, 100,000 researchers, 2,000 calls, one of which holds a tenth of the
applications, all reviewed (the ranking and the decision proposal are measured on it), and
one 3 % of them funded (its budget ledger is the deep one).
"""

from __future__ import annotations

import io
import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

PASSWORD = "bench-password-123"  # noqa: S105

# Application states by (id % 100): drafts to closed projects, as a year's work leaves them.
STATE_BUCKETS: list[tuple[int, str]] = [
    (8, "draft"), (10, "submitted"), (14, "formal_review"), (24, "expert_review"),
    (30, "reviewed"), (52, "not_funded"), (55, "approved"), (58, "contracted"),
    (74, "in_progress"), (77, "acceptance"), (84, "completed"), (88, "rejected"),
    (92, "withdrawn"), (96, "returned"), (100, "terminated")]
FUNDED = ("approved", "contracted", "in_progress", "acceptance", "completed", "terminated")
REVIEWED = ("expert_review", "reviewed", "not_funded", *FUNDED)
# The funded call's states (id % 20).
FUNDED_BUCKETS: list[tuple[int, str]] = [(2, "contracted"), (14, "in_progress"),
                                         (16, "acceptance"), (20, "completed")]
REVIEWS_PER_APPLICATION = 5
EVENTS_PER_APPLICATION = 10
GRANT = 500_000
SUBJECTS = ["稀土", "钨", "脐橙", "油茶", "永磁电机", "新能源汽车", "锂电池", "生物医药",
            "富硒农业", "家具", "人工智能", "工业互联网", "中药材", "竹木", "矿山生态", "废水处理"]
VERBS = ["绿色高效", "低成本", "智能化", "高性能", "短流程", "精准", "全产业链", "高值化"]
TAILS = ["关键技术研究", "工艺开发与示范", "集成与推广", "应用基础研究", "装备研制",
         "产业化示范", "标准体系建设"]
PLACES = ["章贡", "南康", "赣县", "信丰", "大余", "上犹", "崇义", "安远", "龙南", "定南",
          "全南", "宁都", "于都", "兴国", "会昌", "寻乌", "石城", "瑞金"]
KINDS = ["稀土新材料有限公司", "科技大学", "农业科学研究院", "医科大学", "钨业集团有限公司",
         "电机制造有限公司", "林业科学研究所", "职业技术学院", "生物科技有限公司"]
SURNAMES = "李王张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = "明芳伟丽强敏静磊军洋勇艳杰娟涛超秀霞平刚桂英华建国文斌辉红"
RUBRIC = [{"name": "innovation", "label": "创新性", "weight": 30, "max": 100},
          {"name": "feasibility", "label": "可行性", "weight": 30, "max": 100},
          {"name": "team", "label": "团队基础", "weight": 20, "max": 100},
          {"name": "benefit", "label": "预期效益", "weight": 20, "max": 100}]
TRANCHES = [{"label": "合同签订后拨付", "percent": 40, "condition": "contract"},
            {"label": "中期检查后拨付", "percent": 40, "condition": "contract"},
            {"label": "验收通过后拨付", "percent": 20, "condition": "acceptance"}]


@dataclass
class Sizes:
    applications: int

    @property
    def organizations(self) -> int:
        return max(200, self.applications // 50)

    @property
    def experts(self) -> int:
        return max(500, self.applications // 20)

    @property
    def researchers(self) -> int:
        return max(1_000, self.applications // 10)

    @property
    def calls(self) -> int:
        return max(20, self.applications // 500)

    @property
    def big_call(self) -> int:  # applications in the call under review
        return self.applications // 10

    @property
    def funded_call(self) -> int:  # applications in the call whose ledger runs deep
        return self.applications * 3 // 100


@dataclass
class Loaded:
    """What the measurements need to know of the database."""
    sizes: Sizes
    big_call: int
    funded_call: int
    researcher: str
    expert: str
    counts: dict[str, int]


def _case(column: str, buckets: list[tuple[int, str]], modulo: int) -> str:
    arms = " ".join(f"WHEN {column} % {modulo} < {bound} THEN '{state}'"
                    for bound, state in buckets)
    return f"(CASE {arms} END)"


def _pick(words: list[str], expr: str) -> str:
    items = ",".join(f"'{w}'" for w in words)
    return f"(ARRAY[{items}])[1 + ({expr}) % {len(words)}]"


def _templates(url: str) -> dict[str, int]:
    """Staff and the templates the bulk rows are cloned from, through the ORM."""
    from werkzeug.security import generate_password_hash

    from bench._common import db_app
    from states import CallState
    from workflow.accounts.models import ExpertProfile, Organization, OrgKind, User, UserRole
    from workflow.calls.models import Call, Scheme
    from workflow.core.models import db

    app = db_app(url)
    digest = generate_password_hash(PASSWORD)
    now = datetime.now(UTC)
    with app.app_context():
        bureau = Organization(name="赣州市科学技术局", uscc="11360700014567890A",
                              kind=OrgKind.government)
        template_org = Organization(name="模板单位", uscc="91360700000000000X",
                                    kind=OrgKind.enterprise, bank_name="中国银行赣州分行",
                                    bank_account="6216600000000000000")
        db.session.add_all([bureau, template_org])
        db.session.flush()
        staff = {"officer": ("张科长", "officer"), "leader": ("王局长", "leader"),
                 "finance": ("刘会计", "finance"), "finance2": ("陈出纳", "finance"),
                 "auditor": ("赵审计", "auditor"), "admin": ("系统管理员", "admin")}
        for username, (name, role) in staff.items():
            db.session.add(User(username=username, name=name, password_hash=digest,
                                organization_id=bureau.id, role_rows=[UserRole(role=role)]))
        researcher = User(username="r_template", name="模板", password_hash=digest,
                          organization_id=template_org.id,
                          role_rows=[UserRole(role="applicant")])
        expert = User(username="e_template", name="模板", password_hash=digest,
                      role_rows=[UserRole(role="expert")])
        db.session.add_all([researcher, expert])
        db.session.flush()
        db.session.add(ExpertProfile(user_id=expert.id, title="研究员", disciplines=["材料"],
                                     keywords=["稀土"], load_cap=500, available=True))
        calls = [Call(scheme=scheme, year=2026, title="模板", state=CallState.decided,
                      opens_at=now - timedelta(days=300), closes_at=now - timedelta(days=200),
                      budget=10**11, rubric=RUBRIC, tranche_plan=TRANCHES,
                      reviewers_per_application=REVIEWS_PER_APPLICATION)
                 for scheme in (Scheme.baogan, Scheme.jiebang)]
        db.session.add_all(calls)
        db.session.commit()
        out = {"bureau": bureau.id, "org": template_org.id, "researcher": researcher.id,
               "expert": expert.id, "call_baogan": calls[0].id, "call_jiebang": calls[1].id,
               "officer": db.session.scalar(db.select(User.id).where(User.username == "officer"))}
        db.engine.dispose()
    return out


def _review_sums(url: str) -> None:
    """Each application's review sums (``Application.review_*``), as a submission keeps
    them: the product's ``rescore`` of each call, the reviews having been written in bulk."""
    from bench._common import db_app
    from workflow.calls.models import Call
    from workflow.core.models import db
    from workflow.review import results

    app = db_app(url)
    with app.app_context():
        for call in db.session.scalars(db.select(Call).order_by(Call.id)).all():
            results.rescore(call)
        db.session.commit()
        db.engine.dispose()


def _columns(cur: psycopg.Cursor[Any], table: str, skip: tuple[str, ...]) -> list[str]:
    cur.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "ORDER BY ordinal_position", (table,))
    return [r[0] for r in cur.fetchall() if r[0] not in skip]


def _clone(cur: psycopg.Cursor[Any], table: str, template_id: int, count: int,
           overrides: dict[str, str], key: str = "id") -> None:
    """``count`` copies of row ``template_id`` of ``table``, the columns in ``overrides``
    computed from ``g`` (1..count)."""
    cols = _columns(cur, table, ("id",))
    select = ", ".join(overrides.get(c, f't."{c}"') for c in cols)
    names = ", ".join(f'"{c}"' for c in cols)
    cur.execute(f'INSERT INTO "{table}" ({names}) SELECT {select} FROM "{table}" t, '  # noqa: S608
                f"generate_series(1, {count}) g WHERE t.{key} = {template_id}")


def load(url: str, applications: int, log: Any = print) -> Loaded:
    sizes = Sizes(applications)
    began = time.perf_counter()

    def step(what: str) -> None:
        log(f"  {what}: {time.perf_counter() - began:.1f} s")

    t = _templates(url)
    raw = url.replace("+psycopg", "")
    with psycopg.connect(raw) as conn, conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        n_org, n_exp, n_res, n_calls = (sizes.organizations, sizes.experts, sizes.researchers,
                                        sizes.calls)
        place, kind = _pick(PLACES, "g"), _pick(KINDS, "g / 18")
        _clone(cur, "organization", t["org"], n_org, {
            "name": f"{place} || {kind} || lpad(g::text, 6, '0')",
            "uscc": "'91360700' || lpad(g::text, 9, '0') || 'X'",
            "kind": "(ARRAY['enterprise','university','institute','enterprise'])[1 + g % 4]",
            "bank_account": "'62166' || lpad(g::text, 14, '0')"})
        cur.execute("SELECT min(id) FROM organization WHERE uscc LIKE '91360700%%' "
                    "AND id <> %s", (t["org"],))
        org0 = cur.fetchone()[0]  # type: ignore[index]
        name = (f"{_pick(list(SURNAMES), 'g * 7')} || {_pick(list(GIVEN), 'g / 3')} || "
                f"{_pick(list(GIVEN), 'g / 97')}")
        _clone(cur, "user_account", t["researcher"], n_res, {
            "username": "'r' || lpad(g::text, 6, '0')", "name": name,
            "organization_id": f"{org0} + (g - 1) % {n_org}",
            "email": "'r' || g || '@bench.example.cn'"})
        _clone(cur, "user_account", t["expert"], n_exp, {
            "username": "'e' || lpad(g::text, 6, '0')", "name": name,
            "email": "'e' || g || '@bench.example.cn'"})
        cur.execute("INSERT INTO user_role (user_id, role) SELECT id, CASE WHEN username "
                    "LIKE 'r%%' THEN 'applicant' ELSE 'expert' END FROM user_account "
                    "WHERE username ~ '^[re][0-9]+$'")
        cur.execute("INSERT INTO expert_profile (user_id, title, disciplines, keywords, "
                    "load_cap, available) SELECT u.id, p.title, p.disciplines, p.keywords, "
                    "p.load_cap, p.available FROM user_account u, expert_profile p "
                    "WHERE u.username ~ '^e[0-9]+$' AND p.user_id = %s", (t["expert"],))
        cur.execute("SELECT min(id) FROM user_account WHERE username ~ '^r[0-9]+$'")
        res0 = cur.fetchone()[0]  # type: ignore[index]
        cur.execute("SELECT min(id) FROM user_account WHERE username ~ '^e[0-9]+$'")
        exp0 = cur.fetchone()[0]  # type: ignore[index]
        conn.commit()
        step(f"{n_org:,} organisations, {n_res:,} researchers, {n_exp:,} experts")

        # Calls: the call under review, the funded call, then the rest by year and scheme.
        _clone(cur, "call", t["call_baogan"], n_calls, {
            "title": "(2020 + g % 7)::text || '年度市科技计划' || CASE WHEN g % 2 = 0 "
                     "THEN '包干制' ELSE '揭榜挂帅' END || '项目第' || g || '批'",
            "scheme": "CASE WHEN g % 2 = 0 THEN 'baogan' ELSE 'jiebang' END",
            "year": "2020 + g % 7",
            "state": "CASE WHEN g = 1 THEN 'reviewing' WHEN g % 25 = 3 THEN 'published' "
                     "ELSE 'decided' END",
            "opens_at": "now() - (400 - g % 300) * interval '1 day'",
            "closes_at": "now() - (300 - g % 300) * interval '1 day' "
                         "+ CASE WHEN g % 25 = 3 THEN interval '400 days' ELSE interval '0' END",
            "created_at": "now() - (500 - g % 300) * interval '1 day'"})
        cur.execute("SELECT min(id) FROM call WHERE title LIKE '%%批'")
        call0 = cur.fetchone()[0]  # type: ignore[index]
        big, funded = call0, call0 + 1
        cur.execute("UPDATE call SET title = '2026年度市重点研发计划（揭榜挂帅）评审批' "
                    "WHERE id = %s", (big,))
        cur.execute("UPDATE call SET state = 'decided', title = '2024年度市科技重大专项（包干制）'"
                    " WHERE id = %s", (funded,))
        conn.commit()
        step(f"{n_calls:,} calls")

        # Applications: id g, by COPY-free INSERT … SELECT; state from g.
        n_big, n_funded = sizes.big_call, sizes.funded_call
        state = (f"CASE WHEN g <= {n_big} THEN 'reviewed' "
                 f"WHEN g <= {n_big + n_funded} THEN "
                 f"{_case('g', FUNDED_BUCKETS, 20)} ELSE {_case('g', STATE_BUCKETS, 100)} END")
        call = (f"CASE WHEN g <= {n_big} THEN {big} WHEN g <= {n_big + n_funded} THEN {funded} "
                f"ELSE {call0 + 2} + g % {n_calls - 2} END")
        words = (f"{_pick(SUBJECTS, 'g')} || {_pick(VERBS, 'g / 16')} || "
                 f"{_pick(TAILS, 'g / 128')}")
        title = f"{words} || '（' || lpad(g::text, 7, '0') || '）'"
        # normal_text(title): the words and the number are letters and digits already.
        title_key = f"{words} || lpad(g::text, 7, '0')"
        cur.execute(f"""
            INSERT INTO application (id, call_id, applicant_id, organization_id, title,
                title_key, state,
                version, data, submitted_at, created_at, updated_at, granted_amount,
                receipt_no, project_number, approved_at, disbursed, form_version, round,
                audit_seq, acceptance_verdict)
            SELECT g, call_id, applicant_id, {org0} + (applicant_id - {res0}) % {n_org}, title,
                title_key, state, 1,
                jsonb_build_object('summary', '面向赣南苏区产业需求，' || title,
                                   'amount', ((200 + g % 300) * 1000)::text || '.00'),
                CASE WHEN state = 'draft' THEN NULL ELSE created + interval '3 days' END,
                created, created + (g % 90) * interval '1 day',
                CASE WHEN state IN {FUNDED} THEN {GRANT} END,
                CASE WHEN state = 'draft' THEN NULL ELSE 'SB' || lpad(g::text, 10, '0') END,
                CASE WHEN state IN {FUNDED} THEN 'GZKJ-' || lpad(g::text, 8, '0') END,
                CASE WHEN state IN {FUNDED} THEN created + interval '60 days' END,
                0, 1, CASE WHEN state = 'draft' THEN 0 ELSE 1 END, 0,
                CASE WHEN state = 'completed' THEN 'pass' END
            FROM (SELECT g, {call} AS call_id, {res0} + (g * 7) % {n_res} AS applicant_id,
                         {title} AS title, {title_key} AS title_key, {state} AS state,
                         timestamptz '2021-01-01 08:00+08' + g * interval '2 minutes' AS created
                  FROM generate_series(1, {applications}) g) s""")  # noqa: S608
        cur.execute("SELECT setval('application_id_seq', %s)", (applications,))
        conn.commit()
        step(f"{applications:,} applications")

        # Reviews: five per application past formal review, by distinct experts.
        k_cases = ("CASE WHEN a.state = 'expert_review' AND k >= 3 THEN "
                   "(CASE WHEN k = 3 THEN 'accepted' ELSE 'invited' END) ELSE 'submitted' END")
        cur.execute(f"""
            INSERT INTO review_assignment (application_id, expert_id, state, version, reserve,
                respond_by, due_at, scores, comment, total, submitted_at, created_at, audit_seq)
            SELECT a.id, {exp0} + ((a.id::bigint * 5 + k) * 7919) % {n_exp}, st, 1, false,
                a.submitted_at + interval '10 days', a.submitted_at + interval '24 days',
                CASE WHEN st = 'submitted' THEN jsonb_build_object(
                    'innovation', (60 + (a.id * (k + 3)) % 40)::text,
                    'feasibility', (55 + (a.id * (k + 5)) % 45)::text,
                    'team', (65 + (a.id + k) % 35)::text,
                    'benefit', (60 + (a.id * 3 + k) % 40)::text) ELSE '{{}}'::jsonb END,
                CASE WHEN st = 'submitted' THEN '技术路线清晰，建议关注产业化风险。' ELSE '' END,
                CASE WHEN st = 'submitted' THEN
                    ((60 + (a.id * (k + 3)) % 40) * 0.3 + (55 + (a.id * (k + 5)) % 45) * 0.3
                     + (65 + (a.id + k) % 35) * 0.2
                     + (60 + (a.id * 3 + k) % 40) * 0.2)::numeric(5,2)
                END,
                CASE WHEN st = 'submitted' THEN a.submitted_at + interval '20 days' END,
                a.submitted_at + interval '5 days', 0
            FROM application a, generate_series(0, {REVIEWS_PER_APPLICATION - 1}) k,
                 LATERAL (SELECT {k_cases} AS st) s
            WHERE a.state IN {REVIEWED}""")  # noqa: S608
        conn.commit()
        step("reviews")
        # The planner's estimates of the rows just written: without them each call's
        # ``rescore`` reads every submitted review (2,000 calls: over 20 minutes).
        cur.execute("ANALYZE application")
        cur.execute("ANALYZE review_assignment")
        conn.commit()
        _review_sums(url)
        step("each application's review sums")

        # Tranches: three per funded project (40 / 40 / 20 %), paid as far as it has come.
        cur.execute(f"""
            INSERT INTO tranche (application_id, seq, project_number, title, organization_id,
                label, amount, condition,
                state, version, decision_ref, payment_ref, released_at, created_at, audit_seq,
                payee_name, payee_bank, payee_account, prepared_by_id, approved_by_id)
            SELECT a.id, k, a.project_number, a.title, a.organization_id,
                (ARRAY['合同签订后拨付','中期检查后拨付','验收通过后拨付'])[k],
                {GRANT} * (ARRAY[0.4, 0.4, 0.2])[k],
                CASE WHEN k = 3 THEN 'acceptance' ELSE 'contract' END, st, 1,
                CASE WHEN st IN ('prepared','released') THEN '赣市科字〔2025〕' || a.id || '号' END,
                CASE WHEN st = 'released' THEN 'PAY' || a.id || '-' || k END,
                CASE WHEN st = 'released' THEN a.approved_at + k * interval '90 days' END,
                a.approved_at, 0,
                CASE WHEN st IN ('prepared','released') THEN o.name END,
                CASE WHEN st IN ('prepared','released') THEN o.bank_name END,
                CASE WHEN st IN ('prepared','released') THEN o.bank_account END,
                CASE WHEN st IN ('prepared','released') THEN {t["officer"]} END, NULL
            FROM application a JOIN organization o ON o.id = a.organization_id,
                 generate_series(1, 3) k,
                 LATERAL (SELECT CASE
                    WHEN a.state = 'approved' THEN 'planned'
                    WHEN a.state = 'contracted' THEN CASE WHEN k = 1 THEN 'due' ELSE 'planned' END
                    WHEN a.state = 'in_progress' THEN CASE WHEN k = 1 THEN 'released'
                         WHEN k = 2 THEN (CASE WHEN a.id % 5 = 0 THEN 'prepared' ELSE 'due' END)
                         ELSE 'planned' END
                    WHEN a.state = 'acceptance' THEN CASE WHEN k = 3 THEN 'due' ELSE 'released' END
                    WHEN a.state = 'completed' THEN 'released'
                    ELSE (CASE WHEN k = 1 THEN 'released' ELSE 'cancelled' END) END AS st) s
            WHERE a.state IN {FUNDED}""")  # noqa: S608
        cur.execute("UPDATE application a SET disbursed = p.paid FROM (SELECT application_id, "
                    "sum(amount) AS paid FROM tranche WHERE state = 'released' "
                    "GROUP BY application_id) p WHERE p.application_id = a.id")
        conn.commit()
        step("tranches")

        # Ledger: each call's allocation, a commitment per funded project, a disbursement
        # per released tranche, in time order, with the running balances.
        cur.execute(f"""
            INSERT INTO ledger_entry (call_id, seq, kind, amount, application_id, tranche_id,
                actor_id, ref, memo, at, available_after, committed_after, disbursed_after)
            SELECT call_id, row_number() OVER w, kind, amount, application_id, tranche_id,
                {t["officer"]}, ref, memo, at,
                budget - sum(CASE WHEN kind = 'commitment' THEN amount ELSE 0 END) OVER w,
                sum(CASE WHEN kind = 'commitment' THEN amount
                         WHEN kind = 'disbursement' THEN -amount ELSE 0 END) OVER w,
                sum(CASE WHEN kind = 'disbursement' THEN amount ELSE 0 END) OVER w
            FROM (
                SELECT c.id AS call_id, 'allocation' AS kind, c.budget AS amount,
                       NULL::int AS application_id, NULL::int AS tranche_id,
                       '年度预算' AS ref, '预算下达' AS memo, c.created_at AS at,
                       c.budget AS budget, 0 AS ord
                FROM call c WHERE c.state = 'decided'
                UNION ALL
                SELECT a.call_id, 'commitment', a.granted_amount, a.id, NULL,
                       'GZKJ-' || a.id, '立项承诺', a.approved_at, c.budget, a.id
                FROM application a JOIN call c ON c.id = a.call_id
                WHERE a.granted_amount IS NOT NULL
                UNION ALL
                SELECT a.call_id, 'disbursement', t.amount, a.id, t.id, t.payment_ref,
                       t.label, t.released_at, c.budget, a.id
                FROM tranche t JOIN application a ON a.id = t.application_id
                     JOIN call c ON c.id = a.call_id
                WHERE t.state = 'released') e
            WINDOW w AS (PARTITION BY call_id ORDER BY at, ord, kind
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)""")  # noqa: S608
        conn.commit()
        step("ledger")
        _audit_trail(conn, applications, t["officer"])
        step(f"{applications * EVENTS_PER_APPLICATION:,} audit events")
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        counts = {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]  # type: ignore[index]  # noqa: S608
                  for table in ("organization", "user_account", "call", "application",
                                "review_assignment", "tranche", "ledger_entry", "audit_event")}
        # A session left open on the database during the load (a profiler's, say) holds a
        # snapshot that keeps VACUUM from clearing the updated rows: every later figure
        # would read them. Say so rather than measure a bloated database.
        for table, dead in conn.execute(
                "SELECT relname, n_dead_tup FROM pg_stat_user_tables WHERE n_dead_tup > 10000"
                " ORDER BY n_dead_tup DESC"):
            print(f"  warning: {dead:,} dead rows left in {table} after VACUUM: another"
                  " session held a snapshot; run VACUUM ANALYZE again before measuring",
                  file=sys.stderr)
    step("VACUUM ANALYZE")
    with psycopg.connect(raw) as conn:
        researcher = conn.execute(
            "SELECT u.username FROM user_account u JOIN application a ON a.applicant_id = u.id"
            " WHERE u.username ~ '^r[0-9]+$' GROUP BY u.username "
            "ORDER BY count(*) DESC, u.username LIMIT 1").fetchone()[0]  # type: ignore[index]
        expert = conn.execute(
            "SELECT u.username FROM user_account u JOIN review_assignment r "
            "ON r.expert_id = u.id WHERE r.state = 'accepted' GROUP BY u.username "
            "ORDER BY count(*) DESC, u.username LIMIT 1").fetchone()[0]  # type: ignore[index]
    return Loaded(sizes, big, funded, researcher, expert, counts)


TRIGGERS = [("create", None, "draft"), ("save", "draft", "draft"), ("save", "draft", "draft"),
            ("attach", "draft", "draft"), ("submit", "draft", "submitted"),
            ("formal_check", "submitted", "formal_review"),
            ("pass_formal", "formal_review", "expert_review"),
            ("assign", "expert_review", "expert_review"),
            ("remind", "expert_review", "expert_review"),
            ("note", "expert_review", "expert_review")]


def _audit_trail(conn: psycopg.Connection[Any], applications: int, officer: int) -> None:
    """Ten events per application, each chain hashed as ``audit.record`` would; the rows
    carry their chain's head. Written by COPY in text form, a batch at a time."""
    import hashlib

    from workflow.core.audit import GENESIS, _canonical_row

    start = datetime(2021, 1, 1, tzinfo=UTC)
    batch = 20_000
    NULL = "\\N"
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE heads (id int, hash varchar(64)) ON COMMIT DROP")
        for first in range(1, applications + 1, batch):
            events, heads = io.StringIO(), io.StringIO()
            for eid in range(first, min(first + batch, applications + 1)):
                prev = GENESIS
                base = start + timedelta(minutes=eid * 2)
                for seq, (trigger, src, dst) in enumerate(TRIGGERS, 1):
                    at = base + timedelta(hours=seq)
                    actor, name, role = ((None, "申报人", "applicant") if seq <= 5
                                         else (officer, "张科长", "officer"))
                    body = _canonical_row("application", eid, seq, actor, name, role, at,
                                          trigger, src, dst, "", {}, "10.0.0.1")
                    h = hashlib.sha256((prev + body).encode()).hexdigest()
                    events.write(
                        f"application\t{eid}\t{seq}\t{actor or NULL}\t{name}\t{role}\t"
                        f"{at.isoformat()}\t{trigger}\t{src or NULL}\t{dst}\t\t{{}}\t"
                        f"10.0.0.1\t{prev}\t{h}\n")
                    prev = h
                heads.write(f"{eid}\t{prev}\n")
            with cur.copy("COPY audit_event (entity_type, entity_id, seq, actor_id, actor_name,"
                          " actor_role, at, trigger, from_state, to_state, comment, data, ip, "
                          "prev_hash, hash) FROM STDIN") as copy:
                copy.write(events.getvalue())
            with cur.copy("COPY heads FROM STDIN") as copy:
                copy.write(heads.getvalue())
        cur.execute("UPDATE application a SET audit_seq = %s, audit_hash = h.hash "
                    "FROM heads h WHERE h.id = a.id", (len(TRIGGERS),))
    conn.commit()


def append_events(conn: psycopg.Connection[Any], ids: list[int]) -> None:
    """One more event on each of the applications ``ids``, chained to its head (what a day's
    work adds after a digest)."""
    import hashlib

    from workflow.core.audit import _canonical_row

    at = datetime.now(UTC)
    with conn.cursor() as cur:
        cur.execute("SELECT id, audit_seq, audit_hash FROM application WHERE id = ANY(%s)",
                    (ids,))
        for eid, seq, head in cur.fetchall():
            body = _canonical_row("application", eid, seq + 1, None, "系统", "system", at,
                                  "remind", None, None, "", {}, None)
            h = hashlib.sha256((head + body).encode()).hexdigest()
            cur.execute("INSERT INTO audit_event (entity_type, entity_id, seq, actor_id, "
                        "actor_name, actor_role, at, trigger, from_state, to_state, comment, "
                        "data, ip, prev_hash, hash) VALUES ('application', %s, %s, NULL, '系统',"
                        " 'system', %s, 'remind', NULL, NULL, '', '{}', NULL, %s, %s)",
                        (eid, seq + 1, at, head, h))
            cur.execute("UPDATE application SET audit_seq = %s, audit_hash = %s WHERE id = %s",
                        (seq + 1, h, eid))
    conn.commit()


def locust_plan(url: str, loaded: Loaded, path: Any) -> None:
    """The users and rows the mixed load may touch (bench/locust/pages.py)."""
    raw = url.replace("+psycopg", "")
    with psycopg.connect(raw) as conn:
        def names(sql: str) -> list[str]:
            return [r[0] for r in conn.execute(sql).fetchall()]
        plan = {
            "password": PASSWORD, "big_call": loaded.big_call,
            "officers": ["officer", "leader"], "finance": ["finance"],
            "researchers": names("SELECT DISTINCT u.username FROM user_account u JOIN "
                                 "application a ON a.applicant_id = u.id ORDER BY 1 LIMIT 200"),
            "experts": names("SELECT DISTINCT u.username FROM user_account u JOIN "
                             "review_assignment r ON r.expert_id = u.id WHERE r.state = "
                             "'accepted' ORDER BY 1 LIMIT 200"),
            "due_tranches": [r[0] for r in conn.execute(
                "SELECT id FROM tranche WHERE state = 'due' ORDER BY id LIMIT 5000")],
            "applications": [r[0] for r in conn.execute(
                "SELECT id FROM application TABLESAMPLE SYSTEM (1) LIMIT 2000")],
        }
    path.write_text(json.dumps(plan))
