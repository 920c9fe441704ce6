"""Official documents (立项通知书, 立项文件, 任务书, 拨付通知) as PDF, after GB/T 9704-2012.

Pure: the caller passes plain data (dataclasses below) and gets bytes back. No database, no
Flask application: the templates are loaded by a module-level Jinja environment, so a bare
worker or benchmark process can render.

Fonts. The stack is chosen for speed, size and coverage, measured on WeasyPrint 70 with
HarfBuzz subsetting, one 立项通知书 with 堃, 喆 and 䶮 in its names (bench/pdf.py):

- Primary "AR PL UMing CN" (Debian fonts-arphic-uming): a Ming (= 宋体) face, as GB/T 9704
  asks for in the title and body, TrueType (glyf outlines) that HarfBuzz subsets in a few
  milliseconds, and it has the rare name characters: 堃, 喆 and 䶮 (U+4DAE, CJK Ext. A).
  A notice: ~50 ms, ~45 KB.
- Fallback "Noto Serif CJK SC" (fonts-noto-cjk) for anything the primary lacks. Pango falls
  back per glyph, so the 26 MB CFF collection is only opened and subset when a character
  needs it. As the primary it costs ~80 ms and ~170 KB a notice (CFF subsets are big).
  "WenQuanYi Micro Hei" as the primary lacks 䶮, so Noto is pulled in for that one glyph:
  ~60 ms, and a sans face where the standard wants 宋体.
- Headings that GB/T 9704 sets in 黑体 (附件 label, table heads, 一级标题) use WenQuanYi
  Micro Hei (TrueType, fast), falling back to the song stack.
- Nothing is bold or italic: Pango would synthesise a second font object per face, embedded
  and subset separately, for a look the standard does not ask for (小标宋 is a design, not
  bold).
The naive way, Noto CJK alone with fontTools subsetting (no libharfbuzz-subset), takes
seconds per page: fontTools parses and rewrites the whole CFF table.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import segno
import weasyprint
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher

from forms import format_wan
from workflow.timeutil import cn_date

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

_env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_env.filters["wan"] = format_wan


# --- fonts -------------------------------------------------------------------------------

FONT_STACK: tuple[str, ...] = ("AR PL UMing CN", "Noto Serif CJK SC")  # title and body (宋)
HEI_STACK: tuple[str, ...] = ("WenQuanYi Micro Hei", *FONT_STACK)     # 黑体 headings
# Where Debian puts them, for a machine without fc-match (the fontconfig binaries).
FONT_FILES: dict[str, tuple[str, int]] = {
    "AR PL UMing CN": ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
    "Noto Serif CJK SC": ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    "Noto Sans CJK SC": ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    "WenQuanYi Micro Hei": ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
}


@dataclass(frozen=True)
class FontFaces:
    """The CSS font-family values a template uses."""

    song: str
    hei: str


def css_family(families: Iterable[str]) -> str:
    return ", ".join(f'"{name}"' for name in families)


DOCUMENT_FACES = FontFaces(song=css_family(FONT_STACK), hei=css_family(HEI_STACK))


@cache
def font_file(family: str) -> tuple[Path, int] | None:
    """The file and collection index fontconfig renders ``family`` from; None if absent."""
    fc_match = shutil.which("fc-match")
    if fc_match:
        found = subprocess.run(
            [fc_match, "--format=%{family}\n%{file}\n%{index}", family],
            capture_output=True, text=True, check=False, timeout=30)
        lines = found.stdout.split("\n")
        # fc-match always answers with something; only the family asked for counts.
        if found.returncode == 0 and len(lines) == 3 and family in lines[0].split(","):
            return Path(lines[1]), int(lines[2])
        return None
    path, index = FONT_FILES.get(family, ("", 0))
    return (Path(path), index) if path and Path(path).is_file() else None


@cache
def _covered() -> frozenset[int]:
    """Code points the document fonts have, from the cmaps of the files Pango uses."""
    from fontTools.ttLib import TTFont

    covered: set[int] = set()
    for family in dict.fromkeys((*FONT_STACK, *HEI_STACK)):
        where = font_file(family)
        if where is not None:
            with TTFont(str(where[0]), fontNumber=where[1], lazy=True) as font:
                covered.update(font.getBestCmap())
    return frozenset(covered)


def missing_glyphs(text: str) -> list[str]:
    """Characters of ``text`` (whitespace aside) that no document font has, in order."""
    covered = _covered()
    seen: dict[str, None] = {}
    for ch in text:
        if not ch.isspace() and ord(ch) not in covered:
            seen.setdefault(ch)
    return list(seen)


# --- data --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Letterhead:
    authority: str        # 发文机关
    doc_number: str       # 发文字号
    title: str            # 公文标题
    issued_on: date       # 成文日期, local (Asia/Shanghai)
    verify_url: str       # what the QR code encodes
    verify_code: str      # printed beside the QR code


@dataclass(frozen=True)
class ProjectLine:
    project_number: str
    title: str
    organization: str
    leader: str
    amount: Decimal       # yuan


@dataclass(frozen=True)
class Meeting:
    """A meeting recorded for a funding decision (三重一大)."""

    name: str             # e.g. 局党组会议
    held_on: date
    minutes_ref: str      # 会议纪要文号


@dataclass(frozen=True)
class Decision:
    """What decided the projects a 立项通知书 or 立项文件 announces: the documents say
    "经…研究" only when a meeting was recorded, and otherwise name what did happen."""

    meetings: tuple[Meeting, ...] = ()
    leader_approved: bool = False   # a leader approved the funded list
    # Some of the projects' lists were decided at the meetings, the others by a leader.
    partly: bool = False


@dataclass(frozen=True)
class NoticeContext:
    letterhead: Letterhead
    project: ProjectLine
    call_title: str
    scheme_label: str
    challenge_title: str | None
    approval_file_number: str | None
    # The public notice's first and last day, as published.
    notice_days: tuple[date, date] | None = None
    # How the project was decided: the meetings recorded for its decision (三重一大),
    # else whether a leader approved the funded list (see Decision).
    decision: Decision | None = None


@dataclass(frozen=True)
class ApprovalFileContext:
    letterhead: Letterhead
    call_title: str
    scheme_label: str
    year: int
    projects: list[ProjectLine]
    # The public notice's first and last day, when the projects shared one period.
    notice_days: tuple[date, date] | None = None
    decision: Decision | None = None


@dataclass(frozen=True)
class Milestone:
    """One row of a 任务书's schedule: a tranche, with the milestone it pays for."""

    title: str
    due: date | None      # the milestone's date; None for a tranche paid on a condition
    amount: Decimal       # yuan
    criteria: str         # 考核要求
    condition: str = ""   # when it is paid, e.g. 任务书签订后 (shown when there is no date)


