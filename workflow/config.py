"""Settings: production values come from the environment, the embedded default needs none."""

from __future__ import annotations

import os
import re
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any


def database_url(instance: Path) -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{instance / 'kjflow.sqlite'}"
    # Heroku-style and plain URLs mean the psycopg 3 driver here.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def secret_key(instance: Path, production: bool) -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if production:
        raise RuntimeError("SECRET_KEY must be set in the environment in production")
    # The embedded default keeps a random key of its own under instance/.
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def celery_settings(instance: Path) -> dict[str, Any]:
    broker = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL")
    # How long a delivered, unacknowledged task waits before Redis hands it out again
    # (its worker died): the hard time limit of every task stays below it. Recovery does
    # not wait for it: the next worker to start relays the outbox's unfinished events.
    visibility = int(os.environ.get("KJFLOW_VISIBILITY_TIMEOUT", 3600))
    hard = 600
    if visibility <= hard:
        raise RuntimeError(f"KJFLOW_VISIBILITY_TIMEOUT must exceed the tasks' hard time "
                           f"limit ({hard} s)")
    settings: dict[str, Any] = {
        "task_ignore_result": True,
        "worker_prefetch_multiplier": 1,
        "timezone": "Asia/Shanghai",
        "enable_utc": True,
        "broker_connection_retry_on_startup": True,
        # A web request never waits long on a broker that is down: the outbox sweep
        # sends the event later.
        "broker_connection_timeout": 2,
        "task_publish_retry_policy": {
            "max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5,
        },
        # Hard limits stay below the broker's visibility timeout so that a task is never
        # handed to a second worker while the first still runs it.
        "task_time_limit": hard,
        "task_soft_time_limit": hard * 9 // 10,
        # A task is acknowledged when it has finished, and put back on the queue when its
        # worker process dies midway (SIGKILL, OOM): tasks are idempotent, so the rerun
        # finishes the work exactly once.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # Rendering PDFs may grow a child's heap: a child is replaced once it holds this
        # much memory (KiB), so the worker's memory stays flat. (Replacing children by
        # task count cost a second of start-up every few hundred tasks: bench/notify.py.)
        "worker_max_tasks_per_child": 100_000,
        "worker_max_memory_per_child": 300_000,
        "beat_schedule_filename": str(instance / "celerybeat-schedule"),
        # The outbox sweep is not the beat's: every worker asks for one when it starts and
        # then this often (worker/steps.py; 0: only when it starts), so that work a killed
        # worker held is done again without waiting for the visibility timeout, even with
        # the beat down.
        "kjflow_outbox_sweep_seconds": float(os.environ.get("KJFLOW_OUTBOX_SWEEP_SECONDS", 30)),
        "beat_schedule": {
            "audit-digest": {"task": "kjflow.audit_digest", "schedule": 300.0},
            "close-due-calls": {"task": "kjflow.close_due_calls", "schedule": 60.0},
            "approve-ended-notices": {"task": "kjflow.approve_ended_notices",
                                      "schedule": 300.0},
            "expire-review-invitations": {"task": "kjflow.expire_review_invitations",
                                          "schedule": 600.0},
            "send-reminders": {"task": "kjflow.send_reminders", "schedule": 600.0},
            "escalate-overdue-recoveries": {"task": "kjflow.escalate_overdue_recoveries",
                                            "schedule": 3600.0},
            "annual-reports": {"task": "kjflow.annual_reports", "schedule": 3600.0},
            "midterm-reports": {"task": "kjflow.midterm_reports", "schedule": 3600.0},
            "open-evaluations": {"task": "kjflow.open_evaluations", "schedule": 3600.0},
        },
    }
    if broker:
        settings["broker_url"] = broker
        settings["broker_transport_options"] = {"visibility_timeout": visibility}
    else:
        # Embedded default: kombu's filesystem transport, no service to install.
        folder = instance / "broker"
        (folder / "queue").mkdir(parents=True, exist_ok=True)
        settings["broker_url"] = "filesystem://"
        settings["broker_transport_options"] = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "store_processed": False,
        }
    return settings


def trusted_proxies() -> int:
    """How many reverse proxies in front of the app add ``X-Forwarded-For`` (and
    ``X-Forwarded-Proto``): 0 ignores those headers, so that no client can choose the
    address its login attempts are counted under."""
    raw = os.environ.get("KJFLOW_TRUSTED_PROXIES", "0").strip() or "0"
    if not raw.isdigit() or int(raw) > 5:
        raise RuntimeError("KJFLOW_TRUSTED_PROXIES must be a whole number from 0 to 5")
    return int(raw)


