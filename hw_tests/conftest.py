"""Loihi 2 hardware tests run only with ``RUN_LOIHI_TESTS=1`` and Intel's lava-loihi.

That is Lava's own convention (its tests skip unless the environment variable is
exactly ``"1"``, ``Utils.get_bool_env_setting("RUN_LOIHI_TESTS")``); the chip is
reached through lava-loihi, which only INRC members have. Otherwise every test here
is collected and skipped with the reason, so a plain ``pytest hw_tests`` says what is
missing instead of failing. Set ``SPIKEFORGE_HW_REPORT=path.jsonl`` to append every
measurement as a JSON line.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spikeforge.runtimes.loihi2 import lava_loihi_missing

HERE = Path(__file__).parent


def loihi_skip_reason() -> str | None:
    """Why the hardware tests cannot run here, or None when they can."""
    reasons = []
    if os.environ.get("RUN_LOIHI_TESTS") != "1":
        reasons.append("RUN_LOIHI_TESTS is not 1 (Lava's switch for tests that need a chip)")
    missing = lava_loihi_missing()
    if missing is not None:
        reasons.append(f"Intel's lava-loihi is not importable ({missing}; INRC members only)")
    return "; ".join(reasons) or None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = loihi_skip_reason()
    if reason is None:
        return
    marker = pytest.mark.skip(reason=f"Loihi 2 hardware tests skipped: {reason}")
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(marker)
