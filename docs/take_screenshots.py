"""Screenshots of the main pages, every demo role's, at a desktop's width (1280 px) and a
phone's (390 px), into docs/screenshots/ as NAME-desktop.png and NAME-phone.png.

    .venv/bin/python docs/take_screenshots.py            # its own demo, then stops it
    .venv/bin/python docs/take_screenshots.py --only call-builder --only login
    .venv/bin/python docs/take_screenshots.py --url http://127.0.0.1:5000

By default the script does what ``make run`` does in a temporary instance folder (``flask
db upgrade``, ``flask seed --demo``, ``kjflow devserver`` on a free port), takes the
pictures and stops the server: the pictures always show the demo as seeded, and nothing of
yours is touched. With ``--url`` it uses a server you started (``make run``) instead; it
then leaves there what taking the pictures does (some pages show nothing otherwise): the
application awaiting the recommendation sent on to the formal review, a draft guide copied
from last year's, a draft application of researcher2, the call under review decided and on
public notice, and an objection to one of its projects.

A page is taken down to at most three screens' height. The PNGs are reduced to 256
colours (Pillow) to keep the repository small. A page wider than the screen is named at
the end and the script exits with 1: at 390 px no page may scroll sideways.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from workflow.demo import (
    ACCEPTANCE_PROJECTS,
    CHALLENGE_PROJECT,
    DEMO_PASSWORD,
    EXCELLENT_PROJECT,
    FUNDED_TITLE,
    LAST_YEAR_TITLE,
    MIDTERM_RECTIFY,
    MIDTERM_WAITING,
    REVIEWED,
    REVIEWING_TITLE,
    WAITING,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
MAX_SCREENS = 3  # a page is taken down to at most this many screens' height
# Settings that would take `make run` away from the embedded default.
FOREIGN_ENV = ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "SECRET_KEY", "KJFLOW_ENV",
               "FLASK_APP")

FUNDED_PROJECT = "稀土永磁电机高效驱动控制技术研究"
RECOMMENDED_APP = next(title for _, _, title, state in WAITING if state.value == "recommended")
FIRST, SECOND, THIRD, _FOURTH = (title for title, *_ in REVIEWED)
NEW_APPLICATION = "稀土发光材料基础研究"


# ---- the demo server --------------------------------------------------------------------

def _bin(name: str) -> str:
    for folder in (Path(sys.executable).parent, ROOT / ".venv" / "bin"):
        if (folder / name).exists():
            return str(folder / name)
    raise SystemExit(f"{name} not found next to {sys.executable} nor in .venv/bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def demo_server() -> Iterator[str]:
    """`make run` in a temporary instance folder; its address. Stopped (with the worker it
    started) and the folder removed on the way out."""
    instance = Path(tempfile.mkdtemp(prefix="kjflow-shots-"))
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}
    env.update(KJFLOW_INSTANCE=str(instance), PYTHONUNBUFFERED="1")
    env.pop("PYTHONWARNINGS", None)
    log = instance / "devserver.log"
    try:
        for step in (["db", "upgrade"], ["seed", "--demo", "--quiet"]):
            subprocess.run([_bin("flask"), "--app", "workflow", *step], cwd=ROOT, env=env,
                           check=True, capture_output=True, timeout=300)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        with log.open("wb") as out:
            server = subprocess.Popen(
                [_bin("kjflow"), "devserver", "--host", "127.0.0.1", "--port", str(port)],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_healthy(url, server, log)
            print(f"演示服务：{url}（{instance}）")
            yield url
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)  # the worker, if it outlived devserver
    finally:
        shutil.rmtree(instance, ignore_errors=True)


def _wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"kjflow devserver exited with {server.returncode}:\n"
                             + log.read_text(errors="replace"))
        with (contextlib.suppress(OSError),
              urllib.request.urlopen(url + "/healthz", timeout=2) as resp):  # noqa: S310
            if resp.status == 200:
                return
        time.sleep(0.3)
    raise SystemExit(f"{url}/healthz did not answer within 90 s:\n"
                     + log.read_text(errors="replace"))


# ---- what to take -----------------------------------------------------------------------

Opener = Callable[[Page], str]  # finds the page (clicking, creating what it needs): its path
Preparer = Callable[[Page], None]  # once the page is open at a size, before the picture


@dataclass(frozen=True)
class Shot:
    name: str
    user: str | None  # a demo login, None for a visitor without an account
    open: str | Opener
    prepare: Preparer | None = None
    full: bool = True  # down the page (up to MAX_SCREENS); False: the screen as one sees it


@dataclass(frozen=True)
class Step:
    """Something done between pictures (it changes what the following ones show)."""
    what: str
    user: str
    run: Callable[[Page], None]


def link_in(path: str, name: str | re.Pattern[str]) -> Opener:
    """The address of the link named ``name`` on the page at ``path``."""
    def opener(page: Page) -> str:
        page.goto(path)
        link = page.locator("main").get_by_role("link", name=name).first
        href = link.get_attribute("href")
        if not href:
            raise SystemExit(f"no link {name!r} on {path}")
        return href
    return opener


def call_page(title_end: str) -> Opener:
    return link_in("/calls", re.compile(re.escape(title_end) + "$"))


def then(first: Opener, suffix: str) -> Opener:
    return lambda page: first(page) + suffix


def copied_guide(page: Page) -> str:
    """Last year's guide copied into a new draft: the call builder."""
    page.goto("/calls/new")
    page.locator("[data-testid=copy-sources] li", has_text=LAST_YEAR_TITLE).get_by_role(
        "button", name=re.compile("^复制为新草稿")).click()
    expect(page).to_have_url(re.compile(r"/calls/\d+/edit$"))
    return page.url.removeprefix(page.url.split("/calls/")[0])


