"""Official documents (立项通知书, 立项文件, 任务书, 拨付通知) as PDF, after GB/T 9704-2012.

Pure: the caller passes plain data (dataclasses below) and gets bytes back. No database, no
Flask application: the templates are loaded by a module-level Jinja environment, so a bare
worker or benchmark process can render. The faces are passed in too (``Letterhead.faces``,
built by ``document_faces`` from the settings that workflow/documents/official.py reads).

Page geometry (``geometry`` below, templates/documents/official.html): A4, 天头 37 mm, 订口
28 mm, 版心 156 × 225 mm; body 3号 (16 pt) in 22 lines of 28 characters, which takes a
letter-spacing of 156/28 mm − 16 pt and a line pitch of 225/22 mm. Landscape (横排) table
pages are laid out landscape and turned (/Rotate 270) so that they print on the same
portrait sheet, the table head on the 订口 side, their page numbers drawn turned where the
portrait page has them (tests/unit/workflow/test_gbt9704.py measures all of it).

Fonts. Speed, size and coverage, measured on WeasyPrint 70 with HarfBuzz subsetting
(bench/pdf.py):

- The faces GB/T 9704 names are settings: 仿宋 body, 小标宋 title, 黑体, 楷体, by default
  the free Fandol fonts (they cover GB 2312), or the bureau's licensed 方正 fonts from a
  font folder (``use_font_folder``). The Fandol fonts are CFF; .ci/sysdeps.sh converts
  them once to TrueType ("FandolFang TT" …, .ci/fandol_ttf.py), and those are the
  defaults: WeasyPrint embeds a subset without subroutines, where a Fandol glyph takes
  about 340 bytes as TrueType against 440 (仿宋) to 750 (the bold title face) as CFF, so
  an issued 立项通知书 is 80 KB rather than 110 KB, rendered as fast and looking the same
  (the outlines agree to within 1/1000 em; tests/unit/workflow/test_gbt9704.py).
- Behind each face the fallback chain: "AR PL UMing CN" (Debian fonts-arphic-uming, a Ming
  = 宋 face, TrueType) has the rare name characters the faces lack: 堃, 喆 and 䶮 (U+4DAE,
  CJK Ext. A); "Noto Serif CJK SC" (fonts-noto-cjk) has the rest (𠮷, Ext. B). Pango falls
  back per glyph, so the 26 MB CFF collection is only opened and subset when a character
  needs it.
- 小标宋 is a design, not bold: with no free 小标宋, the title face is FandolSong's own Bold
  (a real face, not synthesised). Nothing else is bold or italic: Pango would synthesise a
  second font object per face, embedded and subset separately.
The naive way, Noto CJK alone with fontTools subsetting (no libharfbuzz-subset), takes
seconds per page: fontTools parses and rewrites the whole CFF table.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache, lru_cache
from itertools import combinations, pairwise
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

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

# The faces GB/T 9704 names, as fontconfig family names ("Family" or "Family:bold"), by
# default the free Fandol fonts (texlive-lang-chinese; .ci/sysdeps.sh installs them and
# their TrueType conversions, " TT"): they cover all 7,445 characters of GB 2312. A
# bureau sets its licensed 方正仿宋_GBK and 方正小标宋简体 instead (workflow/config.py:
# KJFLOW_FONT_*, KJFLOW_FONT_DIR).
BODY_FACE = "FandolFang TT"       # 仿宋: body, 版记
TITLE_FACE = "FandolSong TT:bold" # 小标宋: 发文机关标志 and titles (no free 小标宋 exists)
HEI_FACE = "FandolHei TT"         # 黑体: 附件 label, headings, table heads
KAI_FACE = "FandolKai TT"         # 楷体: 二级标题 where a body uses them
SONG_FACE = "AR PL UMing CN"      # 宋体: page numbers
# Per glyph, Pango falls back along this chain for what a face lacks: the rare name
# characters (堃 喆 䶮 in AR PL UMing, 𠮷 in Noto Serif CJK). UMing is TrueType, subset
# in milliseconds; Noto's 26 MB CFF collection is only opened when a glyph needs it.
FALLBACK: tuple[str, ...] = ("AR PL UMing CN", "Noto Serif CJK SC")
# The faces the documents use by default, first to last (bench/pdf.py prints their files).
FONT_STACK: tuple[str, ...] = (BODY_FACE, TITLE_FACE.partition(":")[0], SONG_FACE,
                               *FALLBACK[1:])
HEI_STACK: tuple[str, ...] = (HEI_FACE, "WenQuanYi Micro Hei", *FALLBACK)  # 黑体
# Where Debian puts them, for a machine without fc-match (the fontconfig binaries).
FONT_FILES: dict[str, tuple[str, int]] = {
    "AR PL UMing CN": ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
    "Noto Serif CJK SC": ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    "Noto Sans CJK SC": ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    "WenQuanYi Micro Hei": ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
}


def face_name(spec: str) -> tuple[str, bool]:
    """A face setting in fontconfig's pattern syntax, "Family" or "Family:bold"."""
    family, _, style = spec.partition(":")
    return family.strip(), style.strip().lower() == "bold"


