"""GB/T 9704-2012 measured on the rendered PDFs: where each element of a 公文 sits, in mm
from the page's top left corner, as a ruler on the printed page would find it.

Characters are measured with pdfplumber (their em boxes), rules and the page numbers'
dashes on a 600 dpi raster (their ink). The 版心 is 156 × 225 mm, 37 mm from the top and
28 mm from the left (天头, 订口); a body line is 225/22 mm and a character 156/28 mm.
"空N行" between two elements is N blank lines plus the leading of a line (its height
less the 16 pt of its characters), from characters to characters. Tolerance ±1 mm unless
the standard says otherwise.
"""

from __future__ import annotations

import io
import itertools
import shutil
import subprocess
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pdfplumber
import pytest
from PIL import Image, ImageChops, ImageDraw
from pypdf import PdfReader

from workflow.documents import pdf

MM = 25.4 / 72
TOP, LEFT, WIDTH, HEIGHT = 37.0, 28.0, 156.0, 225.0
RIGHT, BOTTOM = LEFT + WIDTH, TOP + HEIGHT   # 184, 262
LINE = HEIGHT / 22                           # 10.23
CELL = WIDTH / 28                            # 5.57
SIZE3, SIZE4 = 16 * MM, 14 * MM              # 5.64, 4.94
LEAD = LINE - SIZE3                          # 4.58
BLANK1, BLANK2 = LINE + LEAD, 2 * LINE + LEAD  # 空一行 14.8, 空二行 25.0
TOL = 1.0
# The default faces as the PDF names them (the Fandol fonts as TrueType, .ci/fandol_ttf.py).
TITLE_FONT, BODY_FONT, HEI_FONT = "FandolSong-TT-Bold", "FandolFang-TT", "FandolHei-TT"


