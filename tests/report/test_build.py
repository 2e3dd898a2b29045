"""Reports: self-contained HTML with embedded PNGs, and Markdown that links the same figures."""

import base64

import matplotlib.pyplot as plt

from nivalis.report import Report, Section, save_figure


def test_report_html_and_markdown(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    png = save_figure(fig, tmp_path / "figures" / "line.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = Report("Test report", tmp_path)
    report.add(Section("First").text("Trained `lenet5` <fast>").table(["model", "acc", "params"],
                                                                         [["a", 0.98765, 61706]], caption="cap")
               .figure(png, "a line"))
    paths = report.write()
    html = paths["report.html"].read_text()
    assert "<code>lenet5</code> &lt;fast&gt;" in html
    assert base64.b64encode(png.read_bytes()).decode()[:200] in html
    assert "61,706" in html and "0.9877" in html
    md = paths["report.md"].read_text()
    assert "![a line](figures/line.png)" in md and "| a | 0.9877 | 61,706 |" in md
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figures", "report.html", "report.md"]