@dataclass(frozen=True)
class FontFaces:
    """The CSS font-family values a template uses (``fang``, ``title``, ``kai`` default
    to ``song``), and the folder of the bureau's own font files, if any."""

    song: str
    hei: str
    fang: str | None = None
    title: str | None = None
    kai: str | None = None
    title_weight: int = 400
    folder: str | None = None

    def css(self) -> dict[str, Markup]:
        # Markup: quoted family names from the settings (CSS, not HTML); see css_family.
        values = {"song": self.song, "hei": self.hei, "fang": self.fang or self.song,
                  "title": self.title or self.song, "kai": self.kai or self.song,
                  "title_weight": str(self.title_weight)}
        return {key: Markup(value) for key, value in values.items()}  # noqa: S704

    def families(self) -> list[str]:
        """Every family named, in order, without repeats."""
        return list(dict.fromkeys(re.findall(r'"([^"]+)"', " ".join(
            v for v in (self.song, self.hei, self.fang, self.title, self.kai) if v))))


def css_family(families: Iterable[str]) -> str:
    names = list(dict.fromkeys(families))
    for name in names:
        if not name or any(ch in name for ch in '"\\;{}<>\n'):
            raise ValueError(f"not a font family name: {name!r}")
    return ", ".join(f'"{name}"' for name in names)


@cache
def document_faces(body: str = BODY_FACE, title: str = TITLE_FACE, hei: str = HEI_FACE,
                   kai: str = KAI_FACE, song: str = SONG_FACE,
                   folder: str | None = None) -> FontFaces:
    """The faces of the settings, each followed by the fallback chain."""
    title_family, bold = face_name(title)
    return FontFaces(
        song=css_family((face_name(song)[0], *FALLBACK)),
        hei=css_family((face_name(hei)[0], *HEI_STACK[1:])),
        fang=css_family((face_name(body)[0], *FALLBACK)),
        title=css_family((title_family, *FALLBACK)),
        kai=css_family((face_name(kai)[0], *FALLBACK)),
        title_weight=700 if bold else 400, folder=folder or None)


DOCUMENT_FACES = document_faces()


# Fontconfig reads FONTCONFIG_FILE each time a configuration is loaded (one per rendering
# thread, weasyprint.FontConfiguration; and each fc-match run): a bureau's font folder is
# added by a generated file that includes the system's and names the folder.
_font_folder: list[str | None] = [None]
_font_lock = threading.Lock()
_FONTCONFIG_FILE = os.environ.get("FONTCONFIG_FILE")   # as the process started
_SYSTEM_FONTS_CONF = _FONTCONFIG_FILE or "/etc/fonts/fonts.conf"


