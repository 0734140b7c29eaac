"""A command started where Spark cannot start Java, for the tests that it says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def assert_spark_failure_named(module: str, args: list[str], tmp_path: Path) -> None:
    """``python -m <module> <args>`` with JAVA_HOME pointing nowhere exits 2 with one line
    naming Spark's problem and the JAVA_HOME it tried, and no traceback."""
    java_home = tmp_path / "no-java"
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "JAVA_HOME": str(java_home)})
    assert done.returncode == 2, done.stderr[-2000:]
    # Java's launcher says what it could not find first; then the command, in one line.
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith(f"python -m {module}: error: Spark: "), done.stderr[-2000:]
    assert f"JAVA_HOME: {java_home}" in message
    assert "Traceback" not in done.stderr
