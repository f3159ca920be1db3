"""Test-suite settings shared by every test module.

Hypothesis explores new random cases on every developer run (so new failures keep
being found), but CI (``CI=true``) replays a fixed derandomised sequence: a run that
landed once must land again, and a failure it reports is reproducible.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
