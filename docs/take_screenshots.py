"""Screenshots of the main pages, every demo role's, at 1366×768 and 390×844, into
docs/screenshots/. Start the product first (``make run``), then:

    .venv/bin/python docs/take_screenshots.py [--url http://127.0.0.1:5000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

from workflow.demo import DEMO_PASSWORD

OUT = Path(__file__).resolve().parent / "screenshots"
PASSWORD = DEMO_PASSWORD
SIZES = {"1366": (1366, 768), "390": (390, 844)}
# (file name, login, path): the pages each kind of user lives on (the call builder, the
# lists, the application and score pages are taken by their browser tests).
PAGES = [
    ("workbench-officer", "officer", "/"),
    ("workbench-researcher", "researcher1", "/"),
    ("decision", "officer", "/calls/3/decision"),
    ("review-queue", "expert1", "/reviews"),
    ("public-notice", None, "/public/notices"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    opts = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        for size, (width, height) in SIZES.items():
            logged_in: dict[str | None, object] = {}
            for name, user, path in PAGES:
                if user not in logged_in:
                    context = browser.new_context(base_url=opts.url, locale="zh-CN",
                                                  viewport={"width": width, "height": height})
                    page = context.new_page()
                    if user is not None:
                        page.goto("/login")
                        page.fill("#username", user)
                        page.fill("#password", PASSWORD)
                        page.get_by_role("button", name="登录", exact=True).click()
                        page.wait_for_url(opts.url + "/")
                    logged_in[user] = page
                page = logged_in[user]  # type: ignore[assignment]
                page.goto(path)  # type: ignore[attr-defined]
                target = OUT / f"{name}-{size}.png"
                page.screenshot(path=str(target), full_page=False)  # type: ignore[attr-defined]
                print(target)
        browser.close()


if __name__ == "__main__":
    main()
