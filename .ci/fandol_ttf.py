"""Convert the Fandol fonts (CFF outlines, .otf) to TrueType (.ttf): run once by
.ci/sysdeps.sh when it installs them.

Why: WeasyPrint embeds a document's glyphs in a subset without subroutines, where a
Fandol glyph takes about 440 bytes (FandolFang) to 750 (FandolSong Bold) as CFF once
compressed, and about 320 to 340 as TrueType quadratic outlines: the issued 立项通知书 of
bench/pdf.py shrinks from 110 KB to 80 KB, with no change to how it looks (the cubic
curves are approximated by quadratics to within 1 unit of the 1000-unit em: 0.006 mm at
3号) nor in speed (HarfBuzz subsets both in milliseconds).

The conversion is fontTools' Snippets/otf2ttf.py: glyf/loca from the CFF outlines through
cu2qu (max error 1 unit, contours reversed to TrueType's direction), the advance widths,
cmap, head/hhea/OS/2 kept, maxp 1.0, post format 2 (glyph names) or 3 when they do not
fit, no hinting instructions (the documents are printed and read as PDF). The CFF-only
VORG table goes, and so do the vertical metrics (vhea, vmtx): the documents set no
vertical text, and HarfBuzz would keep them in every subset (600 bytes of a notice).
The family is renamed "<family> TT" (PostScript name "<family>TT-<style>"), so that
fontconfig never confuses it with the .otf it came from, which stays installed: the
default faces (workflow/config.py KJFLOW_FONT_*) name the TrueType families.

    python .ci/fandol_ttf.py SOURCE.otf TARGET.ttf
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont, newTable

MAX_ERR = 1.0          # font units (1000 to the em)
SUFFIX = " TT"         # "FandolFang" -> "FandolFang TT"


def to_quadratic(font: TTFont) -> dict[str, object]:
    glyph_set = font.getGlyphSet()
    glyphs = {}
    for name in font.getGlyphOrder():
        pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(pen, MAX_ERR, reverse_direction=True))
        glyphs[name] = pen.glyph()
    return glyphs


def rename(font: TTFont) -> None:
    """Every family and full name "<family> TT", every PostScript name "<family>TT-…"."""
    family = font["name"].getDebugName(16) or font["name"].getDebugName(1)
    family = family.split(" ")[0]                 # "FandolFang R" -> "FandolFang"
    for record in font["name"].names:
        text = record.toUnicode()
        if record.nameID in (1, 4, 16):
            record.string = text.replace(family, family + SUFFIX, 1)
        elif record.nameID in (3, 6):
            record.string = text.replace(family, family + SUFFIX.strip(), 1)


def convert(source: Path, target: Path) -> None:
    font = TTFont(str(source))
    if font.sfntVersion != "OTTO" or "CFF " not in font:
        raise SystemExit(f"{source}: not a CFF OpenType font")
    order = font.getGlyphOrder()
    font["loca"] = newTable("loca")
    font["glyf"] = glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = to_quadratic(font)
    # CFF-only, and the vertical metrics: documents set text horizontally only, and
    # vmtx is 600 bytes of every document's body font subset.
    for tag in ("CFF ", "VORG", "vhea", "vmtx"):
        if tag in font:
            del font[tag]
    glyf.compile(font)
    hmtx = font["hmtx"]
    for name, glyph in glyf.glyphs.items():
        if hasattr(glyph, "xMin"):
            hmtx[name] = (hmtx[name][0], glyph.xMin)
    maxp = font["maxp"] = newTable("maxp")
    maxp.tableVersion = 0x00010000
    maxp.maxZones = 1
    maxp.maxTwilightPoints = maxp.maxStorage = maxp.maxFunctionDefs = 0
    maxp.maxInstructionDefs = maxp.maxStackElements = maxp.maxSizeOfInstructions = 0
    maxp.maxComponentElements = max(
        len(getattr(glyph, "components", None) or ()) for glyph in glyf.glyphs.values())
    maxp.compile(font)
    post = font["post"]
    post.formatType, post.extraNames, post.mapping, post.glyphOrder = 2.0, [], {}, order
    try:
        post.compile(font)
    except OverflowError:
        post.formatType = 3.0
    rename(font)
    font.sfntVersion = "\0\1\0\0"
    tmp = target.with_name(target.name + ".part")
    font.save(str(tmp))
    tmp.replace(target)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    convert(Path(sys.argv[1]), Path(sys.argv[2]))