def use_font_folder(folder: str | None) -> None:
    """Make the fonts in ``folder`` (None: none) visible to what renders next."""
    with _font_lock:
        if folder == _font_folder[0]:
            return
        if folder is None:
            if _FONTCONFIG_FILE is None:
                os.environ.pop("FONTCONFIG_FILE", None)
            else:
                os.environ["FONTCONFIG_FILE"] = _FONTCONFIG_FILE
        else:
            if not Path(folder).is_dir():
                raise ValueError(f"font folder not found: {folder}")
            conf = Path(tempfile.gettempdir()) / (
                "kjflow-fonts-" + hashlib.sha256(folder.encode()).hexdigest()[:16] + ".conf")
            conf.write_text(
                '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">'
                f"\n<fontconfig><include ignore_missing=\"yes\">{escape(_SYSTEM_FONTS_CONF)}"
                f"</include><dir>{escape(str(Path(folder).resolve()))}</dir></fontconfig>\n",
                encoding="utf-8")
            os.environ["FONTCONFIG_FILE"] = str(conf)
        _font_folder[0] = folder
        font_file.cache_clear()
        _covered.cache_clear()
        _stylesheet.cache_clear()
        _fonts.__dict__.clear()  # this thread's configuration; others see the generation
        _generation[0] += 1


_generation = [0]


@cache
def font_file(family: str) -> tuple[Path, int] | None:
    """The file and collection index fontconfig renders ``family`` from (a face setting,
    "Family" or "Family:bold"); None if absent."""
    name, _bold = face_name(family)
    fc_match = shutil.which("fc-match")
    if fc_match:
        found = subprocess.run(
            [fc_match, "--format=%{family}\n%{file}\n%{index}", family],
            capture_output=True, text=True, check=False, timeout=30)
        lines = found.stdout.split("\n")
        # fc-match always answers with something; only the family asked for counts.
        if found.returncode == 0 and len(lines) == 3 and name in lines[0].split(","):
            return Path(lines[1]), int(lines[2])
        return None
    path, index = FONT_FILES.get(name, ("", 0))
    return (Path(path), index) if path and Path(path).is_file() else None


def _cmap(where: tuple[Path, int]) -> dict[int, str]:
    from fontTools.ttLib import TTFont

    with TTFont(str(where[0]), fontNumber=where[1], lazy=True) as font:
        return dict(font.getBestCmap())


@cache
def _covered(families: tuple[str, ...]) -> frozenset[int]:
    """Code points the document fonts have, from the cmaps of the files Pango uses."""
    covered: set[int] = set()
    for family in families:
        where = font_file(family)
        if where is not None:
            covered.update(_cmap(where))
    return frozenset(covered)


def missing_glyphs(text: str, faces: FontFaces = DOCUMENT_FACES) -> list[str]:
    """Characters of ``text`` (whitespace aside) that no document font has, in order."""
    covered = _covered(tuple(faces.families()))
    seen: dict[str, None] = {}
    for ch in text:
        if not ch.isspace() and ord(ch) not in covered:
            seen.setdefault(ch)
    return list(seen)


@cache
def gb2312() -> str:
    """The 7,445 characters of GB 2312 (A1AA read as U+2014 EM DASH, as GB 18030 maps it;
    Python's gb2312 codec gives U+2015)."""
    chars = []
    for row in range(0xA1, 0xF8):
        for cell in range(0xA1, 0xFF):
            code = bytes((row, cell))
            try:
                code.decode("gb2312")
            except UnicodeDecodeError:
                continue
            chars.append(code.decode("gb18030"))
    return "".join(chars)


def gb2312_gaps(face: str) -> str:
    """The GB 2312 characters the face set as ``face`` lacks (all of them when fontconfig
    does not have that family): a body or title face must lack none."""
    where = font_file(face)
    if where is None:
        return gb2312()
    cmap = _cmap(where)
    return "".join(ch for ch in gb2312() if ord(ch) not in cmap)


# --- data --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Seal:
    """The issuing authority's seal as a PNG (red on transparent), printed this wide."""

    png: bytes
    diameter_mm: float = 42.0  # 市、县级国家行政机关印章直径 4.2 cm

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode()


