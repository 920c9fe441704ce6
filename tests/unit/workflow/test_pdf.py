"""Official documents as PDF: what a person checks on a 立项通知书, a 立项文件 and a 任务书."""

from __future__ import annotations

import html as html_lib
import io
import logging
import re
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import segno
import weasyprint
from PIL import Image
from pypdf import PdfReader

from forms import format_wan
from workflow.documents import pdf

LETTERHEAD = pdf.Letterhead(
    authority="赣州市科学技术局", doc_number="赣市科字〔2026〕15号",
    title="关于下达2026年度赣州市科技计划项目立项的通知", issued_on=date(2026, 11, 28),
    verify_url="https://kjj.ganzhou.gov.cn/verify/K7Q2MX9DF4HTB3NR",
    verify_code="K7Q2-MX9D-F4HT-B3NR")
PROJECT = pdf.ProjectLine(
    project_number="GZKJ-2026-BG-0001", title="离子型稀土矿绿色高效浸萃一体化关键技术研究",
    organization="赣州䶮堃稀土新材料有限公司", leader="王喆堃", amount=Decimal("1234500.00"))
ORGS = ["江西理工大学", "赣州䶮堃稀土新材料有限公司", "赣南医科大学"]
LEADERS = ["王喆堃", "李䶮", "刘晓燕", "黄堃"]


def notice_context() -> pdf.NoticeContext:
    return pdf.NoticeContext(
        letterhead=LETTERHEAD, project=PROJECT, call_title="2026年度赣州市科技计划",
        scheme_label="包干制", challenge_title=None, approval_file_number="赣市科字〔2026〕14号")


def approval_context(rows: int) -> pdf.ApprovalFileContext:
    projects = [
        pdf.ProjectLine(
            project_number=f"GZKJ-2026-BG-{i:04d}",
            title=f"稀土功能材料关键技术研究与示范（第{i}期）",
            organization=ORGS[i % len(ORGS)], leader=LEADERS[i % len(LEADERS)],
            amount=Decimal(100_000 + i * 1_001) + Decimal("0.37"))
        for i in range(1, rows + 1)]
    return pdf.ApprovalFileContext(
        letterhead=LETTERHEAD, call_title="2026年度赣州市科技计划项目申报指南",
        scheme_label="包干制", year=2026, projects=projects)


def task_book_context() -> pdf.TaskBookContext:
    return pdf.TaskBookContext(
        letterhead=LETTERHEAD, project=PROJECT, call_title="2026年度赣州市揭榜挂帅项目",
        scheme_label="揭榜挂帅", challenge_title="稀土永磁电机高效驱动系统",
        demand_org="赣州喆䶮电机有限公司",
        indicators=["研制样机2台，峰值效率≥96%", "申请发明专利3项"],
        milestones=[
            pdf.Milestone("完成方案设计", date(2027, 3, 31), Decimal("300000"), "需求方评审通过"),
            pdf.Milestone("样机研制与测试", date(2027, 12, 31), Decimal("934500"),
                          "第三方测试报告")],
        signatures=[
            pdf.Signature("甲方（委托方）：赣州市科学技术局", "张三", "2026-12-01 10:00"),
            pdf.Signature("需求方：赣州喆䶮电机有限公司", "李䶮", "2026-12-01 15:20"),
            pdf.Signature("乙方（承担方）：赣州䶮堃稀土新材料有限公司", "王喆堃", "")])


@pytest.fixture(scope="module")
def notice() -> pdf.RenderedPdf:
    return pdf.render_notice(notice_context())


@pytest.fixture(scope="module")
def approval_file() -> pdf.RenderedPdf:
    return pdf.render_approval_file(approval_context(120))


@pytest.fixture(scope="module")
def task_book() -> pdf.RenderedPdf:
    return pdf.render_task_book(task_book_context())


def page_texts(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def flat(text: str) -> str:
    """Extracted text without the line breaks the layout put in."""
    return re.sub(r"\s+", "", text)


def raster(data: bytes, tmp_path: Path, page: int = 1, dpi: int = 50) -> Image.Image:
    source = tmp_path / "doc.pdf"
    source.write_bytes(data)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", "-f", str(page), "-l", str(page),
                    "-singlefile", str(source), str(tmp_path / "page")], check=True)
    with Image.open(tmp_path / "page.png") as image:
        return image.convert("RGB")


