"""Official documents as PDF (workflow.documents.pdf): a 立项通知书 against the naive way of
rendering it, a 500-row 立项文件, glyph coverage and memory. No database is used.

    .venv/bin/python bench/pdf.py [--quick]

- ``notice_s``: median seconds of one 立项通知书 as WeasyPrint renders it (PDF/A-2b, not
  signed; after one warm-up render), names with 堃, 喆 and 䶮 in it.
- ``signed_s``/``notice_kb``: median seconds of the same notice rendered and issued as
  official.py issues it (render, PDF/A metadata, PAdES signature: ``signing.issue``), and
  the size of the issued file. The certificate is a demo one made for the run (RSA 2048,
  as the demo's and most bureaus' are) in a temporary folder; ``unsigned_kb`` is the size
  before signing, ``pdfa_problems`` what ``archive.pdfa_problems`` finds in the issued
  file (0).
- ``naive_s``: the same notice rendered the naive way, measured in the same run: plain
  ``weasyprint.HTML(...).render().write_pdf()`` with only the system Noto CJK fonts
  ("Noto Serif CJK SC" body, "Noto Sans CJK SC" headings) and fontTools subsetting, i.e.
  WeasyPrint without libharfbuzz-subset (``weasyprint.pdf.fonts.harfbuzz_subset`` set to
  None; the run checks that fontTools, not HarfBuzz, did subset). ``speedup`` is
  naive_s / notice_s.
- ``list500_s``: one 立项文件 listing 500 projects (the table head repeats on each page).
- ``missing_glyphs``: distinct characters of all the rendered text that no document font
  covers, plus rare name characters that do not read back from the PDFs.
- ``rss_mb_100``: growth of the resident set over 100 consecutive notice renders in this
  process, after the warm-up.

``--quick`` renders and issues the notice 5 times instead of 21 and the naive notice once
instead of twice; the list is 500 rows in both.
"""

from __future__ import annotations

import argparse
import gc
import html as html_lib
import io
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench._common import bench_line, median, rss_mb  # noqa: E402
from workflow.documents import archive, pdf, signing  # noqa: E402

RARE = "堃喆䶮"
NAIVE_FACES = pdf.FontFaces(song='"Noto Serif CJK SC"', hei='"Noto Sans CJK SC"')

LETTERHEAD = pdf.Letterhead(
    authority="赣州市科学技术局", doc_number="赣市科字〔2026〕15号",
    title="关于下达2026年度赣州市科技计划项目立项的通知", issued_on=date(2026, 11, 28),
    verify_url="https://kjj.ganzhou.gov.cn/verify/K7Q2MX9DF4HTB3NR",
    verify_code="K7Q2-MX9D-F4HT-B3NR")
PROJECT = pdf.ProjectLine(
    project_number="GZKJ-2026-BG-0001", title="离子型稀土矿绿色高效浸萃一体化关键技术研究",
    organization="赣州䶮堃稀土新材料有限公司", leader="王喆堃", amount=Decimal("1234500.00"))
NOTICE = pdf.NoticeContext(
    letterhead=LETTERHEAD, project=PROJECT, call_title="2026年度赣州市科技计划",
    scheme_label="包干制", challenge_title=None, approval_file_number="赣市科字〔2026〕14号")

ORGS = ["江西理工大学", "赣南医科大学", "赣南师范大学", "赣州䶮堃稀土新材料有限公司",
        "中国科学院赣江创新研究院", "赣州市人民医院", "江西金力永磁科技股份有限公司"]
LEADERS = ["王喆堃", "李䶮", "张三", "刘晓燕", "陈志强", "黄堃", "周喆"]
TOPICS = ["离子型稀土矿绿色高效浸萃", "高性能钕铁硼永磁材料晶界扩散", "脐橙黄龙病早期快速检测",
          "稀土永磁电机驱动控制系统", "赣南客家传统村落数字化保护", "钨钼合金增材制造工艺",
          "新能源汽车动力电池回收利用"]