@dataclass(frozen=True)
class Letterhead:
    authority: str        # 发文机关
    doc_number: str       # 发文字号
    title: str            # 公文标题
    issued_on: date       # 成文日期, local (Asia/Shanghai)
    verify_url: str       # what the QR code encodes
    verify_code: str      # printed beside the QR code
    # 版记 on the last page: 抄送机关, 印发机关 and 印发日期 (none without 印发机关).
    cc: tuple[str, ...] = ()
    printed_by: str = ""
    printed_on: date | None = None   # None: the 成文日期
    note: str = ""                   # 附注, printed in parentheses under the date
    seal: Seal | None = None         # None: the unsealed layout of 署名 and date
    faces: FontFaces = DOCUMENT_FACES


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
class RecoveryNoticeContext:  # 追回通知: to the organisation that owes the money back
    letterhead: Letterhead
    project: ProjectLine
    reason: str
    amount: Decimal          # yuan owed
    amount_capital: str      # 人民币大写
    disbursed: Decimal       # paid to the project before it was wound up
    due_on: date
    account_name: str        # where the money goes back to
    bank_name: str
    bank_account: str


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
    document stays behind for the next; Pango is not thread-safe, hence per thread. A new
    font folder (``use_font_folder``) makes each thread load a new one.
    """
    held = getattr(_fonts, "held", None)
    if held is None or held[0] != _generation[0]:
        held = _fonts.held = (_generation[0], FontConfiguration())
    config: FontConfiguration = held[1]
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


def _turn_landscape_pages(document: weasyprint.Document, pdf: Any) -> None:
    """A landscape (横排) page is shown turned a quarter to the left, as it is printed on
    the portrait sheet: its top (the table head) on the 订口 side, its left (where its page
    number is drawn) at the bottom (GB/T 9704 10.1). A WeasyPrint finisher."""
    for page, number in zip(document.pages, pdf.pages["Kids"][::3], strict=True):
        if page.width > page.height:
            pdf.objects[number]["Rotate"] = 270


# The sRGB profile of the PDF/A OutputIntent: LittleCMS's (Pillow's
# ImageCms.createProfile("sRGB"): the sRGB primaries and its exact tone curve as a
# parametric curve), 588 bytes, labelled ICC 4.2 (ICC.1:2004-10, the version PDF 1.7 and
# PDF/A-2 name), dated 2026-01-01, with its profile ID. WeasyPrint's own sRGB2014.icc
# describes the same colour space with 1,024-point curves: 3 KB (2.5 KB compressed) in
# every document. tests/unit/workflow/test_pdf.py checks that both map colours alike.
SRGB_ICC = base64.b64decode(
    "AAACTGxjbXMEIAAAbW50clJHQiBYWVogB+oAAQABAAAAAAAAYWNzcEFQUEwAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAPbWAAEAAAAA0y1sY21zOlk3KmVfhOy0MrA0yVZeMwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAL"
    "ZGVzYwAAAQgAAAA2Y3BydAAAAUAAAABMd3RwdAAAAYwAAAAUY2hhZAAAAaAAAAAsclhZWgAAAcwAAAAUYlhZWgAA"
    "AeAAAAAUZ1hZWgAAAfQAAAAUclRSQwAAAggAAAAgZ1RSQwAAAggAAAAgYlRSQwAAAggAAAAgY2hybQAAAigAAAAk"
    "bWx1YwAAAAAAAAABAAAADGVuVVMAAAAaAAAAHABzAFIARwBCACAAYgB1AGkAbAB0AC0AaQBuAABtbHVjAAAAAAAA"
    "AAEAAAAMZW5VUwAAADAAAAAcAE4AbwAgAGMAbwBwAHkAcgBpAGcAaAB0ACwAIAB1AHMAZQAgAGYAcgBlAGUAbAB5"
    "WFlaIAAAAAAAAPbWAAEAAAAA0y1zZjMyAAAAAAABDEIAAAXe///zJQAAB5MAAP2Q///7of///aIAAAPcAADAblhZ"
    "WiAAAAAAAABvoAAAOPUAAAOQWFlaIAAAAAAAACSfAAAPhAAAtsNYWVogAAAAAAAAYpcAALeHAAAY2XBhcmEAAAAA"
    "AAMAAAACZmYAAPKnAAANWQAAE9AAAApbY2hybQAAAAAAAwAAAACj1wAAVHsAAEzNAACZmgAAJmYAAA9c")


def _compact_output_intent(pdf: Any) -> None:
    """The PDF/A OutputIntent with SRGB_ICC for WeasyPrint's larger sRGB profile."""
    for intent in pdf.catalog.get("OutputIntents", ()):
        number = int(intent["DestOutputProfile"].split()[0])
        pdf.objects[number].stream = [SRGB_ICC]


