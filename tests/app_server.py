"""A real Socle server for the tests and benchmarks that need one: ``streamlit run app.py``
on a demo registry, and Debian's Chromium driven by Playwright (never ``playwright install``).

Used by tests/test_server_survives.py, tests/test_faults.py, bench/bench_pages.py and
bench/bench_load.py (tests/test_browser.py keeps its own fixture).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}
# The sidebar's choices are mirrored in the URL; "running" ends when the script run is done.
SCRIPT_DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def make_demo(folder: Path, *, households: int, seed: int = 1,
              union_councils: int | None = None) -> Path:
    """Write the demo registry (and its boundary file) into ``folder``; the registry's path."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "data_access.demo", "--out", str(folder / "registry.db"),
               "--households", str(households), "--seed", str(seed)]
    if union_councils is not None:
        command += ["--union-councils", str(union_councils)]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return folder / "registry.db"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health(url: str, timeout: float = 5) -> str | None:
    """What ``/_stcore/health`` answers (``ok`` when the server is up), None if nothing."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=timeout) as response:
            return response.read().decode().strip()
    except OSError:
        return None


class AppServer:
    """``streamlit run app.py`` on its own port, with the SOCLE_* settings given."""

    def __init__(self, settings: Mapping[str, str], log_path: Path) -> None:
        self.settings = dict(settings)
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 90) -> AppServer:
        port = free_port()
        env = {name: value for name, value in os.environ.items()
               if not name.startswith("SOCLE_")}
        env.update(self.settings)
        env["PYTHONFAULTHANDLER"] = "1"  # a crash leaves the threads' stacks in the log
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {self.process.returncode}: "
                                   f"{self.log()[-2000:]}")
            if health(self.url, timeout=2) == "ok":
                return self
            time.sleep(0.3)
        raise RuntimeError(f"streamlit did not answer at {self.url} within {timeout} s")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") \
            if self.log_path.exists() else ""

    def rss_bytes(self) -> int:
        """Resident memory of the server process now (Linux /proc)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def kill(self) -> None:
        """kill -9: no clean-up of any kind in the server."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def demo_settings(folder: Path, registry_url: str | None = None) -> dict[str, str]:
    """The SOCLE_* variables of a server on the demo in ``folder`` (its own app store)."""
    return {
        "SOCLE_DATABASE_URL": registry_url or f"sqlite:///{folder / 'registry.db'}",
        "SOCLE_APP_STORE_URL": f"sqlite:///{folder / 'app_store.db'}",
        "SOCLE_GEOGRAPHY_BOUNDARY_FILE": str(folder / "registry.geojson"),
    }


def launch_chromium(playwright):
    """Debian's Chromium, headless (Playwright keeps a fresh temporary profile)."""
    if not CHROMIUM.exists():
        raise RuntimeError("Debian's chromium is not installed at /usr/bin/chromium: "
                           ".ci/run installs it (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                      args=CHROMIUM_ARGS)


def wait_drawn(page, selector: str, timeout_ms: float = 120_000) -> None:
    """Until the script run is over and ``selector`` is on the page."""
    page.wait_for_selector(SCRIPT_DONE, timeout=timeout_ms)
    page.wait_for_selector(selector, timeout=timeout_ms)
