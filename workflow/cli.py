"""Command line: ``flask --app workflow ...`` or the ``kjflow`` console script."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from werkzeug.serving import make_server

from workflow.accounts import operations as accounts
from workflow.core.errors import ServiceError
from workflow.core.models import db


def _fail(err: ServiceError) -> None:
    lines = [err.message]
    if isinstance(err.details, dict):
        lines += [f"  {k}: {v}" for k, v in err.details.items()]
    raise click.ClickException("\n".join(lines))


@click.group("org", help="单位管理")
def org_cli() -> None:
    pass


@org_cli.command("create")
@click.option("--name", required=True, help="单位名称")
@click.option("--uscc", required=True, help="统一社会信用代码")
@click.option("--kind", default="university",
              type=click.Choice(["university", "enterprise", "institute", "government"]))
@click.option("--parent", "parent_uscc", help="所属主管部门（政府部门类单位）的统一社会信用代码")
@with_appcontext
def org_create(name: str, uscc: str, kind: str, parent_uscc: str | None) -> None:
    try:
        parent = accounts.find_organization(parent_uscc) if parent_uscc else None
        org = accounts.create_organization(name, uscc, kind, parent.id if parent else None)
    except ServiceError as err:
        db.session.rollback()
        _fail(err)
    db.session.commit()
    click.echo(f"已创建单位 {org.id}：{org.name}（{org.uscc}）")


@org_cli.command("set-parent")
@click.argument("uscc")
@click.argument("parent_uscc", required=False)
@with_appcontext
def org_set_parent(uscc: str, parent_uscc: str | None) -> None:
    """把单位 USCC 置于主管部门 PARENT_USCC 之下（省略 PARENT_USCC：不隶属于任何主管部门）。"""
    try:
        org = accounts.find_organization(uscc)
        parent = accounts.find_organization(parent_uscc) if parent_uscc else None
        accounts.place_organization(org, parent.id if parent else None)
    except ServiceError as err:
        db.session.rollback()
        _fail(err)
    db.session.commit()
    click.echo(f"{org.name}：主管部门 {org.parent.name if org.parent else '无'}")


@click.group("user", help="用户管理")
def user_cli() -> None:
    pass


@user_cli.command("create")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, help="角色，可重复")
@click.option("--org", "org_uscc", help="所属单位的统一社会信用代码")
@click.option("--name", help="姓名")
@click.option("--email", help="电子邮箱")
@click.option("--phone", help="电话")
@click.option("--password-stdin", is_flag=True, help="从标准输入读取密码")
@click.option("--password", help="密码（会留在命令历史里，建议用 --password-stdin）")
@with_appcontext
def user_create(username: str, roles: tuple[str, ...], org_uscc: str | None, name: str | None,
                email: str | None, phone: str | None, password_stdin: bool,
                password: str | None) -> None:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise click.UsageError("请用 --password-stdin 或 --password 提供密码")
    try:
        org = accounts.find_organization(org_uscc) if org_uscc else None
        user = accounts.create_user(username, password, list(roles), name=name, email=email,
                                    phone=phone, organization=org)
    except ServiceError as err:
        db.session.rollback()
        _fail(err)
    db.session.commit()
    click.echo(f"已创建用户 {user.username}（{'、'.join(sorted(user.roles))}）")


@click.command("seed", help="写入演示数据（可重复执行，不会重复写入）")
@click.option("--demo", is_flag=True, required=True)
@click.option("--quiet", is_flag=True, help="不列出演示账号（devserver 启动后列出）")
@with_appcontext
def seed(demo: bool, quiet: bool) -> None:
    from workflow import demo as demo_data

    created = demo_data.seed()
    click.echo("演示数据已写入。" if created else "演示数据已存在，未重复写入。")
    if not quiet:
        click.echo(demo_data.logins_text())


WORKER_READY_TIMEOUT = 90.0  # seconds


@click.command("devserver", help="启动网页服务和后台任务进程（内嵌默认配置）")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option("--verbose", is_flag=True, help="日志输出到终端（默认写入 instance/logs/）")
@with_appcontext
def devserver(host: str, port: int, verbose: bool) -> None:
    """The web server and a celery worker (with beat). Their logs go to files under
    ``instance/logs/``; once both are ready, the address and the demo logins are printed
    last, so that they are what the terminal shows."""
    from workflow import demo as demo_data

    app: Any = current_app._get_current_object()  # type: ignore[attr-defined]
    logs = Path(app.instance_path) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    worker_log, web_log = logs / "worker.log", logs / "web.log"
    ready_mark = worker_log.stat().st_size if worker_log.exists() else 0
    with worker_log.open("ab") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "worker", "worker", "--beat",
             "--pool=solo", "--loglevel=INFO",
             "--schedule", app.config["CELERY"]["beat_schedule_filename"]],
            env=dict(os.environ), stdout=None if verbose else out,
            stderr=None if verbose else subprocess.STDOUT,
        )
    click.echo(f"后台任务进程已启动（pid {worker.pid}），等待就绪…")

    def stop(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        if not verbose:
            _wait_worker_ready(worker, worker_log, ready_mark)
            web = logging.getLogger("werkzeug")
            web.setLevel(logging.INFO)
            web.addHandler(logging.FileHandler(web_log, encoding="utf-8"))
            web.propagate = False
        server = make_server(host, port, app, threaded=True)
        lines = ["", f"kjflow 已启动：http://{host}:{port}/"]
        if not verbose:
            lines.append(f"日志：网页服务 {web_log}；后台任务 {worker_log}")
        if demo_data.present():
            lines += ["", demo_data.logins_text()]
        lines += ["", "按 Ctrl-C 同时停止网页服务和后台任务进程"]
        click.echo("\n".join(lines))
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C while the worker stops must not leave it running alone.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
        click.echo("已停止网页服务和后台任务进程")


def _wait_worker_ready(worker: subprocess.Popen[bytes], log: Path, since: int) -> None:
    """Until celery says ``ready.`` in its log (written after ``since``); fail with the
    log's tail when the worker exits or takes too long."""
    deadline = time.monotonic() + WORKER_READY_TIMEOUT
    while time.monotonic() < deadline:
        with log.open("rb") as fh:
            fh.seek(since)
            if b" ready." in fh.read():
                return
        if worker.poll() is not None:
            break
        time.sleep(0.2)
    tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
    raise click.ClickException(f"后台任务进程未能就绪（日志 {log}）：\n{tail}")