def _finish(document: weasyprint.Document, pdf: Any) -> None:
    """What WeasyPrint's PDF gets before it is written (a finisher)."""
    _turn_landscape_pages(document, pdf)
    _compact_output_intent(pdf)


def html_to_pdf(html: str, faces: FontFaces = DOCUMENT_FACES) -> RenderedPdf:
    """The PDF of ``html``. Its <style> (the same for every document of a kind) is parsed
    once and kept: parsing it again was a tenth of a notice's render."""
    use_font_folder(faces.folder)
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
    data = document.write_pdf(pdf_variant="pdf/a-2b", pdf_identifier=False,
                              finisher=_finish)
    return RenderedPdf(data=data, pages=len(document.pages))


# --- GB/T 9704-2012 ----------------------------------------------------------------------

PT = 25.4 / 72           # mm
TYPE_WIDTH, TYPE_HEIGHT = 156.0, 225.0   # 版心
LINES, CHARS = 22, 28    # 3号 body lines a page, characters a line
# One line, mm: 225/22 rounded down, so that 22 lines never overflow the 版心.
PITCH = math.floor(TYPE_HEIGHT / LINES * 1000) / 1000
CELL = TYPE_WIDTH / CHARS     # one character of the body, mm
SIZE_3, SIZE_2, SIZE_4 = 16.0, 22.0, 14.0   # 3号, 2号, 4号 in pt


def geometry(seal: Seal | None = None, authority: str = "") -> dict[str, str]:
    """The lengths the templates lay out with, as CSS.

    "空N行" between two elements is N blank body lines plus the leading a body line has
    under and over its characters, measured from characters to characters: N × 225/22 mm
    + (225/22 mm − 16 pt). Body lines are 225/22 mm high with their characters centred, so
    22 fill the 版心; characters are 156/28 mm apart (16 pt and a negative letter-spacing).
    """
    lead = PITCH - SIZE_3 * PT                     # above and below a body line's characters
    title_half = (PITCH - SIZE_2 * PT) / 2         # a 2号 line on a body line's pitch
    body_half = lead / 2
    values = {
        "pitch": PITCH,
        "cell": CELL,
        # A hair less than 156/28 mm − 16 pt, so that 28 characters never overflow 156 mm
        # (Pango rounds each advance to 1/1024 pt).
        "letter_spacing": CELL - SIZE_3 * PT - 0.001,
        "indent2": 2 * CELL,
        "indent4": 4 * CELL,
        "indent5": 5 * CELL,
        "indent3": 3 * CELL,
        # 发文机关标志: its top 35 mm under the 版心's.
        "authority_top": 35.0,
        # 发文字号 空二行 under the 标志 (both sized to their characters).
        "doc_number_gap": 2 * PITCH + lead,
        "rule_gap": 4.0,
        # title 空二行 under the red rule; its lines on the body's pitch.
        "title_gap": 2 * PITCH + lead - title_half,
        # 主送机关 空一行 under the title.
        "addressee_gap": PITCH + lead - title_half - body_half,
        "blank_line": PITCH,
    }
    if seal is not None:
        # The seal's top 2.3 mm under the body's last characters (within one line); the
        # 署名 and date a little under its centre.
        diameter = seal.diameter_mm
        values["seal"] = diameter
        values["seal_half"] = diameter / 2
        values["seal_offset"] = max(diameter / 2 + 3.0 - PITCH, 0.0)
        values["seal_min_height"] = max(diameter - values["seal_offset"], 2 * PITCH)
    # 发文机关标志: at most 15 mm a character, narrower when a long name needs it.
    values["authority_size"] = min(15.0, TYPE_WIDTH / max(len(authority), 1))
    return {key: f"{math.floor(value * 10000) / 10000:.4f}mm" for key, value in values.items()}