def builder_field_open(page: Page) -> None:
    """The builder with one field's settings open and the preview beside it settled."""
    row = page.locator("[data-builder=form_schema] .kb-row").nth(2)
    row.locator(".fb-toggle").click()
    expect(row.locator(".fb-settings")).to_be_visible()
    page.locator("#field-form_schema").evaluate(
        "el => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 8)")
    expect(page.locator("#form-preview.htmx-request")).to_have_count(0)


def new_application(page: Page) -> str:
    """researcher2's new draft on the open 包干制 call: the application form."""
    page.goto(call_page("（包干制试点）")(page))
    page.get_by_role("link", name="申报", exact=True).click()
    page.get_by_label("项目名称").fill(NEW_APPLICATION)
    page.get_by_role("button", name="创建并填写").click()
    expect(page).to_have_url(re.compile(r"/applications/\d+/edit$"))
    return page.url.removeprefix(page.url.split("/applications/")[0])


def menu_open(page: Page) -> None:
    """On a phone the menu behind its button, opened; on a desktop it is always there."""
    toggler = page.get_by_role("button", name="展开菜单")
    if toggler.is_visible():
        toggler.click()
        expect(page.locator("#main-menu.show")).to_be_visible()


def diagram_tab(page: Page) -> None:
    page.get_by_role("tab", name="完整流程图").click()
    expect(page.locator("[data-testid=lifecycle-diagram]")).to_be_visible()


def confirm(page: Page) -> None:
    page.get_by_role("dialog", name="请确认").get_by_role(
        "button", name=re.compile("^确定")).click()


def recommender_recommends(page: Page) -> None:
    """The application waiting for the recommendation goes on to the formal review."""
    page.goto(link_in("/applications", RECOMMENDED_APP)(page))
    page.get_by_role("button", name="推荐", exact=True).click()
    dialog = page.get_by_role("dialog", name="请确认")
    with contextlib.suppress(PlaywrightTimeout):
        dialog.wait_for(state="visible", timeout=1500)
        confirm(page)
    expect(page.get_by_role("button", name="推荐", exact=True)).to_have_count(0)


def officer_proposes(page: Page) -> None:
    """The first two of the call under review, the second at 35 万元: below the 三重一大
    threshold, so the leader may approve without a recorded meeting."""
    page.goto(call_page(REVIEWING_TITLE)(page) + "/decision")
    page.get_by_label(f"列入 {THIRD}").uncheck()
    page.get_by_label(f"{SECOND} 资助金额（万元）").fill("35")
    page.get_by_label("说明").fill("按评审排名择优资助。")
    page.get_by_role("button", name="提交领导审定").click()
    expect(page.locator("[data-testid=pending-decision]")).to_be_visible()


def leader_approves(page: Page) -> None:
    page.goto(call_page(REVIEWING_TITLE)(page) + "/decision")
    page.get_by_label("审定意见").fill("同意。")
    page.get_by_role("button", name="审定通过").click()
    confirm(page)
    expect(page.locator("[data-testid=approved-decision]")).to_be_visible()


