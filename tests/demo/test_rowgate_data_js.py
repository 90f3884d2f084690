"""The browser helper ``rowgate-data.js``, exercised under Node.

``rowgate_data_check.js`` loads the shipped file with a fake bridge and data API
and checks token reuse, single-flight, refresh before ``exp``, the 401 retry, the
signed-out fallback, PostgREST errors and the unreachable-API message. Skipped
where Node is not installed.
"""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest

CHECKS = Path(__file__).with_name("rowgate_data_check.js")


def test_the_browser_helper_passes_its_checks() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    helper = resources.files("rowgate.demo") / "static" / "rowgate-data.js"

    result = subprocess.run(
        [node, str(CHECKS), str(helper)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok - ") == 11
