"""The set-up scripts: one list of system packages for scripts/test.sh and .ci/run, checked
on this machine, and a missing package named with the command that installs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIST = ROOT / "scripts" / "system-packages.txt"


def packages() -> list[str]:
    return [line.split()[0] for line in LIST.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def test_every_package_the_tests_need_is_installed_here():
    result = subprocess.run(["bash", "scripts/system-packages.sh", "missing"], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    assert result.stdout == ""
    assert {"postgresql", "libreoffice-calc-nogui", "chromium", "libpango-1.0-0"} <= set(packages())


def test_the_test_command_and_ci_install_from_the_one_list():
    for script in ("scripts/test.sh", ".ci/run"):
        text = (ROOT / script).read_text()
        assert "bash scripts/system-packages.sh install" in text, script
        for package in packages():  # no second list of package names
            assert f" {package}" not in text.replace("system-packages", ""), (script, package)


@pytest.fixture
def scripts_copy() -> Iterator[Path]:
    """scripts/system-packages.sh beside a list naming packages that are not installed, in a
    folder every user may read (the script is also run as an unprivileged user)."""
    folder = Path(tempfile.mkdtemp(prefix="socle-scripts-"))
    try:
        (folder / "scripts").mkdir()
        shutil.copy(ROOT / "scripts" / "system-packages.sh", folder / "scripts")
        (folder / "scripts" / "system-packages.txt").write_text(
            "# a list\n"
            "chromium                file:/usr/bin/chromium\n"
            "socle-absent-tool       cmd:socle-no-such-command|file:/nowhere/*/socle\n"
            "socle-absent-library    lib:libsocle-nothing.so.9\n")
        for path in (folder, folder / "scripts", *(folder / "scripts").iterdir()):
            path.chmod(0o755)
        yield folder
    finally:
        shutil.rmtree(folder)


def test_missing_packages_are_listed(scripts_copy: Path):
    result = subprocess.run(["bash", "scripts/system-packages.sh", "missing"], cwd=scripts_copy,
                            capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["socle-absent-tool", "socle-absent-library"]


def test_without_root_it_stops_with_the_command_to_run(scripts_copy: Path):
    command = ["bash", str(scripts_copy / "scripts" / "system-packages.sh"), "install"]
    if os.geteuid() == 0:  # as root it would install: run it as an unprivileged user
        command = ["runuser", "-u", "nobody", "--", *command]
    result = subprocess.run(command, cwd=scripts_copy, capture_output=True, text=True)
    assert result.returncode == 1
    assert ("sudo apt-get install -y --no-install-recommends socle-absent-tool "
            "socle-absent-library") in result.stderr