def red_seal_png(size: int = 400) -> bytes:
    """A seal as a bureau's scan would be: a red ring and star on transparency."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((8, 8, size - 8, size - 8), outline=(230, 0, 0, 255), width=size // 20)
    draw.regular_polygon((size / 2, size / 2, size / 6), 5, fill=(230, 0, 0, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


LETTERHEAD = pdf.Letterhead(
    authority="赣州市科学技术局", doc_number="赣市科字〔2026〕15号",
    title="关于“离子型稀土矿绿色高效浸萃一体化关键技术研究”项目立项的通知",
    issued_on=date(2026, 3, 5), verify_url="https://kjj.ganzhou.gov.cn/verify/K7Q2MX9DF4HTB3NR",
    verify_code="K7Q2-MX9D-F4HT-B3NR",
    cc=("赣州市财政局", "赣州市审计局", "江西省科学技术厅", "赣州市人民政府办公室",
        "赣州市发展和改革委员会", "赣州市工业和信息化局", "赣州市教育局"),
    printed_by="赣州市科学技术局办公室", note="此件主动公开")
SEALED = replace(LETTERHEAD, seal=pdf.Seal(red_seal_png(), 42.0))
PROJECT = pdf.ProjectLine(
    project_number="GZKJ-2026-BG-0001", title="离子型稀土矿绿色高效浸萃一体化关键技术研究",
    organization="赣州䶮堃稀土新材料有限公司", leader="王喆堃", amount=Decimal("1234500.00"))


def notice_context(letterhead: pdf.Letterhead = LETTERHEAD, call_title: str =
                   "2026年度赣州市科技计划") -> pdf.NoticeContext:
    return pdf.NoticeContext(
        letterhead=letterhead, project=PROJECT, call_title=call_title,
        scheme_label="包干制", challenge_title=None, approval_file_number="赣市科字〔2026〕14号")


def approval_context(rows: int, letterhead: pdf.Letterhead = LETTERHEAD
                     ) -> pdf.ApprovalFileContext:
    projects = [pdf.ProjectLine(
        project_number=f"GZKJ-2026-BG-{i:04d}", title=f"稀土功能材料关键技术研究与示范（第{i}期）",
        organization="赣州䶮堃稀土新材料有限公司", leader="李䶮", amount=Decimal(100_000 + i))
        for i in range(1, rows + 1)]
    return pdf.ApprovalFileContext(
        letterhead=replace(letterhead, title="关于下达2026年度赣州市科技计划立项项目的通知"),
        call_title="2026年度赣州市科技计划项目申报指南", scheme_label="包干制", year=2026,
        projects=projects)


def payment_context(letterhead: pdf.Letterhead = LETTERHEAD) -> pdf.PaymentNoticeContext:
    return pdf.PaymentNoticeContext(
        letterhead=replace(letterhead, title="关于拨付“离子型稀土矿绿色高效浸萃一体化关键技术研究”"
                                             "项目经费的通知"),
        project=PROJECT, tranche_label="首期", amount=Decimal("500000.00"),
        amount_capital="伍拾万元整", bank_name="中国银行赣州分行",
        bank_account="6216 6100 0000 0000",
        payment_ref="ZF-2026-0001", released_on=date(2026, 3, 5),
        disbursed_total=Decimal("500000.00"), remaining=Decimal("734500.00"))


class Doc:
    """A rendered PDF, measured: characters by page, grouped in lines."""

    def __init__(self, rendered: pdf.RenderedPdf) -> None:
        self.data = rendered.data
        self.pages: list[list[dict]] = []
        self.sizes: list[tuple[float, float]] = []
        self.images: list[list[dict]] = []
        with pdfplumber.open(io.BytesIO(self.data)) as document:
            for page in document.pages:
                self.sizes.append((page.width * MM, page.height * MM))
                self.pages.append([{
                    "text": c["text"], "x0": c["x0"] * MM, "x1": c["x1"] * MM,
                    "top": c["top"] * MM, "bottom": c["bottom"] * MM, "size": c["size"],
                    "font": c["fontname"].split("+")[-1], "upright": c["upright"],
                    "color": c["non_stroking_color"]} for c in page.chars])
                self.images.append([{key: image[key] * MM for key in ("x0", "x1", "top",
                                                                      "bottom")}
                                    for image in page.images])
        reader = PdfReader(io.BytesIO(self.data))
        self.rotations = [page.get("/Rotate", 0) for page in reader.pages]

    def lines(self, page: int) -> list[dict]:
        """Upright characters of a page in lines (sharing their top), top to bottom."""
        rows: list[list[dict]] = []
        for char in sorted((c for c in self.pages[page] if c["upright"]),
                           key=lambda c: (c["top"], c["x0"])):
            for row in rows:
                if abs(row[0]["top"] - char["top"]) < 1.0 and abs(
                        row[0]["size"] - char["size"]) < 0.5:
                    row.append(char)
                    break
            else:
                rows.append([char])
        return [{"text": "".join(c["text"] for c in sorted(row, key=lambda c: c["x0"])),
                 "chars": sorted(row, key=lambda c: c["x0"]),
                 "top": min(c["top"] for c in row), "bottom": max(c["bottom"] for c in row),
                 "x0": min(c["x0"] for c in row), "x1": max(c["x1"] for c in row),
                 "size": max(c["size"] for c in row)}
                for row in sorted(rows, key=lambda r: r[0]["top"])]

    def line(self, page: int, text: str) -> dict:
        found = [line for line in self.lines(page) if text in line["text"]]
        assert found, f"no line with {text!r} on page {page + 1}: " + " | ".join(
            line["text"] for line in self.lines(page))
        return found[0]

    def page_with(self, text: str, whole: bool = False) -> int:
        """The first page with a line holding ``text`` (being ``text``, if ``whole``)."""
        return next(i for i in range(len(self.pages)) if any(
            text == line["text"] if whole else text in line["text"]
            for line in self.lines(i)))

    def raster(self, page: int, tmp_path: Path, dpi: int = 600,
               box: tuple[float, float, float, float] | None = None) -> Image.Image:
        """Page ``page`` (0-based) at ``dpi``, or the part of it in ``box`` (left, top,
        right, bottom in mm; the image's ``info["origin"]`` is its top left corner)."""
        source = tmp_path / "doc.pdf"
        source.write_bytes(self.data)
        crop: list[str] = []
        if box is not None:
            px = dpi / 25.4
            crop = ["-x", str(int(box[0] * px)), "-y", str(int(box[1] * px)),
                    "-W", str(int((box[2] - box[0]) * px)), "-H", str(int((box[3] - box[1]) * px))]
        subprocess.run(["pdftoppm", "-r", str(dpi), "-png", "-f", str(page + 1), "-l",
                        str(page + 1), *crop, "-singlefile", str(source),
                        str(tmp_path / "page")], check=True)
        with Image.open(tmp_path / "page.png") as image:
            rgb = image.convert("RGB")
        origin = (int(box[0] * dpi / 25.4) * 25.4 / dpi, int(box[1] * dpi / 25.4) * 25.4 / dpi
                  ) if box else (0.0, 0.0)
        rgb.info["origin"] = origin
        return rgb


def rules(image: Image.Image, dpi: int = 600, min_mm: float = 100.0,
          red: bool | None = None) -> list[dict]:
    """Horizontal rules on a raster: runs of rows whose dark (or red) pixels make one
    unbroken run of at least ``min_mm`` (a text row is broken between its glyphs), with
    their top, bottom, thickness, left and right ends, in mm on the page."""
    px = 25.4 / dpi
    left, top = image.info.get("origin", (0.0, 0.0))
    r, g, b = image.split()
    if red:
        mask = ImageChops.multiply(ImageChops.multiply(
            r.point(lambda v: 255 if v > 150 else 0), g.point(lambda v: 255 if v < 90 else 0)),
            b.point(lambda v: 255 if v < 90 else 0))
    else:
        mask = image.convert("L").point(lambda v: 255 if v < 100 else 0)
    width, height = mask.size
    found: list[dict] = []
    for y in range(height):
        row = mask.crop((0, y, width, y + 1))
        count = row.histogram()[255]
        bbox = row.getbbox()
        if bbox is None or count * px < min_mm or (bbox[2] - bbox[0]) > 1.02 * count:
            continue
        if found and found[-1]["end_row"] == y - 1:
            found[-1]["end_row"] = y
        else:
            found.append({"start_row": y, "end_row": y, "x0": bbox[0], "x1": bbox[2]})
    return [{"top": top + f["start_row"] * px, "bottom": top + (f["end_row"] + 1) * px,
             "thickness": (f["end_row"] + 1 - f["start_row"]) * px,
             "x0": left + f["x0"] * px, "x1": left + f["x1"] * px} for f in found]


@pytest.fixture(scope="module")
def notice() -> Doc:
    return Doc(pdf.render_notice(notice_context()))


@pytest.fixture(scope="module")
def notice_sealed() -> Doc:
    return Doc(pdf.render_notice(notice_context(SEALED)))


@pytest.fixture(scope="module")
def payment() -> Doc:
    return Doc(pdf.render_payment_notice(payment_context(SEALED)))


@pytest.fixture(scope="module")
def approval_one() -> Doc:
    return Doc(pdf.render_approval_file(approval_context(1)))


@pytest.fixture(scope="module")
def approval_300() -> Doc:
    return Doc(pdf.render_approval_file(approval_context(300, SEALED)))


@pytest.fixture(scope="module")
def long_notice() -> Doc:
    """A notice whose body runs over several full pages."""
    return Doc(pdf.render_notice(notice_context(call_title="赣州市科技计划" * 250)))


KINDS = ("notice", "notice_sealed", "payment", "approval_one", "approval_300")


@pytest.fixture(params=KINDS)
def official(request: pytest.FixtureRequest) -> Doc:
    return request.getfixturevalue(request.param)


# --- 版头 -------------------------------------------------------------------------------

def test_pages_are_a4_portrait_except_the_turned_landscape_table(official):
    for (width, height), rotation in zip(official.sizes, official.rotations, strict=True):
        # pdfplumber shows a page as it is displayed: turned pages too are portrait.
        assert (round(width), round(height)) == (210, 297)
        assert rotation in (0, 270)


def test_the_authority_mark_is_red_in_the_title_face_35mm_under_the_type_area(official):
    mark = official.line(0, "赣州市科学技术局")
    assert mark["top"] == pytest.approx(TOP + 35, abs=TOL)
    assert (mark["x0"] + mark["x1"]) / 2 == pytest.approx(LEFT + WIDTH / 2, abs=TOL)
    for char in mark["chars"]:
        assert char["font"] == TITLE_FONT
        red, green, blue = char["color"]
        assert red > 0.7 and green < 0.2 and blue < 0.2


def test_the_document_number_is_two_blank_lines_under_the_mark_and_centred(official):
    lines = official.lines(0)
    mark, number = lines[0], lines[1]
    assert number["text"] == "赣市科字〔2026〕15号"
    assert number["top"] - mark["bottom"] == pytest.approx(BLANK2, abs=TOL)
    assert (number["x0"] + number["x1"]) / 2 == pytest.approx(LEFT + WIDTH / 2, abs=TOL)
    assert number["size"] == pytest.approx(16, abs=0.1)


def test_the_red_rule_is_4mm_under_the_number_and_as_wide_as_the_type_area(official,
                                                                           tmp_path):
    number = official.lines(0)[1]
    red = rules(official.raster(0, tmp_path, box=(0, 100, 210, 140)), red=True)
    assert len(red) == 1
    assert red[0]["top"] - number["bottom"] == pytest.approx(4, abs=TOL)
    assert red[0]["x0"] == pytest.approx(LEFT, abs=TOL)
    assert red[0]["x1"] == pytest.approx(RIGHT, abs=TOL)


def test_the_title_is_2hao_two_blank_lines_under_the_rule_centred_in_whole_words(
        official, tmp_path):
    red = rules(official.raster(0, tmp_path, box=(0, 100, 210, 140)), red=True)[0]
    title = [line for line in official.lines(0) if line["size"] == pytest.approx(22, abs=0.1)]
    assert 1 <= len(title) <= 3
    assert title[0]["top"] - red["bottom"] == pytest.approx(BLANK2, abs=TOL)
    for line in title:
        assert all(c["font"] == TITLE_FONT for c in line["chars"])
        assert (line["x0"] + line["x1"]) / 2 == pytest.approx(LEFT + WIDTH / 2, abs=TOL)
    text = [line["text"] for line in title]
    assert "".join(text).startswith("关于") and "".join(text).endswith("的通知")
    for before, after in itertools.pairwise(text):
        assert not (before.endswith("立") and after.startswith("项"))
        assert not (before.endswith("任务") and after.startswith("书"))
        assert not before.endswith(("的", "“")) and not after.startswith(("通知", "”"))
    assert_trapezoid_or_diamond([len(line) for line in text])


def test_the_addressee_is_one_blank_line_under_the_title_and_flush_left(official):
    lines = official.lines(0)
    title = [i for i, line in enumerate(lines) if line["size"] == pytest.approx(22, abs=0.1)]
    addressee = lines[title[-1] + 1]
    assert addressee["text"].endswith("：")
    assert addressee["top"] - lines[title[-1]]["bottom"] == pytest.approx(BLANK1, abs=TOL)
    assert addressee["x0"] == pytest.approx(LEFT, abs=0.5)


def assert_trapezoid_or_diamond(lengths: list[int]) -> None:
    """No line shorter than both its neighbours (an hourglass)."""
    for i in range(1, len(lengths) - 1):
        assert not (lengths[i] < lengths[i - 1] and lengths[i] < lengths[i + 1]), lengths


@pytest.mark.parametrize("title", [
    "关于“离子型稀土矿绿色高效浸萃一体化关键技术研究”项目立项的通知",
    "关于下达2026年度赣州市科技计划项目申报指南立项项目的通知",
    "关于拨付“高性能钕铁硼永磁材料晶界扩散关键技术研发及产业化”项目经费的通知",
    "“稀土永磁电机高效驱动系统与整车集成应用示范工程”项目任务书",
    "关于“赣南脐橙黄龙病早期快速检测与绿色防控技术集成示范”项目立项的通知",
    "关于下达2026年度赣州市揭榜挂帅科技计划项目（第二批）立项项目的通知",
])
def test_title_lines_keep_words_whole_in_a_trapezoid_or_diamond(title):
    lines = pdf.title_lines(title)
    assert "".join(lines) == title and len(lines) >= 2
    for line in lines:
        assert sum(0.5 if ch.isascii() else 1 for ch in line) <= 20
    for before, after in itertools.pairwise(lines):
        for word in ("立项", "任务书", "通知", "项目", "经费", "关键技术", "研究", "示范",
                     "2026"):
            assert word not in (before[-len(word) + 1:] + after[:len(word) - 1]) or \
                word in before or word in after, (lines, word)
        assert not before.endswith(("“", "（")) and not after.startswith(("”", "）", "的"))
    assert_trapezoid_or_diamond([len(line) for line in lines])


def test_a_short_title_stays_on_one_line():
    assert pdf.title_lines("关于拨付项目经费的通知") == ["关于拨付项目经费的通知"]


# --- 主体 -------------------------------------------------------------------------------

def body_lines(doc: Doc, page: int) -> list[dict]:
    return [line for line in doc.lines(page)
            if line["size"] == pytest.approx(16, abs=0.1) and line["x0"] > LEFT - 0.5
            and line["top"] < BOTTOM]


def test_a_full_page_holds_22_lines_of_28_characters(long_notice):
    assert len(long_notice.pages) >= 4
    # the pages between the first and the last two (the date's page may take the lines
    # of the page before it: 7.3.5.4)
    for page in range(1, len(long_notice.pages) - 2):
        lines = body_lines(long_notice, page)
        assert len(lines) == 22
        assert lines[0]["top"] == pytest.approx(TOP + LEAD / 2, abs=TOL)
        assert lines[-1]["bottom"] == pytest.approx(BOTTOM - LEAD / 2, abs=TOL)
        for above, below in itertools.pairwise(lines):
            assert below["top"] - above["top"] == pytest.approx(LINE, abs=0.05)
        for line in lines:
            assert all(c["font"] == BODY_FONT for c in line["chars"]
                       if c["text"] not in "䶮堃喆")
            if all(not c["text"].isascii() for c in line["chars"]):
                assert len(line["chars"]) == 28, line["text"]
                assert line["x0"] == pytest.approx(LEFT, abs=0.3)
                assert line["x1"] == pytest.approx(RIGHT, abs=0.3)
                steps = [b["x0"] - a["x0"] for a, b in zip(line["chars"], line["chars"][1:],
                                                           strict=False)]
                assert max(steps) == pytest.approx(CELL, abs=0.05)
                assert min(steps) == pytest.approx(CELL, abs=0.05)


def test_paragraphs_start_two_characters_in_and_lines_fill_the_type_area(notice):
    lines = notice.lines(0)
    at = next(i for i, line in enumerate(lines) if line["text"].endswith("：")) + 1
    first, second = lines[at], lines[at + 1]
    assert first["x0"] == pytest.approx(LEFT + 2 * CELL, abs=0.3)
    assert second["x0"] == pytest.approx(LEFT, abs=0.3)
    # Lines end on the 版心's edge, or one character short of it where a mark that may
    # not begin a line (”，。) takes the last character with it: WeasyPrint justifies at
    # spaces only, never between Chinese characters.
    for line in (first, second):
        assert RIGHT - CELL - 0.3 < line["x1"] < RIGHT + 0.3
    full = sum(1 for c in first["chars"] if not c["text"].isascii())
    half = len(first["chars"]) - full
    assert 25 <= full + half / 2 <= 26.5  # 28 cells less the indent


def test_the_attachment_note_is_one_blank_line_under_the_body_two_characters_in(
        approval_one):
    page = approval_one.page_with("附件：")
    lines = approval_one.lines(page)
    at = next(i for i, line in enumerate(lines) if line["text"].startswith("附件："))
    assert lines[at]["top"] - lines[at - 1]["bottom"] == pytest.approx(BLANK1, abs=TOL)
    assert lines[at]["x0"] == pytest.approx(LEFT + 2 * CELL, abs=0.5)


def test_unsealed_the_authority_is_one_blank_line_under_the_body_the_date_under_it(notice):
    page = notice.page_with("特此通知。")
    body = notice.line(page, "特此通知。")
    signer = next(line for line in notice.lines(page) if line["text"] == "赣州市科学技术局")
    signed = notice.line(page, "2026年3月5日")
    assert signer["top"] - body["bottom"] == pytest.approx(BLANK1, abs=TOL)
    assert signed["top"] - signer["top"] == pytest.approx(LINE, abs=0.3)
    # 署名 右空二字 and the date's first character two to the right of the 署名's; a date
    # longer than that would end 右空二字 and push the 署名 left.
    assert signed["x0"] - signer["x0"] == pytest.approx(2 * CELL, abs=0.5)
    right = max(signer["x1"], signed["x1"])
    assert right == pytest.approx(RIGHT - 2 * CELL, abs=0.5)
    assert not [image for image in notice.images[page]  # no seal (the QR code aside)
                if image["x1"] - image["x0"] > 25]


def test_unsealed_a_longer_date_ends_two_characters_in_and_pushes_the_authority_left():
    doc = Doc(pdf.render_notice(notice_context(replace(
        LETTERHEAD, issued_on=date(2026, 11, 28), note=""))))
    page = doc.page_with("2026年11月28日")
    signer = next(line for line in doc.lines(page) if line["text"] == "赣州市科学技术局")
    signed = doc.line(page, "2026年11月28日")
    assert signed["x1"] == pytest.approx(RIGHT - 2 * CELL, abs=0.5)
    assert signed["x0"] - signer["x0"] == pytest.approx(2 * CELL, abs=0.5)
    assert signer["x1"] < signed["x1"] - 1


def test_unsealed_a_longer_authority_ends_two_characters_in():
    authority = "赣州市科学技术局（赣州市知识产权局）"
    doc = Doc(pdf.render_notice(notice_context(replace(LETTERHEAD, authority=authority))))
    page = doc.page_with("2026年3月5日")
    signer = doc.line(page, authority)
    signed = doc.line(page, "2026年3月5日")
    assert signer["x1"] == pytest.approx(RIGHT - 2 * CELL, abs=0.5)
    assert signed["x0"] - signer["x0"] == pytest.approx(2 * CELL, abs=0.5)
    # and the long name still fits the 版心 as 发文机关标志
    mark = doc.lines(0)[0]
    assert mark["text"] == authority and mark["x0"] > LEFT - 0.5 and mark["x1"] < RIGHT + 0.5


@pytest.mark.parametrize("kind", ["notice_sealed", "payment", "approval_300"])
def test_sealed_the_date_ends_four_characters_in_under_the_centred_authority_and_seal(
        kind, request, tmp_path):
    doc: Doc = request.getfixturevalue(kind)
    page = doc.page_with("2026年3月5日", whole=True)
    lines = doc.lines(page)
    signed = doc.line(page, "2026年3月5日")
    signer = [line for line in lines if line["text"] == "赣州市科学技术局"][-1]
    body = max((line for line in lines if line["size"] == pytest.approx(16, abs=.1)
                and line["x0"] < LEFT + 3 * CELL and line["top"] < signer["top"]),
               key=lambda line: line["bottom"])
    assert signed["x1"] == pytest.approx(RIGHT - 4 * CELL, abs=0.5)
    centre = (signed["x0"] + signed["x1"]) / 2
    assert (signer["x0"] + signer["x1"]) / 2 == pytest.approx(centre, abs=0.5)
    assert signed["top"] - signer["top"] == pytest.approx(LINE, abs=0.3)
    [seal] = [image for image in doc.images[page] if image["x1"] - image["x0"] > 25]
    assert seal["x1"] - seal["x0"] == pytest.approx(42, abs=0.5)
    assert (seal["x0"] + seal["x1"]) / 2 == pytest.approx(centre, abs=0.5)
    # its top within one line of the body; 署名 and date on it, a little under its centre
    assert 0 <= seal["top"] - body["bottom"] <= LINE
    assert seal["top"] < signer["top"] and signed["bottom"] < seal["bottom"]
    middle = (signer["top"] + signed["bottom"]) / 2
    assert (seal["top"] + seal["bottom"]) / 2 < middle < seal["bottom"] - 5
    # and it prints red
    image = doc.raster(page, tmp_path, dpi=100)
    px = 100 / 25.4
    r, g, b = image.getpixel((int(centre * px), int((seal["top"] + seal["bottom"]) / 2 * px)))
    assert r > 200 and g < 60 and b < 60


@pytest.mark.parametrize("kind", ["notice", "notice_sealed", "payment"])
def test_the_note_is_in_parentheses_two_characters_in_on_the_line_under_the_date(kind,
                                                                                  request):
    doc: Doc = request.getfixturevalue(kind)
    page = doc.page_with("（此件主动公开）")
    note = doc.line(page, "（此件主动公开）")
    signed = next(line for line in doc.lines(page) if line["text"] == "2026年3月5日")
    assert note["text"] == "（此件主动公开）"
    assert note["top"] - signed["top"] == pytest.approx(LINE, abs=0.3)
    assert note["x0"] == pytest.approx(LEFT + 2 * CELL, abs=0.5)


def test_no_page_holds_only_the_signature_and_date():
    """7.3.5.4: whatever the body's length, the date's page has body text on it too."""
    seen_break = False
    for extra in range(0, 120, 6):
        doc = Doc(pdf.render_notice(notice_context(
            replace(LETTERHEAD, note=""), call_title="2026年度赣州市科技计划" + "专项" * extra)))
        page = doc.page_with("2026年3月5日")
        seen_break |= page > 0 and doc.lines(page)[0]["text"].startswith(
            ("按期", "任务", "请你"))
        body = [line for line in body_lines(doc, page) if line["x0"] < LEFT + 3 * CELL
                and line["text"] != "赣州市科学技术局"]
        assert len(body) >= 2, (extra, [line["text"] for line in doc.lines(page)])
    assert seen_break


# --- 版记 -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_the_colophon_is_at_the_foot_of_the_last_page_only(kind, request, tmp_path):
    doc: Doc = request.getfixturevalue(kind)
    last = len(doc.pages) - 1
    assert doc.page_with("抄送：") == last and doc.page_with("2026年3月5日印发") == last
    cc = [line for line in doc.lines(last) if line["size"] == pytest.approx(14, abs=0.1)
          and line["top"] < BOTTOM]
    printed = cc.pop()
    # 抄送: 4号, 左右各空一字, turning under the first name, ending with 。
    assert cc[0]["text"].startswith("抄送：") and cc[-1]["text"].endswith("。")
    assert cc[0]["x0"] == pytest.approx(LEFT + SIZE4, abs=0.5)
    assert len(cc) >= 2  # the long list turns
    for line in cc[1:]:
        assert line["x0"] == pytest.approx(LEFT + 4 * SIZE4, abs=0.5)
    assert max(line["x1"] for line in cc) <= RIGHT - SIZE4 + 0.5
    # 印发机关 左空一字, 印发日期 右空一字, the year in full, no zero padding
    assert printed["text"] == "赣州市科学技术局办公室2026年3月5日印发"
    assert printed["x0"] == pytest.approx(LEFT + SIZE4, abs=0.5)
    assert printed["x1"] == pytest.approx(RIGHT - SIZE4, abs=0.5)
    # rules: thick first and last (0.35 mm), thin between (0.25 mm), the type area wide,
    # the last on the 版心's bottom edge
    band = (0, cc[0]["top"] - LINE, 210, BOTTOM + 1)
    found = rules(doc.raster(last, tmp_path, box=band), red=False)
    assert [round(rule["thickness"], 2) for rule in found] == pytest.approx(
        [0.35, 0.25, 0.35], abs=0.08)
    for rule in found:
        assert rule["x0"] == pytest.approx(LEFT, abs=0.5)
        assert rule["x1"] == pytest.approx(RIGHT, abs=0.5)
    assert found[0]["bottom"] <= cc[0]["top"] and cc[-1]["bottom"] <= found[1]["top"]
    assert found[1]["bottom"] <= printed["top"] and printed["bottom"] <= found[2]["top"]
    assert found[2]["bottom"] == pytest.approx(BOTTOM, abs=0.3)
    # each line between its rules, no blank line in the 版记
    assert cc[0]["top"] - found[0]["bottom"] < LEAD
    assert printed["top"] - found[1]["bottom"] < LEAD
    assert found[2]["top"] - printed["bottom"] < LEAD


def test_no_colophon_without_a_printing_office():
    doc = Doc(pdf.render_notice(notice_context(replace(LETTERHEAD, printed_by=""))))
    assert all("印发" not in line["text"] and "抄送" not in line["text"]
               for page in range(len(doc.pages)) for line in doc.lines(page))


# --- 页码 -------------------------------------------------------------------------------

def page_number(doc: Doc, page: int) -> list[dict]:
    """The characters of "— n —" (upright on the page as displayed)."""
    chars = [c for c in doc.pages[page] if c["top"] > BOTTOM and c["text"].strip()]
    return sorted(chars, key=lambda c: c["x0"])


def dash_rows(image: Image.Image, dpi: int = 600) -> tuple[float, float]:
    """Top and bottom (mm on the page) of the ink in ``image``: a dash."""
    px = 25.4 / dpi
    bbox = image.convert("L").point(lambda v: 255 if v < 128 else 0).getbbox()
    assert bbox is not None
    top = image.info["origin"][1]
    return top + bbox[1] * px, top + bbox[3] * px


@pytest.mark.parametrize("kind", ["notice", "approval_one", "approval_300"])
def test_page_numbers_sit_7mm_under_the_type_area_right_on_odd_left_on_even_pages(
        kind, request, tmp_path):
    doc: Doc = request.getfixturevalue(kind)
    assert len(doc.pages) >= 2
    turned = 0
    for page in range(len(doc.pages)):
        chars = page_number(doc, page)
        assert "".join(c["text"] for c in chars) == f"—{page + 1}—"
        for char in chars:
            assert char["size"] == pytest.approx(14, abs=0.1)
            assert char["font"].startswith("AR-PL-UMing")  # 宋体
        if page % 2 == 0:  # odd page: 居右空一字
            assert chars[-1]["x1"] == pytest.approx(RIGHT - SIZE4, abs=0.5)
        else:              # even page: 居左空一字
            assert chars[0]["x0"] == pytest.approx(LEFT + SIZE4, abs=0.5)
        # the dash's line (its ink) 7 mm under the 版心, in a 4号 line
        dash = (chars[0]["x0"] + 0.5, BOTTOM + 2, chars[0]["x1"] - 0.5, BOTTOM + 14)
        top, bottom = dash_rows(doc.raster(page, tmp_path, box=dash))
        assert bottom - top < 1.0
        assert (top + bottom) / 2 - BOTTOM == pytest.approx(7, abs=TOL)
        turned += doc.rotations[page] == 270
    assert turned == (len(doc.pages) - 3 if kind != "notice" else 0)


# --- 附件 and 横排 pages ------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["approval_one", "approval_300"])
def test_the_attachment_label_is_on_line_1_and_its_title_on_line_3(kind, request):
    doc: Doc = request.getfixturevalue(kind)
    first = next(page for page, rotation in enumerate(doc.rotations) if rotation == 270)
    assert first == 2  # its own page, after the body's two
    chars = doc.pages[first]
    # A turned page: its top is the portrait page's left, its lines run bottom to top;
    # line n of its 版心 (28 mm from that edge) is at x = 28 + (n − 1) × line height.
    label = [c for c in chars if c["text"] in "附件" and c["size"] == pytest.approx(16, abs=.1)
             and c["font"] == HEI_FONT]
    assert len(label) == 2
    for char in label:
        assert char["x0"] == pytest.approx(LEFT + LEAD / 2, abs=TOL)
    # flush left: the label starts at the 版心's edge (the portrait page's bottom)
    assert max(c["bottom"] for c in label) == pytest.approx(BOTTOM, abs=TOL)
    line3 = LEFT + 2 * LINE + (LINE - 22 * MM) / 2
    title = [c for c in chars if c["font"] == TITLE_FONT]
    for char in title:
        assert char["x0"] == pytest.approx(line3, abs=TOL)
    centre = (min(c["top"] for c in title) + max(c["bottom"] for c in title)) / 2
    assert centre == pytest.approx(TOP + HEIGHT / 2, abs=TOL)
    assert "".join(c["text"] for c in sorted(title, key=lambda c: -c["bottom"])) == \
        "2026年度包干制立项项目清单"


@pytest.mark.parametrize("kind", ["approval_one", "approval_300"])
def test_landscape_table_pages_are_turned_with_the_table_head_on_the_binding_side(
        kind, request):
    doc: Doc = request.getfixturevalue(kind)
    reader = PdfReader(io.BytesIO(doc.data))
    turned = [i for i, page in enumerate(reader.pages) if page.get("/Rotate", 0) == 270]
    assert turned == list(range(2, len(doc.pages) - 1))
    for i in turned:
        box = reader.pages[i].mediabox
        assert (round(float(box.width) * MM), round(float(box.height) * MM)) == (297, 210)
        heads = [c for c in doc.pages[i] if c["text"] == "序" and c["font"] == HEI_FONT]
        assert len(heads) == 1
        # the head row at the 订口 (left) of the portrait sheet, inside its 版心
        rows = [c for c in doc.pages[i] if c["text"].startswith("G")]  # project numbers
        assert LEFT <= heads[0]["x0"] < min(c["x0"] for c in rows) < RIGHT
    # the portrait 版记 page follows the table
    assert reader.pages[-1].get("/Rotate", 0) == 0


# --- faces --------------------------------------------------------------------------------

def test_the_configured_body_and_title_faces_cover_gb2312(app):
    """make test fails when a configured body or title face lacks a GB 2312 character."""
    config = app.config
    pdf.use_font_folder(config["FONT_DIR"])
    try:
        for setting in ("FONT_BODY", "FONT_TITLE"):
            face = config[setting]
            assert pdf.font_file(face) is not None, f"{setting}: {face} is not installed"
            gaps = pdf.gb2312_gaps(face)
            assert gaps == "", (f"{setting}: {face} lacks {len(gaps)} GB 2312 characters: "
                                f"{gaps[:200]}")
    finally:
        pdf.use_font_folder(None)


def test_gb2312_is_its_7445_characters_with_a1aa_as_the_em_dash():
    chars = pdf.gb2312()
    assert len(chars) == 7445 and len(set(chars)) == 7445
    assert "\u2014" in chars and "\u2015" not in chars and "啊" in chars and "齄" in chars


def test_a_face_lacking_gb2312_characters_is_named_with_what_it_lacks(tmp_path):
    """A bureau face that lacks characters (here FandolKai whose character map fontTools
    cut down to all it maps but five characters of GB 2312) is named with exactly what it
    lacks."""
    from fontTools.ttLib import TTFont

    source = pdf.font_file("FandolKai")
    assert source is not None
    lacking = "赣堃∶齄啊"
    folder = tmp_path / "fonts"
    folder.mkdir()
    # Lazily read, outlines untouched: only the character map and the names are written.
    font = TTFont(str(source[0]), recalcBBoxes=False, lazy=True)
    for table in font["cmap"].tables:
        for ch in lacking:
            table.cmap.pop(ord(ch), None)
    names = font["name"]
    names.names = [n for n in names.names if n.nameID not in (1, 2, 4, 6, 16, 17)]
    for name_id, value in ((1, "缺字楷体KJ"), (4, "缺字楷体KJ"), (16, "缺字楷体KJ"),
                           (6, "KJGappyKai"), (2, "Regular")):
        names.setName(value, name_id, 3, 1, 0x409)
    font.save(str(folder / "gappy.ttf"))
    font.close()
    pdf.use_font_folder(str(folder))
    try:
        gaps = pdf.gb2312_gaps("缺字楷体KJ")
        assert sorted(gaps) == sorted(ch for ch in lacking if ch in pdf.gb2312())
        assert pdf.gb2312_gaps("FandolKai") == ""
    finally:
        pdf.use_font_folder(None)
    assert pdf.gb2312_gaps("no such family at all") == pdf.gb2312()


def test_a_bureau_font_folder_is_used_by_family_name(tmp_path):
    from fontTools.ttLib import TTFont

    source = pdf.font_file("FandolKai")
    assert source is not None
    folder = tmp_path / "fonts"
    folder.mkdir()
    font = TTFont(str(source[0]), lazy=True)
    names = font["name"]
    names.names = [record for record in names.names if record.nameID not in (1, 4, 6, 16)]
    for name_id, value in ((1, "测试楷体KJ"), (4, "测试楷体KJ"), (16, "测试楷体KJ"),
                           (6, "KJTestKai")):
        names.setName(value, name_id, 3, 1, 0x409)
    font.save(str(folder / "bureau.otf"))
    font.close()
    assert pdf.font_file("测试楷体KJ") is None  # not visible before
    faces = pdf.document_faces(body="测试楷体KJ", folder=str(folder))
    try:
        rendered = pdf.render_notice(notice_context(replace(LETTERHEAD, faces=faces)))
        assert pdf.font_file("测试楷体KJ") is not None
        assert pdf.gb2312_gaps("测试楷体KJ") == ""
        doc = Doc(rendered)
        body = doc.line(0, "经专家评审")
        assert {c["font"] for c in body["chars"]} == {"测试楷体KJ"}
        # rare characters still fall back and read back
        text = "".join(c["text"] for page in doc.pages for c in page)
        assert all(ch in text for ch in "䶮堃喆")
    finally:
        pdf.use_font_folder(None)
    assert pdf.font_file("测试楷体KJ") is None
    shutil.rmtree(folder)


@pytest.mark.parametrize(("face", "source"), [
    (pdf.BODY_FACE, "FandolFang"), (pdf.TITLE_FACE, "FandolSong:bold"),
    (pdf.HEI_FACE, "FandolHei"), (pdf.KAI_FACE, "FandolKai")])
def test_the_default_faces_are_the_fandol_fonts_as_truetype_looking_the_same(face, source):
    """.ci/fandol_ttf.py: the same characters, advances and outlines (within 1 unit of
    1000 to the em, plus rounding) as the .otf, in TrueType without hinting."""
    from fontTools.pens.boundsPen import BoundsPen
    from fontTools.ttLib import TTFont

    converted, original = pdf.font_file(face), pdf.font_file(source)
    assert converted is not None and original is not None
    assert converted[0].suffix == ".ttf"
    with TTFont(str(converted[0]), lazy=True) as tt, TTFont(str(original[0]), lazy=True) as otf:
        assert "glyf" in tt and "CFF " not in tt and "CFF " in otf
        assert not {"fpgm", "prep", "cvt "} & set(tt.keys())   # no hinting to drop
        assert tt.getBestCmap() == otf.getBestCmap()
        advances = [{name: advance for name, (advance, _) in font["hmtx"].metrics.items()}
                    for font in (tt, otf)]
        assert advances[0] == advances[1]
        for table, field in (("head", "unitsPerEm"), ("hhea", "ascent"), ("hhea", "descent"),
                             ("OS/2", "usWeightClass"), ("OS/2", "sTypoAscender")):
            assert getattr(tt[table], field) == getattr(otf[table], field), field
        tt_glyphs, otf_glyphs = tt.getGlyphSet(), otf.getGlyphSet()
        cmap = otf.getBestCmap()
        for ch in "赣州市科学技术局关于下达立项通知书〔〕２0123456789，。（）":
            if ord(ch) not in cmap:
                continue
            name = cmap[ord(ch)]
            bounds = []
            for glyphs in (tt_glyphs, otf_glyphs):
                pen = BoundsPen(glyphs)
                glyphs[name].draw(pen)
                bounds.append(pen.bounds)
            assert bounds[0] == pytest.approx(bounds[1], abs=1.5), ch
    assert pdf.gb2312_gaps(face) == ""


def test_rare_characters_read_back_with_the_default_faces():
    rare = replace(PROJECT, leader="吉𠮷喆", organization="赣州䶮堃稀土新材料有限公司")
    doc = Doc(pdf.render_notice(replace(notice_context(), project=rare)))
    text = "".join(c["text"] for page in doc.pages for c in page)
    for ch in "䶮堃喆𠮷":
        assert ch in text
    assert pdf.missing_glyphs("䶮堃喆𠮷") == []


def test_an_issued_file_keeps_its_turned_pages_and_seal_signed_and_pdfa(app):
    """What the office sends: PDF/A metadata and the signature (official._store) change
    nothing that is measured above."""
    from workflow.documents import archive, signing

    rendered = pdf.render_approval_file(approval_context(1, SEALED))
    issued = signing.issue(rendered, SEALED, "立项文件")
    assert archive.pdfa_problems(issued.data) == []
    assert signing.check_issued(issued.data).status == "valid"
    before, after = Doc(rendered), Doc(issued)
    assert after.rotations == before.rotations == [0, 0, 270, 0]
    for page in range(len(before.pages)):
        assert [(c["text"], round(c["x0"], 2), round(c["top"], 2)) for c in after.pages[page]
                ] == [(c["text"], round(c["x0"], 2), round(c["top"], 2))
                      for c in before.pages[page]]
        assert after.images[page] == before.images[page]


def test_the_settings_fill_the_letterhead_of_issued_documents(app, tmp_path):
    from datetime import UTC, datetime

    from workflow.documents import official

    seal = tmp_path / "seal.png"
    seal.write_bytes(red_seal_png())
    app.config.update(SEAL_IMAGE=str(seal), SEAL_MM=45.0, PRINTED_BY="某某局办公室",
                      DOCUMENT_CC={"approval_file": ("赣州市财政局", "赣州市审计局")},
                      DOCUMENT_NOTES={"approval_file": "此件主动公开"})
    with app.test_request_context():
        lh = official._letterhead("approval_file", "call:1", "赣市科字〔2026〕3号", "关于…的通知",
                                  datetime(2026, 3, 5, 2, tzinfo=UTC))
        plain = official._letterhead("notice", "application:1", "赣市科字〔2026〕4号",
                                     "关于…的通知", datetime(2026, 3, 5, 2, tzinfo=UTC))
    assert lh.seal is not None and lh.seal.png == seal.read_bytes()
    assert lh.seal.diameter_mm == 45.0
    assert lh.cc == ("赣州市财政局", "赣州市审计局") and lh.printed_by == "某某局办公室"
    assert lh.note == "此件主动公开" and plain.cc == () and plain.note == ""
    assert lh.faces == pdf.DOCUMENT_FACES


@pytest.mark.parametrize(("name", "value", "message"), [
    ("KJFLOW_SEAL_MM", "4.2", "KJFLOW_SEAL_MM"),
    ("KJFLOW_SEAL_IMAGE", "/nonexistent/seal.png", "KJFLOW_SEAL_IMAGE"),
    ("KJFLOW_FONT_DIR", "/nonexistent/fonts", "KJFLOW_FONT_DIR"),
])
def test_document_settings_that_cannot_work_stop_the_start(monkeypatch, tmp_path, name,
                                                           value, message):
    from workflow import config

    monkeypatch.setenv(name, value)
    with pytest.raises(RuntimeError, match=message):
        config.load(tmp_path)


def test_document_settings_read_lists_per_kind(monkeypatch, tmp_path):
    from workflow import config

    monkeypatch.setenv("KJFLOW_CC_NOTICE", "赣州市财政局，赣州市审计局、江西省科学技术厅")
    monkeypatch.setenv("KJFLOW_NOTE_PAYMENT_NOTICE", "此件不公开")
    monkeypatch.setenv("KJFLOW_BUREAU_NAME", "某市科学技术局")
    loaded = config.load(tmp_path)
    assert loaded["DOCUMENT_CC"]["notice"] == ("赣州市财政局", "赣州市审计局", "江西省科学技术厅")
    assert loaded["DOCUMENT_CC"]["approval_file"] == ("赣州市财政局",)
    assert loaded["DOCUMENT_NOTES"]["payment_notice"] == "此件不公开"
    assert loaded["PRINTED_BY"] == "某市科学技术局办公室"
    assert loaded["FONT_BODY"] == "FandolFang TT" and loaded["FONT_TITLE"] == "FandolSong TT:bold"