_QUOTES = {"“": "”", "《": "》", "（": "）", "「": "」"}
_SUFFIXES = ("项目立项的通知", "立项项目的通知", "项目经费的通知", "项目任务书", "的通知",
             "的通报", "的批复", "的决定", "的意见", "的函", "项目", "立项")
_AFTER = ("关于", "下达", "拨付", "年度", "的", "与", "和", "及", "暨", "、", "，", "）", "》", "”")
_BEFORE = ("关键技术", "技术研究", "研究与", "研究", "示范", "应用", "开发", "研制", "产业化",
           "及其", "平台", "体系", "系统", "工程", "（", "《", "“")
_NO_LINE_START = set("，。、；：？！”’）》」』〉】…—%")
_NO_LINE_END = set("“‘（《「『〈【")


def _text_width(text: str) -> float:
    return sum(0.5 if ord(ch) < 0x2000 else 1.0 for ch in text)


def _break_costs(title: str) -> dict[int, int]:
    """Where ``title`` may break, and how good a place it is (lower is better)."""
    costs: dict[int, int] = {}

    def offer(at: int, cost: int) -> None:
        if 0 < at < len(title):
            costs[at] = min(costs.get(at, cost), cost)

    for suffix in _SUFFIXES:
        at = title.find(suffix)
        while at >= 0:
            offer(at, 0 if title.endswith(suffix, at) and at + len(suffix) == len(title)
                  else 1)
            offer(at + len(suffix), 1)
            at = title.find(suffix, at + 1)
    for word in _AFTER:
        for found in re.finditer(re.escape(word), title):
            offer(found.end(), 1)
    for word in _BEFORE:
        for found in re.finditer(re.escape(word), title):
            offer(found.start(), 2)
    # Never inside a quotation's first or last word, a number or a Latin word, nor with
    # punctuation that may not start or end a line.
    for at in list(costs):
        before, after = title[at - 1], title[at]
        if (after in _NO_LINE_START or before in _NO_LINE_END
                or (before.isascii() and after.isascii() and before.isalnum()
                    and after.isalnum())):
            del costs[at]
    return costs


def _shape_penalty(widths: list[float]) -> float:
    """Lines of a title set as a trapezoid (each longer, or each shorter, than the one
    before) or a diamond (longer, then shorter) cost their spread; an hourglass (shorter,
    then longer) costs much more."""
    turns = [b - a for a, b in pairwise(widths)]
    rising = True
    for step in turns:
        if step < 0:
            rising = False
        elif step > 0 and not rising:
            return 100.0 + max(widths) - min(widths)
    return max(widths) - min(widths)


def title_lines(title: str, per_line: float = 20.0) -> list[str]:
    """``title`` in as few lines of at most ``per_line`` characters (2号 in the 版心: 20) as
    it takes, broken where words end (quotes, the known ends of a title such as 项目立项的
    通知, and a few words that end or begin a phrase), in a trapezoid or diamond shape
    (GB/T 9704 7.3.1). Without such places, it breaks between any two characters that
    punctuation rules allow."""
    if _text_width(title) <= per_line:
        return [title]
    good = _break_costs(title)
    anywhere = {at: 10 for at in range(1, len(title))
                if title[at] not in _NO_LINE_START and title[at - 1] not in _NO_LINE_END
                and not (title[at - 1].isascii() and title[at].isascii())}
    for places in (good, {**anywhere, **good}):
        best: tuple[float, list[str]] | None = None
        positions = sorted(places)
        for count in range(1, 4):
            for cut in combinations(positions, count):
                lines = [title[a:b] for a, b in zip((0, *cut), (*cut, len(title)),
                                                    strict=True)]
                widths = [_text_width(line) for line in lines]
                if max(widths) > per_line:
                    continue
                cost = sum(places[at] for at in cut) * 2 + _shape_penalty(widths)
                if best is None or cost < best[0]:
                    best = (cost, lines)
            if best is not None:
                return best[1]
    return [title]