@click.group("calendar", help="节假日安排")
def calendar_cli() -> None:
    pass


@calendar_cli.command("seed")
@with_appcontext
def calendar_seed() -> None:
    """写入 chinese-calendar 数据包已有、而数据库中尚无的年份（不覆盖已录入或更正的年份）。"""
    from workflow.holidays import operations as holidays

    years = holidays.seed_from_package()
    db.session.commit()
    click.echo(f"已写入 {years[0]}–{years[-1]} 年共 {len(years)} 年的节假日安排" if years
               else "数据包中的年份均已存在，未重复写入。")
    missing = holidays.missing_next_year()
    if missing is not None:
        click.echo(f"注意：尚无 {missing} 年的安排，请系统管理员在“节假日安排”中录入。")


@click.group("review", help="专家评审")
def review_cli() -> None:
    pass


@review_cli.command("rescore")
@click.argument("call_ids", nargs=-1, type=int)
@with_appcontext
def review_rescore(call_ids: tuple[int, ...]) -> None:
    """按指南的汇总方式，重新计算其评审阶段及以后各申报书保存的评分汇总（评分数据经导入等途径
    直接写入数据库后使用）；不指定指南编号时，重算所有有此类申报书的指南。"""
    from workflow.applying.models import Application
    from workflow.calls.models import Call
    from workflow.review import results

    query = sa.select(Call).order_by(Call.id)
    if call_ids:
        query = query.where(Call.id.in_(call_ids))
    else:
        query = query.where(sa.exists().where(Application.call_id == Call.id,
                                              Application.state.in_(results.AFTER_REVIEW)))
    calls = list(db.session.scalars(query))
    unknown = sorted(set(call_ids) - {c.id for c in calls})
    if unknown:
        raise click.ClickException("没有这些指南：" + "、".join(map(str, unknown)))
    for call in calls:
        results.rescore(call)
        db.session.commit()
        click.echo(f"已重算：{call.title}（指南 {call.id}）")
    if not calls:
        click.echo("没有需要重算的指南")


def init_app(app: Flask) -> None:
    app.cli.add_command(calendar_cli)
    app.cli.add_command(review_cli)
    app.cli.add_command(org_cli)
    app.cli.add_command(user_cli)
    app.cli.add_command(seed)
    app.cli.add_command(devserver)
    app.cli.add_command(states_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)


def _create() -> Flask:
    from workflow import create_app

    return create_app()


def main() -> None:
    FlaskGroup(create_app=_create, help="kjflow 命令行")(prog_name="kjflow")


@click.group("states", help="生命周期")
def states_cli() -> None:
    pass