DOCUMENT_KINDS = ("notice", "approval_file", "task_book", "payment_notice", "recovery_notice",
                  "change_approval", "acceptance_conclusion",
                  "midterm_conclusion")


def per_kind(prefix: str, defaults: dict[str, str]) -> dict[str, str]:
    """One setting per document kind: ``{prefix}_{KIND}`` (e.g. KJFLOW_CC_APPROVAL_FILE)."""
    return {kind: os.environ.get(f"{prefix}_{kind.upper()}", defaults.get(kind, "")).strip()
            for kind in DOCUMENT_KINDS}


def names(text: str) -> tuple[str, ...]:
    """A list of organisations as a setting: separated by commas, 、 or semicolons."""
    return tuple(part.strip() for part in re.split(r"[,，、;；\n]", text) if part.strip())


def document_settings(bureau: str) -> dict[str, Any]:
    """What official documents print besides their content (GB/T 9704): the faces, the
    版记 and the seal."""
    seal_mm = os.environ.get("KJFLOW_SEAL_MM", "42").strip() or "42"
    try:
        seal_diameter = float(seal_mm)
    except ValueError:
        seal_diameter = 0.0
    if not 20 <= seal_diameter <= 60:
        raise RuntimeError("KJFLOW_SEAL_MM must be the seal's diameter in mm, 20 to 60")
    seal = os.environ.get("KJFLOW_SEAL_IMAGE", "").strip()
    if seal and not (Path(seal).is_file() and Path(seal).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"):
        raise RuntimeError(f"KJFLOW_SEAL_IMAGE：{seal} 不是可读的 PNG 图片")
    fonts = os.environ.get("KJFLOW_FONT_DIR", "").strip()
    if fonts and not Path(fonts).is_dir():
        raise RuntimeError(f"KJFLOW_FONT_DIR：找不到文件夹 {fonts}")
    return {
        # Faces, as fontconfig family names ("Family" or "Family:bold"): 仿宋 body, 小标宋
        # title and 发文机关标志, 黑体, 楷体, 宋体 (page numbers). The free Fandol faces by
        # default; KJFLOW_FONT_DIR names a folder of the bureau's licensed font files
        # (方正仿宋_GBK, 方正小标宋简体 …), which fontconfig then finds by family name.
        # The body and title faces must cover GB 2312 (tests/unit/workflow/test_gbt9704.py).
        "FONT_BODY": os.environ.get("KJFLOW_FONT_BODY", "FandolFang TT"),
        "FONT_TITLE": os.environ.get("KJFLOW_FONT_TITLE", "FandolSong TT:bold"),
        "FONT_HEI": os.environ.get("KJFLOW_FONT_HEI", "FandolHei TT"),
        "FONT_KAI": os.environ.get("KJFLOW_FONT_KAI", "FandolKai TT"),
        "FONT_SONG": os.environ.get("KJFLOW_FONT_SONG", "AR PL UMing CN"),
        "FONT_DIR": fonts or None,
        # 版记: 抄送机关 per document kind (KJFLOW_CC_NOTICE, KJFLOW_CC_APPROVAL_FILE,
        # KJFLOW_CC_PAYMENT_NOTICE …), the 印发机关, and an 附注 per kind (KJFLOW_NOTE_…,
        # printed in parentheses under the date, e.g. 此件主动公开).
        "DOCUMENT_CC": {kind: names(value) for kind, value in per_kind(
            "KJFLOW_CC", {"approval_file": "赣州市财政局"}).items()},
        "PRINTED_BY": os.environ.get("KJFLOW_PRINTED_BY", f"{bureau}办公室"),
        "DOCUMENT_NOTES": per_kind("KJFLOW_NOTE", {}),
        # The seal image (a PNG, red on transparent; never shipped with kjflow) pressed on
        # the 署名 and date, and its diameter; without one, the unsealed layout.
        "SEAL_IMAGE": seal or None,
        "SEAL_MM": seal_diameter,
    }


def signing_settings(instance: Path, production: bool) -> dict[str, Any]:
    """The bureau's signing certificate (a PKCS#12 file and its password) that every
    issued official PDF is signed with, never shipped in the repository. Elsewhere than in
    production, without one, a demo certificate is made on first use under ``instance/``
    (workflow/documents/signing.py), named as one: a signature by it proves nothing."""
    path = os.environ.get("KJFLOW_SIGNING_PKCS12", "").strip()
    password = os.environ.get("KJFLOW_SIGNING_PASSWORD", "")
    trust = os.environ.get("KJFLOW_SIGNING_TRUST", "").strip()
    if production and not path:
        raise RuntimeError(
            "生产环境须配置发文机关的签名证书：KJFLOW_SIGNING_PKCS12（PKCS#12 文件路径）和 "
            "KJFLOW_SIGNING_PASSWORD（其密码）；演示证书不具法律效力，生产环境不使用")
    for name, value in (("KJFLOW_SIGNING_PKCS12", path), ("KJFLOW_SIGNING_TRUST", trust)):
        if value and not Path(value).is_file():
            raise RuntimeError(f"{name}：找不到文件 {value}")
    if path:
        check_pkcs12(Path(path), password)
    return {
        "SIGNING_PKCS12": path or None,
        "SIGNING_PASSWORD": password,
        # PEM certificates a signature must chain to on /verify; by default the top of
        # the PKCS#12's own chain (its CA, or the certificate itself).
        "SIGNING_TRUST": trust or None,
        "SIGNING_DEMO_PKCS12": str(instance / "signing-demo.p12"),
        "SIGNING_REASON": os.environ.get("KJFLOW_SIGNING_REASON", "发文"),
        "SIGNING_LOCATION": os.environ.get("KJFLOW_SIGNING_LOCATION", "赣州"),
    }


def check_pkcs12(path: Path, password: str) -> None:
    """Refuse to start with a certificate file that does not open with its password or
    holds no key: the first document would fail to render otherwise."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        key, cert, _chain = pkcs12.load_key_and_certificates(
            path.read_bytes(), password.encode() if password else None)
    except (ValueError, TypeError, OSError) as err:
        raise RuntimeError(f"KJFLOW_SIGNING_PKCS12：无法用 KJFLOW_SIGNING_PASSWORD 打开 {path}"
                           f"（{err}）") from err
    if key is None or cert is None:
        raise RuntimeError(f"KJFLOW_SIGNING_PKCS12：{path} 中没有私钥和证书")


def load(instance: Path) -> dict[str, Any]:
    production = os.environ.get("KJFLOW_ENV", "development") == "production"
    instance.mkdir(parents=True, exist_ok=True)
    bureau = os.environ.get("KJFLOW_BUREAU_NAME", "赣州市科学技术局")
    return {
        "PRODUCTION": production,
        "SECRET_KEY": secret_key(instance, production),
        "SQLALCHEMY_DATABASE_URI": database_url(instance),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "CELERY": celery_settings(instance),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "SESSION_COOKIE_NAME": "kjflow_session",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "SESSION_PROTECTION": "strong",
        "PERMANENT_SESSION_LIFETIME": timedelta(minutes=int(os.environ.get("IDLE_MINUTES", 30))),
        "SESSION_ABSOLUTE_HOURS": int(os.environ.get("SESSION_ABSOLUTE_HOURS", 12)),
        "SESSION_REFRESH_EACH_REQUEST": True,
        "MAX_CONTENT_LENGTH": 25 * 1024 * 1024,
        "UPLOAD_MAX_BYTES": 20 * 1024 * 1024,
        "UPLOAD_FOLDER": str(instance / "files"),
        # Where `flask backup` writes its archives unless told otherwise: best on another
        # disk, or a mount that is copied off the host (docs/backup.md).
        "BACKUP_FOLDER": os.environ.get("KJFLOW_BACKUP_DIR") or str(instance / "backups"),
        "MAIL_FOLDER": str(instance / "mail"),
        "MAIL_SERVER": os.environ.get("MAIL_SERVER"),
        "MAIL_PORT": int(os.environ.get("MAIL_PORT", 25)),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME"),
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD"),
        "MAIL_USE_TLS": os.environ.get("MAIL_USE_TLS", "").lower() in ("1", "true", "yes"),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "kjflow@localhost"),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000"),
        # The issuing bureau: its name on documents (发文机关), its 发文字号 prefix, the
        # prefix of project numbers, and where objections in public notice go.
        "BUREAU_NAME": bureau,
        # Annual reports (年度报告): opened on this day (MM-DD) for the year, due on that
        # day (MM-DD; of the next year when it comes before the opening), moved to the
        # next working day when it is a day off; reminders this many working days before.
        "ANNUAL_REPORT_OPENS": os.environ.get("KJFLOW_ANNUAL_REPORT_OPENS", "12-01"),
        "ANNUAL_REPORT_DUE": os.environ.get("KJFLOW_ANNUAL_REPORT_DUE", "01-31"),
        "ANNUAL_REPORT_REMIND_DAYS": tuple(int(d) for d in os.environ.get(
            "KJFLOW_ANNUAL_REPORT_REMIND_DAYS", "7,1").split(",") if d.strip().isdigit()),
        "DOC_PREFIX": os.environ.get("KJFLOW_DOC_PREFIX", "赣市科字"),
        "PROJECT_PREFIX": os.environ.get("KJFLOW_PROJECT_PREFIX", "GZKJ"),
        "NOTICE_CONTACT": os.environ.get(
            "KJFLOW_NOTICE_CONTACT",
            "赣州市科学技术局项目管理科，电话 0797-8888888，地址：赣州市章贡区长征大道1号"),
        # The bureau as 甲方 of a 任务书: its 统一社会信用代码 and address, printed under
        # the parties when set.
        "BUREAU_USCC": os.environ.get("KJFLOW_BUREAU_USCC", ""),
        "BUREAU_ADDRESS": os.environ.get("KJFLOW_BUREAU_ADDRESS", ""),
        # Login throttling (workflow/accounts/operations.py ``authenticate``): failures
        # count per account and address within the window; past the free ones each
        # further attempt from that address on that account waits 1 s, 2, 4 ... up to
        # the longest delay. An address with more failures than the ceiling (all
        # accounts together) waits from its first failure on an account; it is never
        # refused a check on an account it has not failed on.
        "LOGIN_FREE_FAILURES": 5,
        "LOGIN_WINDOW_MINUTES": 15,
        "LOGIN_MAX_DELAY_SECONDS": 300,
        "LOGIN_ADDRESS_CEILING": 100,
        # Document verification (/verify and GET /api/v1/verify): lookups per address
        # and minute.
        "VERIFY_PER_MINUTE": 60,
        "TRUSTED_PROXIES": trusted_proxies(),
        **signing_settings(instance, production),
        "API_TOKEN_HOURS": 8,
        # 项目变更 (workflow/changes): how many months one extension (延期) may add to a
        # project's end, how many extensions a project may have, and the planned duration
        # of a 包干制 project (揭榜挂帅: its challenge's) from which the end is counted.
        "EXTENSION_MAX_MONTHS": int(os.environ.get("KJFLOW_EXTENSION_MAX_MONTHS", 12)),
        "EXTENSIONS_PER_PROJECT": int(os.environ.get("KJFLOW_EXTENSIONS_PER_PROJECT", 1)),
        "PROJECT_MONTHS": int(os.environ.get("KJFLOW_PROJECT_MONTHS", 24)),
        # A self-service reset link (忘记密码) works once, for this long.
        "PASSWORD_RESET_MINUTES": 30,
        # Second factor (两步验证, TOTP): required of officers, leaders, finance staff and
        # administrators in production (optional for everyone else, and for everyone
        # elsewhere unless KJFLOW_REQUIRE_SECOND_FACTOR=1); this many wrong codes in a
        # row make the person wait this long.
        "SECOND_FACTOR_REQUIRED": production or os.environ.get(
            "KJFLOW_REQUIRE_SECOND_FACTOR", "").lower() in ("1", "true", "yes"),
        "OTP_MAX_FAILURES": 5,
        "OTP_LOCK_MINUTES": 15,
        "TOTP_ISSUER": os.environ.get("KJFLOW_TOTP_ISSUER", "科技计划项目管理系统"),
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "WTF_CSRF_TIME_LIMIT": None,
        "JSON_AS_ASCII": False,
        **document_settings(bureau),
        **recovery_settings(bureau),
    }


def recovery_settings(bureau: str) -> dict[str, Any]:
    """追回: the days a 追回通知 gives to repay, and the account the money goes back to
    (printed on the notice)."""
    days = os.environ.get("KJFLOW_RECOVERY_DUE_DAYS", "30").strip() or "30"
    if not days.isdigit() or not 1 <= int(days) <= 365:
        raise RuntimeError("KJFLOW_RECOVERY_DUE_DAYS must be a whole number of days, 1 to 365")
    return {
        "RECOVERY_DUE_DAYS": int(days),
        "RECOVERY_ACCOUNT_NAME": os.environ.get("KJFLOW_RECOVERY_ACCOUNT_NAME", bureau),
        "RECOVERY_BANK": os.environ.get("KJFLOW_RECOVERY_BANK", "中国工商银行赣州分行营业部"),
        "RECOVERY_ACCOUNT": os.environ.get("KJFLOW_RECOVERY_ACCOUNT", "1510 2000 0920 0012 345"),
    }