def red_pixels(image: Image.Image, top: float, bottom: float) -> int:
    width, height = image.size
    band = image.crop((0, int(top * height), width, int(bottom * height))).tobytes()
    return sum(1 for i in range(0, len(band), 3)
               if band[i] > 200 and band[i + 1] < 60 and band[i + 2] < 60)


def test_notice_reads_back_number_title_project_names_and_amount(notice):
    text = flat("".join(page_texts(notice.data)))
    assert notice.pages <= 2  # the 版头 of GB/T 9704 takes half the first page
    for expected in ("赣市科字〔2026〕15号", "关于下达2026年度赣州市科技计划项目立项的通知",
                     "GZKJ-2026-BG-0001", "离子型稀土矿绿色高效浸萃一体化关键技术研究",
                     "赣州䶮堃稀土新材料有限公司：", "王喆堃", "资助经费123.45万元",
                     "赣市科字〔2026〕14号", "特此通知", "2026年11月28日",
                     "验证码：K7Q2-MX9D-F4HT-B3NR", "扫码验证真伪"):
        assert expected in text


def test_approval_file_lists_every_project_once_with_the_exact_total(approval_file):
    context = approval_context(120)
    text = flat("".join(page_texts(approval_file.data)))
    for project in context.projects:
        assert text.count(project.project_number) == 1
    assert "李䶮" in text and "王喆堃" in text and "赣州䶮堃稀土新材料有限公司" in text
    # 120 × 100,000.37 + 1,001 × (1 + … + 120) yuan = 19,267,304.40 yuan, summed exactly
    # and then shown in 万元; adding up the rounded rows would give another figure.
    assert sum((p.amount for p in context.projects), Decimal(0)) == Decimal("19267304.40")
    rounded_rows = sum(Decimal(format_wan(p.amount)) for p in context.projects)
    assert rounded_rows != Decimal("1926.73")
    assert "合计1926.73" in text
    assert "共120项，资助经费合计1926.73万元" in text


def test_task_book_shows_the_parties_milestones_and_who_has_not_signed(task_book):
    text = flat("".join(page_texts(task_book.data)))
    for expected in ("GZKJ-2026-BG-0001", "揭榜挂帅", "稀土永磁电机高效驱动系统",
                     "赣州喆䶮电机有限公司", "峰值效率≥96%", "2027年3月31日", "30.00", "93.45",
                     "合计123.45", "甲方（委托方）：赣州市科学技术局", "李䶮",
                     "乙方（承担方）：赣州䶮堃稀土新材料有限公司", "（未签署）"):
        assert expected in text


def test_every_font_is_embedded_and_subset(notice, approval_file, task_book, tmp_path):
    for name, rendered in (("notice", notice), ("list", approval_file), ("book", task_book)):
        source = tmp_path / f"{name}.pdf"
        source.write_bytes(rendered.data)
        out = subprocess.run(["pdffonts", str(source)], capture_output=True, text=True,
                             check=True).stdout.splitlines()[2:]
        assert out, name
        for line in out:
            emb, sub = line.split()[-5:-3]
            assert (emb, sub) == ("yes", "yes"), line


def embedded_fonts(data: bytes) -> dict[str, tuple[str, bytes]]:
    """Each embedded font program: its name without the subset tag -> (key, program)."""
    import pikepdf

    found = {}
    with pikepdf.open(io.BytesIO(data)) as doc:
        for obj in doc.objects:
            if isinstance(obj, pikepdf.Dictionary) and obj.get("/Type") == "/FontDescriptor":
                key = next(k for k in ("/FontFile", "/FontFile2", "/FontFile3") if k in obj)
                name = str(obj.FontName)[1:].partition("+")[2]
                assert name not in found, f"{name} embedded twice"
                found[name] = (key, obj[key].read_bytes())
    return found


