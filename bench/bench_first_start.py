"""The first start from a fresh clone, pip excluded: how long `bash scripts/run_demo.sh` takes
until the app answers, until its first page shows figures in a browser, and until the demo's
history (built in the background) is done.

    .venv/bin/python bench/bench_first_start.py [--households 20000] [--workdir /tmp/first]

Clones this repository's HEAD into the work folder and gives the clone a `.venv` that reuses
this interpreter's installed packages (a `.pth` file, and the stamp scripts/setup.sh checks),
so no package is downloaded or installed: what is timed is the demo's generation, the
accounts, the app's start and first page, and the history. Debian's Chromium (Playwright,
``executable_path``) opens the first page. Prints the figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_clone(workdir: Path) -> Path:
    clone = workdir / "socle"
    if clone.exists():
        shutil.rmtree(clone)
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "checkout", "--quiet", subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
        check=True).stdout.strip()], cwd=clone, check=True)
    return clone


def venv_reusing_these_packages(clone: Path) -> None:
    """A .venv whose packages are this interpreter's (no pip run: setup.sh's stamp matches)."""
    venv = clone / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = sysconfig.get_paths()["purelib"]
    target = next((venv / "lib").glob("python*/site-packages"))
    (target / "_reuse.pth").write_text(purelib + "\n")
    stamp = hashlib.sha256((clone / "requirements.txt").read_bytes()).hexdigest()
    (venv / ".requirements.sha").write_text(stamp + "\n")


def wait_for(check, timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic()
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().strip() == b"ok"
    except OSError:
        return False


def first_page(url: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url + "/", wait_until="networkidle")
        page.wait_for_selector('[data-testid="stMetric"]', timeout=600_000)
        browser.close()


def history_done(clone: Path) -> bool:
    status = clone / "data" / "registry.history.json"
    try:
        return json.loads(status.read_text())["state"] in ("done", "failed")
    except (OSError, ValueError, KeyError):
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=20000)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="socle-first-start-"))
    workdir.mkdir(parents=True, exist_ok=True)
    clone = fresh_clone(workdir)
    venv_reusing_these_packages(clone)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCLE_")}
    env["SOCLE_DEMO_HOUSEHOLDS"] = str(args.households)
    log = (workdir / "run_demo.log").open("w")
    started = time.monotonic()
    app = subprocess.Popen(
        ["bash", "scripts/run_demo.sh", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        answered = wait_for(lambda: healthy(url) or app.poll() is not None, 600,
                            "the app's answer") - started
        if app.poll() is not None:
            raise RuntimeError(f"run_demo.sh stopped: see {workdir / 'run_demo.log'}")
        first_page(url)
        shown = time.monotonic() - started
        history = wait_for(lambda: history_done(clone), 1800, "the demo's history") - started
    finally:
        if app.poll() is None:
            os.killpg(app.pid, signal.SIGTERM)
            app.wait(timeout=30)
        log.close()
    state = json.loads((clone / "data" / "registry.history.json").read_text())["state"]
    print(f"fresh clone, {args.households:,} households, pip excluded (bash scripts/run_demo.sh):")
    print(f"  app answers (/_stcore/health)       {answered:7.1f} s")
    print(f"  first page shows its figures         {shown:7.1f} s")
    print(f"  demo's history {state:<6} (background)   {history:7.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
