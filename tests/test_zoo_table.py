"""``scripts/zoo_table.py`` writes docs/zoo.md after half an hour of evaluation: a
rendering bug must surface here in seconds, not at the end of that run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "zoo_table.py"


def _zoo_table():
    spec = importlib.util.spec_from_file_location("zoo_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_zoo_table_writes_a_page_with_summary_and_stage_table(tmp_path):
    out = tmp_path / "zoo.md"
    args = ["digits_csnn", "-n", "2", "--stages", "norse", "reference", "-o", str(out)]
    assert _zoo_table().main(args) == 0
    page = out.read_text(encoding="utf-8")
    assert "| digits_csnn | accuracy |" in page
    assert "## digits_csnn" in page
    assert "| reference (NIR -> IR, float64) |" in page
    assert not list(tmp_path.glob("*.tmp*")), "nothing half-written left behind"
