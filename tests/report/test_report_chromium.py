"""The report renders offline in a real browser: headless Chromium decodes every figure.

The report itself carries no JavaScript. A *test copy* gets a tiny inline script that,
once the page has loaded, writes each image's decoded ``naturalWidth`` into the DOM;
``--dump-dom`` then shows what the browser actually decoded.
"""

import re
import shutil
import subprocess
import tempfile

import numpy as np
import pandas as pd
import pytest

from skdni.report import (
    figure_to_png_bytes,
    plot_ablation_curves,
    plot_score_heatmap,
    plot_unit_over_text,
    plot_unit_scores,
    write_html_report,
)

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian: apt-get install chromium); "
    "the offline rendering of the HTML report is not checked",
)

_PROBE = """<script>
window.addEventListener("load", () => {
  for (const img of document.images) {
    img.setAttribute("data-natural-width", String(img.naturalWidth));
  }
  document.body.setAttribute("data-probe", "done");
});
</script>"""
# A broken image proves that the probe tells decoded figures from undecodable ones.
_BROKEN = '<img id="control-broken" alt="broken" src="data:image/png;base64,iVBORw0K">'


def _dump_dom(html_path):
    with tempfile.TemporaryDirectory(prefix="skdni-chromium-") as profile:
        result = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=5000",
                "--dump-dom",
                html_path.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _png_width(png):
    return int.from_bytes(png[16:20], "big")  # IHDR width, big-endian


def test_report_figures_decode_in_headless_chromium(tmp_path):
    rng = np.random.default_rng(0)
    scores = pd.DataFrame(
        rng.uniform(0.4, 0.95, (3, 12)),
        index=["range:paren", "range:add", "depth:paren"],
        columns=[f"h{i}" for i in range(12)],
    )
    ablation = pd.DataFrame(
        {
            "k": [1, 5, 10],
            "baseline": 0.9,
            "top": [0.85, 0.7, 0.5],
            "random_mean": [0.9, 0.88, 0.86],
            "random_low": [0.88, 0.85, 0.8],
            "random_high": [0.9, 0.9, 0.9],
        }
    )
    text = "(1+(2*3))\n4 / (5-6)"
    figures = {
        "sorted unit scores": plot_unit_scores(scores, chance={"range:add": 0.6}),
        "ablation": plot_ablation_curves(ablation),
        "unit h3 over text": plot_unit_over_text(
            text, np.tanh(rng.normal(size=len(text))), labels=np.ones(len(text))
        ),
        "heatmap": plot_score_heatmap(scores),
    }
    report = write_html_report(
        tmp_path / "report.html",
        title="chromium check",
        parameters={"seed": 0},
        tables={"scores": scores},
        figures=figures,
        samples={"clamped": ["1+2<3"]},
    )
    widths = {
        f"figure-{slug}": _png_width(figure_to_png_bytes(fig))
        for slug, fig in zip(
            ["sorted-unit-scores", "ablation", "unit-h3-over-text", "heatmap"],
            figures.values(),
            strict=True,
        )
    }
    probe = tmp_path / "probe.html"
    probe.write_text(
        report.read_text(encoding="utf-8").replace(
            "</body>", f"{_BROKEN}\n{_PROBE}\n</body>"
        ),
        encoding="utf-8",
    )

    dom = _dump_dom(probe)

    assert 'data-probe="done"' in dom, "the page never finished loading"
    decoded = {}
    for tag in re.findall(r"<img\b[^>]*>", dom):
        id_ = re.search(r'\bid="([^"]+)"', tag).group(1)
        decoded[id_] = int(re.search(r'data-natural-width="(\d+)"', tag).group(1))
    assert decoded.pop("control-broken") == 0
    assert decoded == widths  # every figure present, decoded at its PNG's width
    assert "1+2&lt;3" in dom  # the escaped sample renders as text