@dataclass(frozen=True)
class Signature:
    party: str            # e.g. 甲方（委托方）：赣州市科学技术局
    signer: str
    signed_at: str        # formatted local time, "" if not signed
    signer_title: str = "授权代表"  # who signs for the party (项目负责人 for the team)


@dataclass(frozen=True)
class Indicator:
    """A 考核指标: what is required and, for 揭榜挂帅, what the team answered."""

    name: str
    requirement: str
    commitment: str = ""


@dataclass(frozen=True)
class Party:
    """A party to the 任务书, as printed under the cover."""

    role: str             # 甲方（委托方）, 需求方（发榜方）, 乙方（承担单位）
    name: str
    uscc: str = ""        # 统一社会信用代码, when known
    representative: str = ""  # who signs for it (项目负责人 for the team)
    contact: str = ""     # phone / e-mail, when known
    address: str = ""


@dataclass(frozen=True)
class TaskBookContext:
    """任务书: a contract between the bureau, the team (and for 揭榜挂帅 the demand
    side); ``letterhead.doc_number`` is unused (it has no 发文字号: its contract number is
    the project number)."""

    letterhead: Letterhead
    project: ProjectLine
    call_title: str
    scheme_label: str
    challenge_title: str | None
    demand_org: str | None
    indicators: Sequence[Indicator | str]
    milestones: list[Milestone]
    signatures: list[Signature]
    parties: list[Party] = field(default_factory=list)
    period: tuple[date, date] | None = None  # 起止年限
    signed_on: date | None = None            # 签订日期: the day the last party signed
    # Texts the team signed that bind it under the contract (承诺书 / 军令状), and the
    # negative list of a 包干制 project.
    commitments: list[str] = field(default_factory=list)
    commitment_title: str = ""
    commitment_signed: str = ""              # "王研究员，2026年3月2日" or ""
    negative_list: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PaymentNoticeContext:  # 拨付通知: one per released tranche, to the payee
    letterhead: Letterhead
    project: ProjectLine
    tranche_label: str
    amount: Decimal          # yuan
    amount_capital: str      # 人民币大写
    bank_name: str
    bank_account: str
    payment_ref: str
    released_on: date
    disbursed_total: Decimal  # paid to the project so far, this payment included
    remaining: Decimal        # grant not yet paid
    milestone: str = ""       # the milestone the tranche pays for, if any
    condition: str = ""       # what made it due, e.g. 里程碑验收通过后


