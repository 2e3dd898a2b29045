"""Build `report.html` (self-contained, PNGs embedded as base64) and `report.md` from sections.

A section is a title plus blocks: `Text` (a paragraph; `inline code` allowed), `Table` (columns and
rows of plain values, numbers formatted here) and `Figure` (a PNG file written with `save_figure`).
"""

from __future__ import annotations

import base64
import html
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from string import Template

from nivalis.files import atomic_write_text

_TEMPLATE = Path(__file__).with_name("templates") / "report.html"


@dataclass
class Text:
    text: str


@dataclass
class Table:
    columns: list[str]
    rows: list[list]
    caption: str = ""


@dataclass
class Figure:
    path: Path
    caption: str = ""


@dataclass
class Section:
    title: str
    blocks: list[Text | Table | Figure] = field(default_factory=list)

    def text(self, text: str) -> Section:
        self.blocks.append(Text(text))
        return self

    def table(self, columns: list[str], rows: list[list], caption: str = "") -> Section:
        self.blocks.append(Table(columns, rows, caption))
        return self

    def figure(self, path: str | Path, caption: str = "") -> Section:
        self.blocks.append(Figure(Path(path), caption))
        return self



def _fmt(value) -> str:
    if value is None:  # not measured / not applicable (e.g. a spread over a single run)
        return "–"
    if isinstance(value, float):
        if value != value:
            return "–"
        if value == 0:
            return "0"
        if abs(value) >= 1e5:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        if abs(value) >= 1e-3:
            return f"{value:.4g}"
        return f"{value:.2e}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _inline_html(text: str) -> str:
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)


class Report:
    def __init__(self, title: str, out_dir: str | Path):
        self.title = title
        self.out_dir = Path(out_dir)
        self.sections: list[Section] = []

    @property
    def figure_dir(self) -> Path:
        return self.out_dir / "figures"

    def add(self, section: Section) -> None:
        self.sections.append(section)

    def _markdown(self, stamp: str) -> str:
        lines = [f"# {self.title}", "", f"_Generated {stamp}_", ""]
        for sec in self.sections:
            lines += [f"## {sec.title}", ""]
            for b in sec.blocks:
                if isinstance(b, Text):
                    lines += [b.text, ""]
                elif isinstance(b, Table):
                    if b.caption:
                        lines += [f"**{b.caption}**", ""]
                    lines.append("| " + " | ".join(b.columns) + " |")
                    lines.append("|" + "---|" * len(b.columns))
                    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in b.rows]
                    lines.append("")
                elif isinstance(b, Figure):
                    rel = os.path.relpath(b.path, self.out_dir)
                    lines += [f"![{b.caption}]({rel})", "", f"_{b.caption}_" if b.caption else "", ""]
        return "\n".join(lines)

    def _html(self, stamp: str) -> str:
        parts, toc = [], []
        for i, sec in enumerate(self.sections):
            anchor = f"s{i}"
            toc.append(f'<li><a href="#{anchor}">{html.escape(sec.title)}</a></li>')
            parts.append(f'<section id="{anchor}"><h2>{html.escape(sec.title)}</h2>')
            for b in sec.blocks:
                if isinstance(b, Text):
                    parts.append(f"<p>{_inline_html(b.text)}</p>")
                elif isinstance(b, Table):
                    head = "".join(f"<th>{html.escape(c)}</th>" for c in b.columns)
                    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
                                   for row in b.rows)
                    cap = f"<caption>{_inline_html(b.caption)}</caption>" if b.caption else ""
                    parts.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
                elif isinstance(b, Figure):
                    data = base64.b64encode(Path(b.path).read_bytes()).decode("ascii")
                    parts.append(f'<figure><img alt="{html.escape(b.caption)}" src="data:image/png;base64,{data}">'
                                 f"<figcaption>{_inline_html(b.caption)}</figcaption></figure>")
            parts.append("</section>")
        return Template(_TEMPLATE.read_text()).substitute(
            title=html.escape(self.title), stamp=html.escape(stamp), toc="\n".join(toc), body="\n".join(parts))

    def write(self) -> dict[str, Path]:
        """Write report.html and report.md atomically; return their paths."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        paths = {}
        for name, text in (("report.html", self._html(stamp)), ("report.md", self._markdown(stamp))):
            paths[name] = atomic_write_text(self.out_dir / name, text)
        return paths
