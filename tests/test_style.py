"""The code stays ruff clean, and pages stay free of SQL."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_pages_hold_no_sql_and_indicators_no_streamlit() -> None:
    for page in (ROOT / "pages").glob("*.py"):
        text = page.read_text()
        assert not re.search(r"\bsqlalchemy\b|\bSELECT\b|\bsa\.", text), page.name
    for module in (ROOT / "indicators").glob("*.py"):
        assert "streamlit" not in module.read_text(), module.name