def officer_publishes(page: Page) -> None:
    page.goto(call_page(REVIEWING_TITLE)(page) + "/decision")
    page.locator("[data-testid=open-notices]").click()
    expect(page.locator("[data-testid=open-notices]")).to_have_count(0)


def visitor_objects(page: Page) -> None:
    """A real-name objection from the public page: the objections list has a row."""
    page.goto("/public/notices")
    page.get_by_role("link", name=re.compile("^提出异议")).first.click()
    page.get_by_label("姓名").fill("周文华")
    page.get_by_label("联系方式").fill("13907971234")
    page.get_by_label("异议内容（事实和理由）").fill("该项目示范线与已有项目内容相近，请核查是否重复申报。")
    page.get_by_role("button", name="提交异议").click()
    page.wait_for_load_state("load")


# Each role's 工作台, then the lists and pages each kind of user lives on, in an order
# where what one picture needs to create comes after the pictures it would change.
PLAN: list[Shot | Step] = [
    Shot("login", None, "/login"),
    Shot("workbench-officer", "officer", "/"),
    Shot("menu-officer", "officer", "/", menu_open, full=False),
    Shot("workbench-researcher", "researcher1", "/"),
    Shot("workbench-unit", "unitadmin", "/"),
    Shot("workbench-recommender", "recommender", "/"),
    Shot("workbench-finance", "finance1", "/"),
    Shot("workbench-demand", "demand", "/"),
    Shot("workbench-expert", "expert5", "/"),
    Shot("workbench-auditor", "auditor", "/"),
    Shot("workbench-admin", "admin", "/"),
    Shot("calls", "officer", "/calls"),
    Shot("call", "researcher1", call_page("（第一批）")),
    Shot("applications", "officer", "/applications"),
    Shot("application-applicant", "researcher1", link_in("/applications", FUNDED_PROJECT)),
    Step("主管部门推荐（进入形式审查）", "recommender", recommender_recommends),
    Shot("application-officer", "officer", link_in("/applications", RECOMMENDED_APP)),
    Shot("application-officer-diagram", "officer", link_in("/applications", FIRST),
         diagram_tab),
    Shot("application-demand", "demand", link_in("/applications", CHALLENGE_PROJECT)),
    Shot("review-queue", "expert5", "/reviews"),
    Shot("score-form", "expert5", link_in("/reviews", re.compile("^评分$"))),
    Shot("reviews", "officer", "/reviews/all"),
    Shot("experts", "officer", "/experts"),
    Shot("ranking", "officer", then(call_page(REVIEWING_TITLE), "/ranking")),
    Shot("decision", "officer", then(call_page(REVIEWING_TITLE), "/decision")),
    Shot("finance-queue", "finance1", "/finance"),
    Shot("ledger", "finance1", then(call_page(FUNDED_TITLE), "/ledger")),
    Shot("reconcile", "finance1", "/finance/reconcile"),
    Shot("bank-account", "unitadmin", "/organization/bank"),
    Shot("inbox", "researcher1", "/inbox"),
    Shot("notifications", "admin", "/notifications"),
    Shot("integrity", "officer", "/integrity"),
    Shot("verify", None, "/verify"),
    Shot("numbering", "officer", "/admin/numbering"),
    Shot("numbering-register", "officer", "/admin/numbering/documents"),
    Shot("changes", "officer", "/changes"),
    Shot("changes-unit", "unitadmin2", "/changes"),
    Shot("annual-reports", "officer", "/annual-reports"),
    Shot("recoveries", "finance1", "/recoveries"),
    Shot("sanction-reviews", "officer", "/sanction-reviews"),
    Shot("midterms", "officer", "/midterms"),
    Shot("midterm-officer", "officer", link_in("/midterms", MIDTERM_WAITING)),
    Shot("midterm-researcher", "researcher5", link_in("/midterms", MIDTERM_RECTIFY)),
    Shot("acceptances", "officer", "/acceptances"),
    Shot("acceptance-officer", "officer", link_in("/acceptances", ACCEPTANCE_PROJECTS[0][0])),
    Shot("acceptance-researcher", "researcher4",
         link_in("/acceptances", ACCEPTANCE_PROJECTS[2][0])),
    Shot("evaluations", "officer", "/evaluations"),
    Shot("evaluation", "officer", link_in("/evaluations", EXCELLENT_PROJECT)),
    Shot("call-builder", "officer", copied_guide, builder_field_open, full=False),
    Shot("application-form", "researcher2", new_application),
    Step("项目主管拟定立项建议名单", "officer", officer_proposes),
    Shot("workbench-leader", "leader", "/"),
    Shot("decision-leader", "leader", then(call_page(REVIEWING_TITLE), "/decision")),
    Step("分管领导审定", "leader", leader_approves),
    Step("项目主管发布立项公示", "officer", officer_publishes),
    Shot("public-notice", None, "/public/notices"),
    Step("公众实名提出异议", "visitor", visitor_objects),
    Shot("objections", "officer", "/objections"),
]


