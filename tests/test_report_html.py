"""``report.html`` is one self-contained page a browser renders with the key numbers.

Rendered for real in headless Chromium: ``--dump-dom`` gives the page's DOM, which
must hold the task metric of every stage and the deployed energy exactly as
``profile.json`` has them; ``--screenshot`` must not be blank. The set-up
(``.ci/run``) installs Chromium; where no browser can be installed the browser
checks skip, saying so, and the self-containment checks still run.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import spikeforge
from spikeforge.models.examples import lif_mlp
from spikeforge.profile.render import number, si
from spikeforge.profile.report import FIGURES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
#: Flags for a root container without a display or a GPU.
HEADLESS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage")


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    x = (rng.random((10, 25, 20)) < 0.3).astype(np.float32)
    y = rng.integers(0, 5, 10)
    net = spikeforge.deploy(lif_mlp(), x, time_axis=1)
    directory = tmp_path_factory.mktemp("html")
    net.profile(x, labels=y, time_axis=1).write(directory)
    return directory


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(
        "no Chromium on this machine (.ci/run installs it with apt-get install chromium; "
        "it could not be installed here)"
    )


def _key_numbers(directory: Path) -> list[str]:
    """What the page must show, formatted as the report formats it, from profile.json."""
    data = json.loads((directory / "profile.json").read_text())
    keys = [number(s["metrics"]["accuracy"]) for s in data["stages"]]
    deployed = next(s for s in data["stages"] if s["stage"] == data["deployed"])
    energy = deployed["energy_per_inference"]
    keys.append(si(energy["value"], energy["unit"]))
    return keys


def test_the_page_is_self_contained(report_dir: Path) -> None:
    page = (report_dir / "report.html").read_text()
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == len(FIGURES)
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)
    assert 'href="' not in page  # nothing to fetch: no stylesheet, no links to files
    assert "<script" not in page


def test_chromium_renders_the_key_numbers(report_dir: Path) -> None:
    browser = _browser()
    url = (report_dir / "report.html").as_uri()
    dom = subprocess.run(
        [browser, *HEADLESS, "--dump-dom", url], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = re.sub(r"<[^>]+>", " ", dom.stdout)
    text = " ".join(text.replace("&lt;", "<").replace("&gt;", ">").split())
    assert "Task metric: accuracy" in text
    assert "hw latency/inf" in text and "sim wall s/sample" in text
    for key in _key_numbers(report_dir):
        assert key in text, key
    shot = report_dir / "shot.png"
    result = subprocess.run(
        [browser, *HEADLESS, "--window-size=1280,1600", f"--screenshot={shot}", url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    image = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("L"), dtype=float)
    assert image.shape == (1600, 1280)
    # Not blank: text and figures make a real share of the page non-white, in many tones.
    assert (image < 200).mean() > 0.02
    assert len(np.unique(image)) > 50


def test_figures_are_readable() -> None:
    """Defect 8: the core map has one labelled row per used core (not slivers in a
    32-tile grid), the latency legend sits outside the bars, and an output plot
    compares every stage with the source."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from spikeforge.profile.report import _core_figure, _latency_figure, _output_figure

    rng = np.random.default_rng(1)
    x = (rng.random((4, 20, 20)) < 0.3).astype(np.float32)
    profile = spikeforge.deploy(lif_mlp(), x, time_axis=1).profile(x, time_axis=1).profile
    cores = profile.deployed.placement.cores
    (ax, *_) = _core_figure(profile).axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == len(cores)
    for core, label in zip(cores, labels, strict=True):
        assert label.startswith(f"core {core.index} ")
    fig = _latency_figure(profile)
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    (ax,) = fig.axes
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    assert legend.x0 >= ax.get_window_extent(renderer).x1  # beside the plot, not on it
    outputs = _output_figure(profile)
    titles = [a.get_title() for a in outputs.axes]
    assert [t.split("\n")[0] for t in titles] == [r.stage for r in profile.rows[1:]]
