"""Official documents (立项通知书, 立项文件, 任务书) as PDF, laid out after GB/T 9704-2012.

Pure: the caller passes plain data (dataclasses below) and gets bytes back. No database, no
Flask application: the templates are loaded by a module-level Jinja environment, so a bare
worker or benchmark process can render.

Fonts. The stack is chosen for speed, size and coverage, measured on WeasyPrint 70 with
HarfBuzz subsetting (bench/pdf.py):

- Primary "AR PL UMing CN" (Debian fonts-arphic-uming): a Ming (= 宋体) face, which is what
  GB/T 9704 asks for in the title and the body, and TrueType (glyf outlines), which
  HarfBuzz subsets in milliseconds to a few KB. It covers rare name characters such as
  堃, 喆 and 䶮 (U+4DAE, CJK Extension A), which WenQuanYi Micro Hei lacks.
- Fallback "Noto Serif CJK SC" (fonts-noto-cjk) for anything the primary lacks. Pango falls
  back per glyph, so the big CFF collection (26 MB) is only opened and subset when a
  character actually needs it; set as the primary it makes a notice about 2× slower and
  ~8× larger (CFF subsets keep the CID structure).
- Headings that GB/T 9704 sets in 黑体 (附件 label, table heads, 一级标题) use
  "WenQuanYi Micro Hei" (TrueType, fast) and then fall back to the song stack.
- Nothing is bold or italic: Pango would synthesise a second font object per face, embedded
  and subset separately, for a look the standard does not ask for (小标宋 is a design, not
  bold).
The naive way, Noto CJK alone with fontTools subsetting (no libharfbuzz-subset), takes
several seconds per page: fontTools parses and rewrites the whole CFF table.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import segno
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from weasyprint.urls import FatalURLFetchingError, URLFetcher

from forms import format_wan

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
    "Noto Serif CJK SC": ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 0),
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
def _coverage(family: str) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    where = font_file(family)
    if where is None:
        return frozenset()
    path, index = where
    with TTFont(str(path), fontNumber=index, lazy=True) as font:
        return frozenset(font.getBestCmap())


def missing_glyphs(text: str) -> list[str]:
    """Characters of ``text`` (whitespace aside) that no document font has, in order."""
    families = dict.fromkeys((*FONT_STACK, *HEI_STACK))
    covered = frozenset().union(*(_coverage(f) for f in families))
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
class NoticeContext:
    letterhead: Letterhead
    project: ProjectLine
    call_title: str
    scheme_label: str
    challenge_title: str | None
    approval_file_number: str | None


@dataclass(frozen=True)
class ApprovalFileContext:
    letterhead: Letterhead
    call_title: str
    scheme_label: str
    year: int
    projects: list[ProjectLine]


@dataclass(frozen=True)
class Milestone:
    title: str
    due: date
    amount: Decimal       # yuan
    criteria: str


@dataclass(frozen=True)
class Signature:
    party: str
    signer: str
    signed_at: str        # formatted local time, "" if not signed


@dataclass(frozen=True)
class TaskBookContext:
    letterhead: Letterhead
    project: ProjectLine
    call_title: str
    scheme_label: str
    challenge_title: str | None
    demand_org: str | None
    indicators: list[str]
    milestones: list[Milestone]
    signatures: list[Signature]


@dataclass(frozen=True)
class RenderedPdf:
    data: bytes
    pages: int


# --- rendering ---------------------------------------------------------------------------

class _RefusingFetcher(URLFetcher):  # type: ignore[misc]  # weasyprint ships no types
    """WeasyPrint may load nothing from outside: documents are self-contained.

    WeasyPrint 70 wants a URLFetcher (it reads ``_fail_on_errors`` off the fetcher when a
    fetch fails; a bare function then ends in AttributeError). With fail_on_errors the
    refusal stops the render instead of leaving a hole where the resource was.
    """

    def fetch(self, url: str, headers: Any = None) -> Any:
        raise ValueError(f"external resource refused: {url[:80]}")


refuse_fetch = _RefusingFetcher(fail_on_errors=True)


def cn_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def qr_svg(url: str) -> str:
    """``url`` as a QR code, inline <svg> markup with its quiet zone, sized by CSS."""
    return str(segno.make(url, error="m").svg_inline(border=4, omitsize=True,
                                                     svgclass="qr", lineclass=None))


def html_to_pdf(html: str) -> RenderedPdf:
    import weasyprint

    try:
        document = weasyprint.HTML(string=html, url_fetcher=refuse_fetch).render()
    except FatalURLFetchingError as refused:  # a BaseException: make it an ordinary error
        raise ValueError(str(refused.__cause__ or refused)) from refused.__cause__
    return RenderedPdf(data=document.write_pdf(), pages=len(document.pages))


def _html(template: str, letterhead: Letterhead, faces: FontFaces, **values: Any) -> str:
    # Markup: the QR code is segno's own SVG and the font lists are the quoted family
    # names above (CSS, not HTML); neither holds user input.
    fonts = {"song": Markup(faces.song), "hei": Markup(faces.hei)}  # noqa: S704
    return _env.get_template(template).render(
        lh=letterhead, issued_on=cn_date(letterhead.issued_on),
        qr=Markup(qr_svg(letterhead.verify_url)), fonts=fonts, **values)  # noqa: S704


def notice_html(ctx: NoticeContext, faces: FontFaces = DOCUMENT_FACES) -> str:
    return _html("documents/notice.html", ctx.letterhead, faces, ctx=ctx)


def approval_file_html(ctx: ApprovalFileContext, faces: FontFaces = DOCUMENT_FACES) -> str:
    total = sum((p.amount for p in ctx.projects), Decimal(0))
    return _html("documents/approval_file.html", ctx.letterhead, faces, ctx=ctx, total=total)


def task_book_html(ctx: TaskBookContext, faces: FontFaces = DOCUMENT_FACES) -> str:
    total = sum((m.amount for m in ctx.milestones), Decimal(0))
    return _html("documents/task_book.html", ctx.letterhead, faces, ctx=ctx,
                 milestone_total=total, cn_date=cn_date)


def render_notice(ctx: NoticeContext) -> RenderedPdf:
    return html_to_pdf(notice_html(ctx))


def render_approval_file(ctx: ApprovalFileContext) -> RenderedPdf:
    return html_to_pdf(approval_file_html(ctx))


def render_task_book(ctx: TaskBookContext) -> RenderedPdf:
    return html_to_pdf(task_book_html(ctx))
