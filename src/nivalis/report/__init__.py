"""Reports people open: one self-contained HTML page (figures embedded) and the same as Markdown."""

from nivalis.report.build import Figure, Report, Section, Table, Text, save_figure

__all__ = ["Figure", "Report", "Section", "Table", "Text", "save_figure"]
