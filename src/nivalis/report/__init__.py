"""Reports people open: one self-contained HTML page (figures embedded) and the same as Markdown."""

from nivalis.figures import save_figure
from nivalis.report.build import Figure, Report, Section, Table, Text

__all__ = ["Figure", "Report", "Section", "Table", "Text", "save_figure"]
