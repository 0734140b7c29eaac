"""A real Socle server for the tests and benchmarks that need one: ``streamlit run app.py``
on a demo registry, and Debian's Chromium driven by Playwright (never ``playwright install``).

Used by tests/test_server_survives.py, tests/test_faults.py, bench/bench_pages.py and
bench/bench_load.py (the browser tests' fixtures, in conftest.py, use tests/browser_support.py, which this
module builds on).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from browser_support import CHROMIUM, CHROMIUM_ARGS, ROOT, free_port

# The sidebar's choices are mirrored in the URL; "running" ends when the script run is done.
SCRIPT_DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def make_demo(folder: Path, *, households: int, seed: int = 1,
              union_councils: int | None = None, geography: str = "synthetic") -> Path:
    """Write the demo registry (and its boundary file) into ``folder``; the registry's path.
    ``geography``: the demo's (synthetic: five districts, what the tests' small demos need;
    kp: KP's 35 real districts, at least 35 union councils)."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "demo", "--out", str(folder / "registry.db"),
               "--households", str(households), "--seed", str(seed), "--geography", geography]
    if union_councils is not None:
        command += ["--union-councils", str(union_councils)]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return folder / "registry.db"


def health(url: str, timeout: float = 5) -> str | None:
    """What ``/_stcore/health`` answers (``ok`` when the server is up), None if nothing."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=timeout) as response:
            return response.read().decode().strip()
    except OSError:
        return None


class AppServer:
    """``streamlit run app.py`` on its own port, with the SOCLE_* settings given."""

    def __init__(self, settings: Mapping[str, str], log_path: Path = Path(os.devnull),
                 prefix: Sequence[str] = (), options: Sequence[str] = ()) -> None:
        self.settings = dict(settings)
        self.log_path = log_path
        self.prefix = list(prefix)  # e.g. setpriv, to run the server with fewer rights
        self.options = list(options)  # more of streamlit run's options
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.port: int | None = None

    def start(self, timeout: float = 90, port: int | None = None) -> AppServer:
        """Start (or start again: ``port`` keeps the address a browser is reconnecting to)."""
        port = port or free_port()
        self.port = port
        env = {name: value for name, value in os.environ.items()
               if not name.startswith("SOCLE_")}
        env.update(self.settings)
        env["PYTHONFAULTHANDLER"] = "1"  # a crash leaves the threads' stacks in the log
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*self.prefix, sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", *self.options],
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
        return self._memory("VmRSS")

    def peak_rss_bytes(self) -> int:
        """The most resident memory the server process has held so far (Linux /proc)."""
        return self._memory("VmHWM")

    def _memory(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
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


@contextmanager
def serving(settings: Mapping[str, str], log_path: Path = Path(os.devnull),
            options: Sequence[str] = ()) -> Iterator[str]:
    """The app served with these SOCLE_ settings (the environment's others removed), its
    output to ``log_path``: its URL once healthy; stopped afterwards."""
    server = AppServer(settings, log_path, options=options).start()
    try:
        yield server.url
    finally:
        server.stop()


def demo_settings(folder: Path, registry_url: str | None = None, *,
                  source: str = "live") -> dict[str, str]:
    """The SOCLE_* variables of a server on the demo in ``folder`` (its own app store and
    analytical copy). ``source``: ``analytics.source``; live by default, as the tests that
    use a server are about the registry's own engine (threads, faults of its file)."""
    return {
        "SOCLE_DATABASE_URL": registry_url or f"sqlite:///{folder / 'registry.db'}",
        "SOCLE_APP_STORE_URL": f"sqlite:///{folder / 'app_store.db'}",
        "SOCLE_GEOGRAPHY_BOUNDARY_FILE": str(folder / "registry.geojson"),
        "SOCLE_ANALYTICS_SOURCE": source,
        "SOCLE_ANALYTICS_COPY_FOLDER": str(folder / "copy"),
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


# Raw websocket sessions: Streamlit's own protocol, without a browser -----------------------

@dataclass
class PageLoad:
    """One script run as a websocket client saw it."""

    page: str
    seconds: float
    finished: bool
    alerts: list[tuple[str, str]] = field(default_factory=list)  # (format, text)
    exceptions: list[str] = field(default_factory=list)
    elements: list[str] = field(default_factory=list)  # the element types drawn
    not_found: bool = False

    def texts(self, kind: str) -> list[str]:
        return [text for format_, text in self.alerts if format_ == kind]


class WebsocketSession:
    """A browser session reduced to its websocket: each ``load`` is a rerun of the script
    for a page (``""``: the default page) and a query string, until the run is over."""

    def __init__(self, url: str, timeout: float = 600) -> None:
        self.ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
        self.timeout = timeout

    async def loads(self, pages: Sequence[tuple[str, str]]) -> list[PageLoad]:
        import websockets

        async with websockets.connect(self.ws_url, subprotocols=["streamlit"], max_size=None,
                                      open_timeout=60) as socket:
            return [await self._load(socket, page, query) for page, query in pages]

    async def _load(self, socket, page: str, query: str) -> PageLoad:
        from streamlit.proto.Alert_pb2 import Alert
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        formats = {Alert.ERROR: "error", Alert.WARNING: "warning", Alert.INFO: "info",
                   Alert.SUCCESS: "success"}
        message = BackMsg()
        message.rerun_script.query_string = query
        message.rerun_script.page_name = page
        start = time.perf_counter()
        await socket.send(message.SerializeToString())
        load = PageLoad(page, 0.0, False)
        deadline = start + self.timeout
        while time.perf_counter() < deadline:
            try:
                data = await asyncio.wait_for(socket.recv(),
                                              timeout=deadline - time.perf_counter())
            except TimeoutError:
                break
            forward = ForwardMsg()
            forward.ParseFromString(data)
            kind = forward.WhichOneof("type")
            if kind == "page_not_found":
                load.not_found = True
            elif kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                element = forward.delta.new_element
                what = element.WhichOneof("type")
                load.elements.append(what)
                if what == "exception":
                    load.exceptions.append(element.exception.message)
                elif what == "alert":
                    load.alerts.append((formats.get(element.alert.format, "?"),
                                        element.alert.body))
            elif kind == "script_finished":
                if forward.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    continue
                load.finished = True
                break
        load.seconds = time.perf_counter() - start
        return load


def load_page(url: str, page: str = "", query: str = "", timeout: float = 600) -> PageLoad:
    """One page load in a new websocket session."""
    return asyncio.run(WebsocketSession(url, timeout).loads([(page, query)]))[0]