def _html(template: str, letterhead: Letterhead, faces: FontFaces | None,
          **values: Any) -> str:
    # Markup: the QR code is segno's PNG and the font lists are the quoted family names
    # of the settings (CSS, not HTML); neither holds user input.
    faces = faces or letterhead.faces
    printed_on = letterhead.printed_on or letterhead.issued_on
    return _env.get_template(template).render(
        lh=letterhead, issued_on=cn_date(letterhead.issued_on),
        printed_on=cn_date(printed_on), title_lines=title_lines(letterhead.title),
        g=geometry(letterhead.seal, letterhead.authority),
        seal=letterhead.seal.data_uri() if letterhead.seal else "",
        qr=Markup(qr_image(letterhead.verify_url)), fonts=faces.css(),  # noqa: S704
        **values)


def notice_html(ctx: NoticeContext, faces: FontFaces | None = None) -> str:
    return _html("documents/notice.html", ctx.letterhead, faces, ctx=ctx, cn_date=cn_date)


def approval_file_html(ctx: ApprovalFileContext, faces: FontFaces | None = None) -> str:
    total = sum((p.amount for p in ctx.projects), Decimal(0))
    return _html("documents/approval_file.html", ctx.letterhead, faces, ctx=ctx, total=total,
                 cn_date=cn_date,
                 attachment_lines=title_lines(f"{ctx.year}年度{ctx.scheme_label}立项项目清单",
                                              per_line=TYPE_HEIGHT / (SIZE_2 * PT)))


def task_book_html(ctx: TaskBookContext, faces: FontFaces | None = None) -> str:
    total = sum((m.amount for m in ctx.milestones), Decimal(0))
    return _html("documents/task_book.html", ctx.letterhead, faces, ctx=ctx,
                 milestone_total=total, cn_date=cn_date)


def payment_notice_html(ctx: PaymentNoticeContext, faces: FontFaces | None = None) -> str:
    return _html("documents/payment_notice.html", ctx.letterhead, faces, ctx=ctx,
                 cn_date=cn_date)


def recovery_notice_html(ctx: RecoveryNoticeContext, faces: FontFaces | None = None) -> str:
    return _html("documents/recovery_notice.html", ctx.letterhead, faces, ctx=ctx,
                 cn_date=cn_date)


def render_recovery_notice(ctx: RecoveryNoticeContext) -> RenderedPdf:
    return html_to_pdf(recovery_notice_html(ctx), ctx.letterhead.faces)


def render_payment_notice(ctx: PaymentNoticeContext) -> RenderedPdf:
    return html_to_pdf(payment_notice_html(ctx), ctx.letterhead.faces)


def render_notice(ctx: NoticeContext) -> RenderedPdf:
    return html_to_pdf(notice_html(ctx), ctx.letterhead.faces)


def render_approval_file(ctx: ApprovalFileContext) -> RenderedPdf:
    return html_to_pdf(approval_file_html(ctx), ctx.letterhead.faces)


def render_task_book(ctx: TaskBookContext) -> RenderedPdf:
    return html_to_pdf(task_book_html(ctx), ctx.letterhead.faces)


def render_official(template: str, letterhead: Letterhead, **values: Any) -> RenderedPdf:
    """A 公文 of a feature's own template (one that extends ``documents/official.html``),
    laid out and rendered as those above (``workflow/changes`` issues its 变更批复 so)."""
    html = _html(template, letterhead, None, cn_date=cn_date, **values)
    return html_to_pdf(html, letterhead.faces)