def test_the_default_faces_are_embedded_once_each_as_truetype_without_hinting(
        notice, approval_file, task_book):
    from fontTools.ttLib import TTFont

    assert {"FandolFang-TT", "FandolSong-TT-Bold"} <= set(embedded_fonts(notice.data))
    for rendered in (notice, approval_file, task_book):
        fonts = embedded_fonts(rendered.data)
        fandol = {name: font for name, font in fonts.items() if name.startswith("Fandol")}
        assert "FandolFang-TT" in fandol
        for name, (key, program) in fandol.items():
            assert key == "/FontFile2", name          # TrueType, not CFF
            tables = set(TTFont(io.BytesIO(program)).keys())
            assert "glyf" in tables and not {"fpgm", "prep", "cvt ", "vmtx"} & tables, name


def test_the_output_intent_is_a_small_srgb_profile_mapping_colours_as_weasyprints(notice):
    import hashlib
    from importlib.resources import files

    import pikepdf
    from PIL import ImageCms

    with pikepdf.open(io.BytesIO(notice.data)) as doc:
        (intent,) = doc.Root.OutputIntents
        icc = intent.DestOutputProfile.read_bytes()
    assert icc == pdf.SRGB_ICC and len(icc) < 600
    # ICC 4.2 (ICC.1:2004-10), a display profile of RGB to XYZ, with its profile ID.
    assert (icc[8:10], icc[12:16], icc[16:20], icc[20:24], icc[36:40]) == (
        b"\x04\x20", b"mntr", b"RGB ", b"XYZ ", b"acsp")
    unset = icc[:44] + bytes(4) + icc[48:64] + bytes(4) + icc[68:84] + bytes(16) + icc[100:]
    assert icc[84:100] == hashlib.md5(unset).digest()  # noqa: S324 (the ICC's own ID)
    weasy = (files("weasyprint.pdf") / "sRGB2014.icc").read_bytes()
    grid = [(r, g, b) for r in range(0, 256, 51) for g in range(0, 256, 51)
            for b in range(0, 256, 51)]
    image = Image.new("RGB", (len(grid), 1))
    image.putdata(grid)
    lab = []
    for profile in (icc, weasy):
        to_lab = ImageCms.buildTransform(ImageCms.ImageCmsProfile(io.BytesIO(profile)),
                                         ImageCms.createProfile("LAB"), "RGB", "LAB")
        lab.append(ImageCms.applyTransform(image, to_lab).tobytes())
    assert max(abs(a - b) for a, b in zip(*lab, strict=True)) <= 1


def test_the_header_is_red_and_the_body_is_not(notice, tmp_path):
    page = raster(notice.data, tmp_path)
    assert page.size[1] > page.size[0]  # A4 portrait
    # 发文机关标志 and red rule, 72 to 123 mm from the top; nothing red under the rule.
    assert red_pixels(page, 0.2, 0.43) > 500
    assert red_pixels(page, 0.0, 0.2) == 0 and red_pixels(page, 0.43, 1.0) == 0


def test_a_long_list_repeats_its_table_head_and_numbers_its_pages(approval_file):
    pages = page_texts(approval_file.data)
    assert approval_file.pages == len(pages) >= 4
    for number, text in enumerate(pages, start=1):
        assert f"—{number}—" in flat(text)
    # The 附件 starts on a page of its own, after the body's pages.
    first = next(i for i, text in enumerate(pages) if "项目编号" in text)
    assert first >= 1 and "附件" in pages[first] and "附件" not in flat(pages[first - 1])[:3]
    for text in pages[first:]:
        assert "序号" in text and "项目编号" in text and "项目名称" in text
        assert "承担单位" in flat(text) and "资助金额（万元）" in flat(text)
    assert "合计" in pages[-1]


def test_no_rendered_character_lacks_a_glyph():
    shown = "".join(
        re.sub(r"<[^>]+>", "", re.sub(r"<(style|svg|title)\b.*?</\1>", "", html, flags=re.S))
        for html in (pdf.notice_html(notice_context()), pdf.approval_file_html(
            approval_context(5)), pdf.task_book_html(task_book_context())))
    shown = html_lib.unescape(shown)
    assert "䶮" in shown and "堃" in shown and "喆" in shown
    assert pdf.missing_glyphs(shown) == []


def test_missing_glyphs_reports_what_no_font_has():
    assert pdf.missing_glyphs("王喆堃 \U000f0000\u3000䶮\U000f0000") == ["\U000f0000"]