@dataclass(frozen=True)
class RenderedPdf:
    data: bytes
    pages: int


# --- rendering ---------------------------------------------------------------------------

class _RefusingFetcher(URLFetcher):
    """WeasyPrint may load nothing from outside: documents are self-contained.

    WeasyPrint 70 wants a URLFetcher (it reads ``_fail_on_errors`` off the fetcher when a
    fetch fails; a bare function then ends in AttributeError). With fail_on_errors the
    refusal stops the render instead of leaving a hole where the resource was.
    """

    def fetch(self, url: str, headers: Any = None) -> Any:
        # data: URLs are the document's own inline content (the QR code), not a fetch.
        if url.startswith("data:image/png;base64,"):
            return super().fetch(url, headers)
        raise ValueError(f"external resource refused: {url[:80]}")


refuse_fetch = _RefusingFetcher(fail_on_errors=True)

# The user-agent stylesheet our documents are written against: display and defaults for
# just the elements the templates use. WeasyPrint's own HTML5 sheet styles every element
# for ::marker, ::footnote-call, ::note-call… and forms; on a 500-row list that costs about
# a third of the render (bench/pdf.py). Only ever a speed-up: if a WeasyPrint upgrade stops
# calling _ua_stylesheets, its own sheet applies and the documents look the same
# (tests/unit/workflow/test_pdf.py checks the hook still exists).
UA_CSS = """
head, style, title, meta, script { display: none }
html, body, div, p, h1, h2, h3, ol, ul { display: block }
li { display: list-item }
ol { list-style-type: decimal }
ul { list-style-type: disc }
ol, ul { margin: 1em 0; padding-left: 40px }
li::marker { font-variant-numeric: tabular-nums; white-space: pre }
h1 { font-size: 2em; margin: .67em 0; font-weight: bold }
h2 { font-size: 1.5em; margin: .83em 0; font-weight: bold }
h3 { font-size: 1.17em; margin: 1em 0; font-weight: bold }
p { margin: 1em 0 }
b, strong, th { font-weight: bold }
table { display: table; box-sizing: border-box; border-spacing: 2px;
        border-collapse: separate; text-indent: initial; border-color: gray }
thead { display: table-header-group; vertical-align: middle }
tbody { display: table-row-group; vertical-align: middle }
tfoot { display: table-footer-group; vertical-align: middle }
tr { display: table-row; vertical-align: inherit }
td, th { display: table-cell; vertical-align: inherit; padding: 1px }
th { text-align: center }
colgroup { display: table-column-group }
col { display: table-column }
svg { overflow: hidden }
@page {
  @bottom-left { text-align: left; vertical-align: middle }
  @bottom-center { text-align: center; vertical-align: middle }
  @bottom-right { text-align: right; vertical-align: middle }
}
"""


@cache
def _ua_stylesheet() -> weasyprint.CSS:
    return weasyprint.CSS(string=UA_CSS)


class _DocumentHTML(weasyprint.HTML):
    def _ua_stylesheets(self, forms: bool = False) -> list[weasyprint.CSS]:
        return [_ua_stylesheet()]


_fonts = threading.local()


def _font_config() -> FontConfiguration:
    """One FontConfiguration per thread: making one costs a third of a notice's render.

    It only holds @font-face fonts, which the templates never declare, so nothing of one
    document stays behind for the next; Pango is not thread-safe, hence per thread.
    """
    config = getattr(_fonts, "config", None)
    if config is None:
        config = _fonts.config = FontConfiguration()
    return config