# ---- taking them ------------------------------------------------------------------------

class Sessions:
    """One logged-in browser context per (login, size), opened when first needed."""

    def __init__(self, browser: Browser, url: str) -> None:
        self.browser, self.url = browser, url
        self.contexts: dict[tuple[str | None, str], BrowserContext] = {}

    def page(self, user: str | None, size: str) -> Page:
        key = (user, size)
        if key not in self.contexts:
            width, height = SIZES[size]
            context = self.browser.new_context(
                base_url=self.url, locale="zh-CN", reduced_motion="reduce",
                viewport={"width": width, "height": height})
            context.set_default_timeout(20_000)
            page = context.new_page()
            if user not in (None, "visitor"):
                page.goto("/login")
                page.fill("#username", user)
                page.fill("#password", DEMO_PASSWORD)
                page.get_by_role("button", name="登录", exact=True).click()
                page.wait_for_url(self.url + "/")
            self.contexts[key] = context
            return page
        return self.contexts[key].pages[0]

    def close(self) -> None:
        for context in self.contexts.values():
            context.close()


def settle(page: Page) -> None:
    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready.then(() => true)")
    page.wait_for_timeout(150)


def take(page: Page, shot: Shot, size: str, path: str) -> int:
    """The picture; how many pixels the page is wider than the screen."""
    page.goto(path)
    settle(page)
    if shot.prepare:
        shot.prepare(page)
        settle(page)
    width, height = SIZES[size]
    overflow: int = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    page_height = page.evaluate("document.documentElement.scrollHeight")
    top = page.evaluate("window.scrollY") if shot.prepare else 0
    target = OUT / f"{shot.name}-{size}.png"
    if shot.full:
        tall = max(min(page_height - top, height * MAX_SCREENS), height)
        page.screenshot(path=str(target), full_page=True,
                        clip={"x": 0, "y": top, "width": width, "height": tall})
    else:
        page.screenshot(path=str(target))
    shrink(target)
    print(f"{target.relative_to(ROOT)}  {target.stat().st_size // 1024} KB"
          + (f"  横向溢出 {overflow}px" if overflow > 0 else ""))
    return overflow


def shrink(png: Path) -> None:
    """256 colours without dithering: text stays sharp, the file a third of the size."""
    with Image.open(png) as img:
        small = img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                            dither=Image.Dither.NONE)
    small.save(png, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running server (make run) instead of a fresh demo")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="take only these pictures (the steps before them still run)")
    opts = parser.parse_args()
    names = [s.name for s in PLAN if isinstance(s, Shot)]
    unknown = set(opts.only or ()) - set(names)
    if unknown:
        parser.error(f"unknown pictures {sorted(unknown)}; known: {', '.join(names)}")
    OUT.mkdir(exist_ok=True)
    with contextlib.ExitStack() as stack:
        url = opts.url.rstrip("/") if opts.url else stack.enter_context(demo_server())
        pw = stack.enter_context(sync_playwright())
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        stack.callback(browser.close)
        sessions = Sessions(browser, url)
        stack.callback(sessions.close)
        wide: list[str] = []
        for item in PLAN:
            if isinstance(item, Step):
                print(f"… {item.what}")
                item.run(sessions.page(item.user, "desktop"))
                continue
            if opts.only and item.name not in opts.only:
                continue
            path = item.open if isinstance(item.open, str) else item.open(
                sessions.page(item.user, "desktop"))
            for size in SIZES:
                if take(sessions.page(item.user, size), item, size, path) > 0:
                    wide.append(f"{item.name}-{size}")
    if wide:
        print("比屏幕宽（会横向滚动）：" + "、".join(wide))
        sys.exit(1)


if __name__ == "__main__":
    main()
