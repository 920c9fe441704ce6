"""Pictures of the official documents, one page or two of each kind, as a bureau prints
them, into docs/documents/ as KIND-PAGE.png: sample data, no database, no server.

    .venv/bin/python docs/render_documents.py

The documents are rendered by workflow.documents.pdf with the default faces (Fandol,
.ci/sysdeps.sh) and a sample seal drawn here (a bureau configures its own image,
KJFLOW_SEAL_IMAGE; none is shipped), then turned into PNGs by pdftoppm (poppler-utils) at
100 dpi and reduced to 256 colours (Pillow) to keep the repository small.
"""

from __future__ import annotations

import io
import math
import subprocess
import sys
import tempfile
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from workflow.documents import pdf  # noqa: E402

OUT = Path(__file__).resolve().parent / "documents"
RED = (214, 0, 0, 255)


def sample_seal(name: str = "赣州市科学技术局", size: int = 600) -> bytes:
    """A seal as a bureau's scan would look: red ring, the name along the top, a star,
    on transparency. A picture for the documentation only (marked 样章)."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((12, 12, size - 12, size - 12), outline=RED, width=size // 30)
    star = [(size / 2 + r * math.sin(math.radians(36 * k)),
             size / 2 - r * math.cos(math.radians(36 * k)))
            for k in range(10) for r in [size / 7 if k % 2 == 0 else size / 17]]
    draw.polygon(star, fill=RED)
    where = pdf.font_file(pdf.TITLE_FACE)
    font = ImageFont.truetype(str(where[0]), size // 8) if where else ImageFont.load_default()
    # the name along the upper arc, each character upright towards the rim
    radius, span = size / 2 - size / 5.6, 210.0
    step = span / max(len(name) - 1, 1)
    box = size // 6
    for i, ch in enumerate(name):
        angle = -90 - span / 2 + i * step
        x = size / 2 + radius * math.cos(math.radians(angle))
        y = size / 2 + radius * math.sin(math.radians(angle))
        glyph = Image.new("RGBA", (box, box), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((box / 2, box / 2), ch, font=font, fill=RED, anchor="mm")
        glyph = glyph.rotate(-(angle + 90), resample=Image.Resampling.BICUBIC)
        image.alpha_composite(glyph, (int(x - box / 2), int(y - box / 2)))
    draw.text((size / 2, size * 0.75), "样章", font=font, fill=RED, anchor="mm")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def letterhead(title: str) -> pdf.Letterhead:
    return pdf.Letterhead(
        authority="赣州市科学技术局", doc_number="赣市科字〔2026〕15号", title=title,
        issued_on=date(2026, 11, 28), verify_url="https://kjj.ganzhou.gov.cn/verify/K7Q2MX9DF4HTB3NR",
        verify_code="K7Q2-MX9D-F4HT-B3NR", cc=("赣州市财政局", "赣州市审计局"),
        printed_by="赣州市科学技术局办公室", note="此件主动公开",
        seal=pdf.Seal(sample_seal(), 42.0))


PROJECT = pdf.ProjectLine(
    project_number="GZKJ-2026-BG-0001", title="离子型稀土矿绿色高效浸萃一体化关键技术研究",
    organization="赣州䶮堃稀土新材料有限公司", leader="王喆堃", amount=Decimal("1234500.00"))
ORGS = ["江西理工大学", "赣南医科大学", "赣南师范大学", "赣州䶮堃稀土新材料有限公司",
        "中国科学院赣江创新研究院", "赣州市人民医院", "江西金力永磁科技股份有限公司"]
TOPICS = ["离子型稀土矿绿色高效浸萃", "高性能钕铁硼永磁材料晶界扩散", "脐橙黄龙病早期快速检测",
          "稀土永磁电机驱动控制系统", "赣南客家传统村落数字化保护", "钨钼合金增材制造工艺"]
LEADERS = ["王喆堃", "李䶮", "张三", "刘晓燕", "陈志强", "黄堃", "周喆"]


def documents() -> dict[str, tuple[pdf.RenderedPdf, list[int]]]:
    notice = pdf.render_notice(pdf.NoticeContext(
        letterhead=letterhead(f"关于“{PROJECT.title}”项目立项的通知"), project=PROJECT,
        call_title="2026年度赣州市科技计划", scheme_label="包干制", challenge_title=None,
        approval_file_number="赣市科字〔2026〕14号", notice_days=(date(2026, 11, 16),
                                                               date(2026, 11, 20))))
    projects = [pdf.ProjectLine(
        project_number=f"GZKJ-2026-BG-{i:04d}",
        title=f"{TOPICS[i % len(TOPICS)]}关键技术研究与示范", organization=ORGS[i % len(ORGS)],
        leader=LEADERS[i % len(LEADERS)], amount=Decimal(150_000 + (i * 7919) % 850_000))
        for i in range(1, 41)]
    approval = pdf.render_approval_file(pdf.ApprovalFileContext(
        letterhead=replace(letterhead("关于下达2026年度赣州市科技计划立项项目的通知"),
                           doc_number="赣市科字〔2026〕14号"),
        call_title="2026年度赣州市科技计划项目申报指南", scheme_label="包干制", year=2026,
        projects=projects, notice_days=(date(2026, 11, 16), date(2026, 11, 20))))
    book = pdf.render_task_book(pdf.TaskBookContext(
        letterhead=replace(letterhead(f"“{PROJECT.title}”项目任务书"), seal=None,
                           doc_number="编号：GZKJ-2026-BG-0001"),
        project=PROJECT, call_title="2026年度赣州市科技计划", scheme_label="包干制",
        challenge_title=None, demand_org=None, indicators=["申请发明专利3项", "形成企业标准1项"],
        milestones=[pdf.Milestone("完成方案设计", date(2027, 3, 31), Decimal("500000"), "")],
        signatures=[pdf.Signature("甲方（委托方）：赣州市科学技术局", "张三", "2026-12-01 10:00"),
                    pdf.Signature("乙方（承担方）：赣州䶮堃稀土新材料有限公司", "王喆堃", "")]))
    payment = pdf.render_payment_notice(pdf.PaymentNoticeContext(
        letterhead=replace(letterhead(f"关于拨付“{PROJECT.title}”项目经费的通知"),
                           doc_number="赣市科字〔2026〕31号"),
        project=PROJECT, tranche_label="首期", amount=Decimal("500000.00"),
        amount_capital="伍拾万元整", bank_name="中国银行赣州分行",
        bank_account="6216 6100 0000 1234", payment_ref="ZF-2026-0001",
        released_on=date(2026, 12, 10), disbursed_total=Decimal("500000.00"),
        remaining=Decimal("734500.00")))
    return {"notice": (notice, [1, notice.pages]),
            "approval_file": (approval, [1, 3, approval.pages]),
            "task_book": (book, [1]),
            "payment_notice": (payment, [1, payment.pages])}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        for kind, (rendered, pages) in documents().items():
            source = Path(scratch) / f"{kind}.pdf"
            source.write_bytes(rendered.data)
            for page in dict.fromkeys(pages):
                stem = Path(scratch) / f"{kind}-{page}"
                subprocess.run(["pdftoppm", "-r", "100", "-png", "-f", str(page), "-l",
                                str(page), "-singlefile", str(source), str(stem)], check=True)
                with Image.open(f"{stem}.png") as image:
                    small = image.convert("RGB").quantize(colors=256)
                    small.save(OUT / f"{kind}-{page}.png", optimize=True)
                print(OUT / f"{kind}-{page}.png")


if __name__ == "__main__":
    main()
