"""hw_tests/ (Loihi 2 hardware tests) must collect here and skip cleanly, saying why.

Run in subprocesses exactly as a user or CI would run them (``pytest hw_tests``):
every test is collected (one per spine network and shipped zoo checkpoint), none
runs, none errors, and the reason names what is missing — ``RUN_LOIHI_TESTS=1``
(Lava's switch) and/or Intel's lava-loihi.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from spikeforge.models.examples import EXAMPLES
from spikeforge.runtimes.loihi2 import lava_loihi_missing

ROOT = Path(__file__).parents[1]

pytestmark = pytest.mark.skipif(
    lava_loihi_missing() is None, reason="lava-loihi is installed: hw_tests/ run for real"
)


def _pytest(*args: str, run_loihi_tests: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RUN_LOIHI_TESTS"}
    if run_loihi_tests is not None:
        env["RUN_LOIHI_TESTS"] = run_loihi_tests
    return subprocess.run(
        [sys.executable, "-m", "pytest", "hw_tests", "-p", "no:cacheprovider", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module", params=[None, "1"], ids=["switch-off", "switch-on"])
def session(request) -> tuple[str | None, subprocess.CompletedProcess, list[str]]:
    """``pytest hw_tests -v -rs`` with RUN_LOIHI_TESTS unset and set to 1."""
    result = _pytest("-v", "-rs", run_loihi_tests=request.param)
    assert result.returncode == 0, result.stdout + result.stderr
    tests = [line.split()[0] for line in result.stdout.splitlines() if "::" in line]
    return request.param, result, tests


def test_every_spine_network_has_hardware_tests(session):
    _, _, tests = session
    for name in EXAMPLES:
        cases = [t for t in tests if f"example/{name}]" in t]
        assert len(cases) == 3, f"{name}: {cases}"  # chip vs CPU, vs emulator, measured
    assert any("test_adapter_latencies_are_as_stated" in t for t in tests)


def test_everything_skips_with_the_reason(session):
    switch, result, tests = session
    lines = [line for line in result.stdout.splitlines() if "::" in line]
    assert lines and all(" SKIPPED " in line for line in lines)
    summary = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(rf"=* {len(tests)} skipped in [\d.]+s( \(.*\))? =*", summary), summary
    assert "Intel's lava-loihi is not importable" in result.stdout
    assert "INRC members only" in result.stdout
    assert ("RUN_LOIHI_TESTS is not 1" in result.stdout) == (switch is None)