def test_qr_image_is_an_inline_png_of_the_url():
    import base64
    import io

    tag = pdf.qr_image(LETTERHEAD.verify_url)
    prefix = 'src="data:image/png;base64,'
    assert tag.startswith('<img class="qr"') and prefix in tag
    data = base64.b64decode(tag.split(prefix)[1].split('"')[0])
    code = segno.make(LETTERHEAD.verify_url, error="m", mask=pdf.QR_MASK)
    assert code.matrix == pdf.qr_code(LETTERHEAD.verify_url).matrix
    with Image.open(io.BytesIO(data)) as png:
        gray = png.convert("L")
        size = len(code.matrix)
        assert gray.size == (size + 8, size + 8)  # one pixel a module, 4 of quiet zone
        modules = [[gray.getpixel((x + 4, y + 4)) < 128 for x in range(size)]
                   for y in range(size)]
    assert modules == [[bool(v) for v in row] for row in code.matrix]


def dark_lines(image: Image.Image) -> list[bool]:
    """Per row of a grayscale image: has it a dark pixel?"""
    width, data = image.size[0], image.tobytes()
    return [min(data[y:y + width]) < 128 for y in range(0, len(data), width)]


def qr_modules(image: Image.Image, size: int) -> list[list[bool]]:
    """Read a QR symbol off a raster: the tallest block of dark rows is the symbol."""
    gray = image.convert("L")
    runs, start = [], None
    for y, dark in enumerate([*dark_lines(gray), False]):
        if dark and start is None:
            start = y
        elif not dark and start is not None:
            runs.append((start, y))
            start = None
    top, bottom = max(runs, key=lambda run: run[1] - run[0])
    band = gray.crop((0, top, gray.size[0], bottom)).transpose(Image.Transpose.TRANSPOSE)
    columns = [x for x, dark in enumerate(dark_lines(band)) if dark]
    left, right = min(columns), max(columns) + 1
    step_x, step_y = (right - left) / size, (bottom - top) / size
    return [[gray.getpixel((int(left + (i + 0.5) * step_x),
                            int(top + (j + 0.5) * step_y))) < 128
             for i in range(size)] for j in range(size)]


def test_the_qr_code_on_the_notice_encodes_the_verification_url(notice, tmp_path):
    source = tmp_path / "notice.pdf"
    source.write_bytes(notice.data)
    # 300 dpi, the upper left of the last page: the verification block sits there, under
    # the body text and left of the signature (the tallest dark block of that corner).
    last = str(notice.pages)
    subprocess.run(["pdftoppm", "-r", "300", "-gray", "-png", "-f", last, "-l", last,
                    "-x", "0", "-y", "0", "-W", "870", "-H", "1754", "-singlefile",
                    str(source), str(tmp_path / "corner")], check=True)
    with Image.open(tmp_path / "corner.png") as corner:
        expected = [[bool(v) for v in row]
                    for row in segno.make(LETTERHEAD.verify_url, error="m",
                                          mask=pdf.QR_MASK).matrix]
        assert qr_modules(corner, len(expected)) == expected


def test_rendering_twice_gives_the_same_document():
    first, again = pdf.render_notice(notice_context()), pdf.render_notice(notice_context())
    assert page_texts(first.data) == page_texts(again.data)
    assert first.data == again.data  # so its SHA-256 is stable too


def test_templates_render_without_weasyprint_warnings(caplog):
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        pdf.render_notice(notice_context())
        pdf.render_task_book(task_book_context())
        pdf.render_approval_file(approval_context(3))
    assert caplog.records == []


def test_nothing_outside_is_fetched():
    with pytest.raises(ValueError, match="refused"):
        pdf.refuse_fetch("http://example.com/x.png")
    for markup in ('<img src="http://example.com/x.png">',
                   '<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">',
                   '<p style="background: url(file:///etc/passwd)">x</p>'):
        with pytest.raises(ValueError, match="refused"):
            pdf.html_to_pdf(markup)


def test_weasyprint_still_asks_for_the_user_agent_stylesheet():
    # pdf._DocumentHTML swaps in a lean UA stylesheet through this hook (a speed-up only).
    assert callable(getattr(weasyprint.HTML, "_ua_stylesheets", None))
    assert pdf._DocumentHTML(string="<p>x</p>")._ua_stylesheets() == [pdf._ua_stylesheet()]