@states_cli.command("diagram")
@click.argument("lifecycle")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot", "svg"]), default="mermaid")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="写入文件（默认标准输出）")
def states_diagram(lifecycle: str, fmt: str, output: str | None) -> None:
    from states import LIFECYCLES, diagram

    lc = LIFECYCLES.get(lifecycle)
    if lc is None:
        raise click.BadParameter(f"应为 {', '.join(LIFECYCLES)} 之一", param_hint="LIFECYCLE")
    if fmt == "svg":
        text = diagram.svg(lc)
        if text is None:
            raise click.ClickException(
                "未安装 graphviz（dot），无法生成 SVG；可用 --format mermaid")
    else:
        text = diagram.mermaid(lc) if fmt == "mermaid" else diagram.dot(lc)
    if output:
        with click.open_file(output, "w", encoding="utf-8") as fh:
            fh.write(text)
        click.echo(f"已写入 {output}")
    else:
        click.echo(text, nl=False)


@click.group("audit", help="审计轨迹")
def audit_cli() -> None:
    pass


@audit_cli.command("verify")
@with_appcontext
def audit_verify() -> None:
    """核验每条哈希链和摘要链；发现问题时以非零状态退出。"""
    from workflow.core import audit

    breaches = audit.verify()
    if breaches:
        for b in breaches:
            click.echo(f"✗ {b}", err=True)
        raise SystemExit(1)
    click.echo("审计链完整：未发现改动或删除。")


@audit_cli.command("digest")
@with_appcontext
def audit_digest() -> None:
    """记录自上次摘要以来移动过的链头；积压较多时分成多份摘要，每份单独提交。"""
    from workflow.core import audit

    first = last = None
    count = 0
    while (digest := audit.write_digest()) is not None:
        db.session.commit()
        first, last, count = first or digest.id, digest.id, count + 1
    if count == 0:
        click.echo("自上次摘要以来没有新的审计记录")
    elif count == 1:
        click.echo(f"已记录摘要 {last}")
    else:
        click.echo(f"已记录摘要 {first}–{last}（共 {count} 份）")


@click.command("backup", help="把数据库和文件库（上传的附件、生成的文件）备份到一个归档")
@click.option("--output", "-o", type=click.Path(path_type=Path),
              help="归档所在目录，或以 .tar.gz 结尾的文件名（默认 KJFLOW_BACKUP_DIR 或 "
                   "instance/backups）")
@click.option("--keep", type=click.IntRange(min=1),
              help="备份成功后，该目录只保留最新的 N 份归档")
@with_appcontext
def backup_command(output: Path | None, keep: int | None) -> None:
    """A consistent archive of the database and the file store, even while the web
    server and the worker run; exits non-zero when a stored file was found damaged."""
    from workflow.core import backup

    try:
        made = backup.backup(output)
    except backup.BackupError as err:
        raise click.ClickException(str(err)) from err
    manifest = made.manifest
    tables = manifest["database"]["tables"]
    size = made.path.stat().st_size
    click.echo(f"已备份到 {made.path}（{size / 1024 / 1024:.1f} MB）：{len(tables)} 张表、"
               f"{sum(tables.values())} 行，{len(manifest['files'])} 个文件；"
               f"架构版本 {manifest['database']['schema_revision']}")
    if keep:
        for old in backup.prune(made.path.parent, keep):
            click.echo(f"已删除较早的归档 {old.name}")
    if made.damaged:
        for member in made.damaged:
            click.echo(f"✗ 文件库中此文件的内容与其名称（SHA-256）不符，已按原样存入归档并在清单中"
                       f"标出：{member}", err=True)
        raise SystemExit(1)


@click.command("restore", help="从备份归档重建本实例的数据库和文件库")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="目标数据库已有数据时仍然用归档覆盖它")
@with_appcontext
def restore_command(archive: Path, force: bool) -> None:
    """Into an empty database (or, with --force, over one with data); every member is
    checked against the manifest first. Stop the web server and the worker before."""
    from workflow.core import backup

    try:
        done = backup.restore(archive, force=force)
    except backup.BackupError as err:
        raise click.ClickException(str(err)) from err
    database = done.manifest["database"]
    tables = database["tables"]
    click.echo(f"已从 {archive.name}（{done.manifest['created_at']} 备份）恢复："
               f"{len(tables)} 张表、{sum(tables.values())} 行，{done.files} 个文件，"
               f"均与清单的 SHA-256 一致；架构版本 {database['schema_revision']}")
    for member in done.damaged:
        click.echo(f"✗ 备份时已损坏、未恢复的文件：{member}", err=True)
    head = _schema_head()
    if head and database["schema_revision"] not in (None, head):
        click.echo(f"本程序的架构版本是 {head}：请运行 flask --app workflow db upgrade")
    click.echo("请运行 flask --app workflow audit verify 核验审计链，"
               "再启动网页服务和后台任务进程。")


def _schema_head() -> str | None:
    from alembic.script import ScriptDirectory

    migrate = current_app.extensions.get("migrate")
    if migrate is None:
        return None
    heads = ScriptDirectory(migrate.directory).get_heads()
    return ",".join(sorted(heads)) or None