def qr_code(url: str) -> segno.QRCode:
    return segno.make(url, error="m", mask=QR_MASK)


QR_MASK = 0


def qr_image(url: str) -> str:
    """``url`` as a QR code: an inline PNG, one pixel per module with its quiet zone,
    scaled up by CSS without smoothing. A raster is drawn in a fraction of the time
    WeasyPrint takes to draw the same symbol as SVG paths (bench/pdf.py). The mask is
    fixed: any of the eight is a valid symbol, and scoring all eight took longer than the
    rest of the QR code."""
    uri = qr_code(url).png_data_uri(scale=1, border=4)
    return f'<img class="qr" src="{uri}" alt="验证二维码">'


_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


@lru_cache(maxsize=64)
def _stylesheet(text: str) -> weasyprint.CSS:
    return weasyprint.CSS(string=text, font_config=_font_config())


def html_to_pdf(html: str) -> RenderedPdf:
    """The PDF of ``html``. Its <style> (the same for every document of a kind) is parsed
    once and kept: parsing it again was a tenth of a notice's render."""
    sheets = []
    found = _STYLE.search(html)
    if found is not None:
        sheets.append(_stylesheet(found.group(1)))
        html = html[:found.start()] + html[found.end():]
    try:
        html_doc = _DocumentHTML(string=html, url_fetcher=refuse_fetch)
        document = html_doc.render(font_config=_font_config(), stylesheets=sheets)
    except FatalURLFetchingError as refused:  # a BaseException: make it an ordinary error
        raise ValueError(str(refused.__cause__ or refused)) from refused.__cause__
    # PDF/A-2b: fonts embedded, an sRGB OutputIntent and XMP; archive.with_metadata adds
    # the archival metadata and the trailer /ID, which WeasyPrint would compute by
    # compressing every stream a second time (a third of a notice's render).
    data = document.write_pdf(pdf_variant="pdf/a-2b", pdf_identifier=False)
    return RenderedPdf(data=data, pages=len(document.pages))


def _html(template: str, letterhead: Letterhead, faces: FontFaces, **values: Any) -> str:
    # Markup: the QR code is segno's own SVG and the font lists are the quoted family
    # names above (CSS, not HTML); neither holds user input.
    fonts = {"song": Markup(faces.song), "hei": Markup(faces.hei)}  # noqa: S704
    return _env.get_template(template).render(
        lh=letterhead, issued_on=cn_date(letterhead.issued_on),
        qr=Markup(qr_image(letterhead.verify_url)), fonts=fonts, **values)  # noqa: S704


def notice_html(ctx: NoticeContext, faces: FontFaces = DOCUMENT_FACES) -> str:
    return _html("documents/notice.html", ctx.letterhead, faces, ctx=ctx, cn_date=cn_date)


def approval_file_html(ctx: ApprovalFileContext, faces: FontFaces = DOCUMENT_FACES) -> str:
    total = sum((p.amount for p in ctx.projects), Decimal(0))
    return _html("documents/approval_file.html", ctx.letterhead, faces, ctx=ctx, total=total,
                 cn_date=cn_date)


def task_book_html(ctx: TaskBookContext, faces: FontFaces = DOCUMENT_FACES) -> str:
    total = sum((m.amount for m in ctx.milestones), Decimal(0))
    return _html("documents/task_book.html", ctx.letterhead, faces, ctx=ctx,
                 milestone_total=total, cn_date=cn_date)


def payment_notice_html(ctx: PaymentNoticeContext, faces: FontFaces = DOCUMENT_FACES) -> str:
    return _html("documents/payment_notice.html", ctx.letterhead, faces, ctx=ctx,
                 cn_date=cn_date)


def render_payment_notice(ctx: PaymentNoticeContext) -> RenderedPdf:
    return html_to_pdf(payment_notice_html(ctx))


def render_notice(ctx: NoticeContext) -> RenderedPdf:
    return html_to_pdf(notice_html(ctx))


def render_approval_file(ctx: ApprovalFileContext) -> RenderedPdf:
    return html_to_pdf(approval_file_html(ctx))


def render_task_book(ctx: TaskBookContext) -> RenderedPdf:
    return html_to_pdf(task_book_html(ctx))
