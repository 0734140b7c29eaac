"""What the browser tests share: Debian's Chromium, a free port, and reading screenshots
(the app's server: app_server). Their fixtures are in conftest.py."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def coloured_share(png: bytes) -> float:
    """Share of pixels that are neither white nor near-white (the page background)."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    return float((pixels.min(axis=2) < 235).mean())