def approval_file(rows: int) -> pdf.ApprovalFileContext:
    projects = [
        pdf.ProjectLine(
            project_number=f"GZKJ-2026-BG-{i:04d}",
            title=f"{TOPICS[i % len(TOPICS)]}关键技术研究与示范（第{i}期）",
            organization=ORGS[i % len(ORGS)], leader=LEADERS[(i * 3) % len(LEADERS)],
            amount=Decimal(150_000 + (i * 7919) % 850_000) + Decimal("0.37"))
        for i in range(1, rows + 1)]
    return pdf.ApprovalFileContext(
        letterhead=LETTERHEAD, call_title="2026年度赣州市科技计划项目申报指南",
        scheme_label="包干制", year=2026, projects=projects)


def task_book() -> pdf.TaskBookContext:
    return pdf.TaskBookContext(
        letterhead=LETTERHEAD, project=PROJECT, call_title="2026年度赣州市揭榜挂帅项目",
        scheme_label="揭榜挂帅", challenge_title="稀土永磁电机高效驱动系统",
        demand_org="赣州喆䶮电机有限公司",
        indicators=["研制样机2台，峰值效率≥96%", "申请发明专利3项", "形成企业标准1项"],
        milestones=[
            pdf.Milestone("完成方案设计", date(2027, 3, 31), Decimal("300000"), "需求方评审通过"),
            pdf.Milestone("样机研制与测试", date(2027, 12, 31), Decimal("934500"),
                          "第三方测试报告")],
        signatures=[
            pdf.Signature("甲方（委托方）：赣州市科学技术局", "张三", "2026-12-01 10:00"),
            pdf.Signature("需求方：赣州喆䶮电机有限公司", "李䶮", "2026-12-01 15:20"),
            pdf.Signature("乙方（承担方）：赣州䶮堃稀土新材料有限公司", "王喆堃", "")])


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def cpu_timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall and CPU seconds: on a shared machine the CPU time shows what waiting added."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def visible_text(html: str) -> str:
    """What a reader sees of a template's output: no style, no SVG, no tags."""
    html = re.sub(r"<(style|svg|title)\b.*?</\1>", "", html, flags=re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", "", html))


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@contextmanager
def fonttools_subsetting() -> Iterator[dict[str, int]]:
    """WeasyPrint as without libharfbuzz-subset; counts which subsetter actually ran."""
    from weasyprint.pdf import fonts

    calls = {"fonttools": 0, "harfbuzz": 0}
    saved = (fonts.harfbuzz_subset, fonts.Font._fonttools_subset, fonts.Font._harfbuzz_subset)

    def counting(name: str, method: Callable[..., None]) -> Callable[..., None]:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
            calls[name] += 1
            method(self, *args, **kwargs)
        return wrapper

    fonts.Font._fonttools_subset = counting("fonttools", saved[1])
    fonts.Font._harfbuzz_subset = counting("harfbuzz", saved[2])
    fonts.harfbuzz_subset = None
    try:
        yield calls
    finally:
        fonts.harfbuzz_subset, fonts.Font._fonttools_subset, fonts.Font._harfbuzz_subset = saved


def render_naive(html: str) -> bytes:
    import weasyprint

    return bytes(weasyprint.HTML(string=html, url_fetcher=pdf.refuse_fetch).render().write_pdf())


def issuer(folder: Path) -> Callable[[], bytes]:
    """Render and issue NOTICE as official._store does, outside a Flask application."""
    identity = signing.load_identity(signing.make_demo_pkcs12(folder / "demo.p12"))
    lh = NOTICE.letterhead
    record = archive.Record(title=lh.title, doc_number=lh.doc_number, issuer=lh.authority,
                            issued_on=lh.issued_on, kind="立项通知书")

    def issue() -> bytes:
        data = archive.with_metadata(pdf.render_notice(NOTICE).data, record)
        return signing.sign(data, identity, "发文", "赣州")
    return issue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, same sizes")
    args = parser.parse_args()
    notice_runs, naive_runs = (5, 1) if args.quick else (21, 2)
    rows = 500

    import logging

    # The naive run makes WeasyPrint warn that it uses fontTools: that is the point of it.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)

    for family in dict.fromkeys((*pdf.FONT_STACK, *pdf.HEI_STACK)):
        print(f"font {family!r}: {pdf.font_file(family)}", flush=True)

    warm_s, first = timed(lambda: pdf.render_notice(NOTICE))
    runs = [cpu_timed(lambda: pdf.render_notice(NOTICE)) for _ in range(notice_runs)]
    times = [wall for wall, _, _ in runs]
    notice_s, notice_kb = median(times), len(first.data) / 1024
    notice_cpu = median([cpu for _, cpu, _ in runs])
    print(f"notice: median {notice_s * 1000:.1f} ms of {notice_runs} (min "
          f"{min(times) * 1000:.1f}, max {max(times) * 1000:.1f}; CPU {notice_cpu * 1000:.1f} "
          f"ms; first render {warm_s * 1000:.0f} ms), {notice_kb:.1f} KB, {first.pages} "
          "page(s)", flush=True)

    with tempfile.TemporaryDirectory(prefix="kjflow-bench-") as folder:
        issue = issuer(Path(folder))
        issued = issue()
        signed_runs = [cpu_timed(issue) for _ in range(notice_runs)]
    signed_times = [wall for wall, _, _ in signed_runs]
    signed_s, signed_cpu = median(signed_times), median([cpu for _, cpu, _ in signed_runs])
    signed_kb = len(issued) / 1024
    pdfa = archive.pdfa_problems(issued)
    print(f"issued notice (render + PDF/A metadata + signature): median "
          f"{signed_s * 1000:.1f} ms of {notice_runs} (min {min(signed_times) * 1000:.1f}, max "
          f"{max(signed_times) * 1000:.1f}; CPU {signed_cpu * 1000:.1f} ms), {signed_kb:.1f} KB "
          f"({len(issued) - len(first.data)} bytes added); PDF/A problems: {pdfa or 'none'}",
          flush=True)

    naive_html = pdf.notice_html(NOTICE, faces=NAIVE_FACES)
    with fonttools_subsetting() as calls:
        naive = [cpu_timed(lambda: render_naive(naive_html)) for _ in range(naive_runs)]
    naive_s = median([wall for wall, _, _ in naive])
    naive_cpu = median([cpu for _, cpu, _ in naive])
    if calls["fonttools"] == 0 or calls["harfbuzz"] != 0:
        sys.exit(f"naive run did not subset with fontTools only: {calls}")
    print(f"naive (Noto CJK only, fontTools subsetting): median {naive_s:.2f} s of "
          f"{naive_runs} (CPU {naive_cpu:.2f} s), {len(naive[0][2]) / 1024:.0f} KB; subset "
          f"calls {calls}; speedup {naive_s / notice_s:.0f}x (CPU time "
          f"{naive_cpu / notice_cpu:.0f}x)", flush=True)

    listing = approval_file(rows)
    list_s, listed = timed(lambda: pdf.render_approval_file(listing))
    print(f"立项文件 of {rows} rows: {list_s:.2f} s, {listed.pages} pages, "
          f"{len(listed.data) / 1024:.0f} KB", flush=True)

    book = task_book()
    book_s, booked = timed(lambda: pdf.render_task_book(book))
    print(f"任务书: {book_s * 1000:.0f} ms, {booked.pages} pages, "
          f"{len(booked.data) / 1024:.0f} KB", flush=True)

    shown = "".join(visible_text(h) for h in (
        pdf.notice_html(NOTICE), pdf.approval_file_html(listing), pdf.task_book_html(book)))
    missing = set(pdf.missing_glyphs(shown))
    read_back = pdf_text(first.data) + pdf_text(listed.data) + pdf_text(booked.data)
    missing |= {ch for ch in RARE if ch not in read_back}
    print(f"glyphs: {len(set(shown))} distinct characters rendered, missing "
          f"{sorted(missing) or 'none'}; {RARE} read back from the PDFs: "
          f"{all(ch in read_back for ch in RARE)}", flush=True)

    gc.collect()
    before = rss_mb()
    for _ in range(100):
        pdf.render_notice(NOTICE)
    gc.collect()
    growth = rss_mb() - before
    print(f"RSS over 100 notices: {before:.0f} MB -> {before + growth:.0f} MB", flush=True)

    print(bench_line("pdf", notice_s=round(notice_s, 4), signed_s=round(signed_s, 4),
                     notice_kb=round(signed_kb, 1), speedup=round(naive_s / notice_s),
                     list500_s=round(list_s, 2), missing_glyphs=len(missing),
                     naive_s=round(naive_s, 2), unsigned_kb=round(notice_kb, 1),
                     pdfa_problems=len(pdfa), rss_mb_100=round(growth, 1)))


if __name__ == "__main__":
    main()
