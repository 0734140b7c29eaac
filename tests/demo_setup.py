"""The demo as scripts/run_demo.sh sets it up, small (1,500 households, 70 union councils on
KP's real districts): the registry and its boundaries (``python -m demo``), one account per
role (``python -m data_access.users demo``) and the demo's history (``demo.history``), in a
folder of its own. Built once per test session: the history tests and the browser walk of
the set-up demo share it (import the ``set_up_demo`` fixture)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOUSEHOLDS = 1500
UNION_COUNCILS = 70


@dataclass(frozen=True)
class SetUpDemo:
    folder: Path
    env: dict[str, str]  # the SOCLE_* variables of an app on this demo
    history_log: str

    @property
    def registry_url(self) -> str:
        return self.env["SOCLE_DATABASE_URL"]

    @property
    def store_url(self) -> str:
        return self.env["SOCLE_APP_STORE_URL"]

    def process_env(self) -> dict[str, str]:
        """The environment of a process on this demo (no other SOCLE_* setting)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOCLE_")}
        return {**env, **self.env}


@pytest.fixture(scope="session")
def set_up_demo(tmp_path_factory: pytest.TempPathFactory) -> SetUpDemo:
    from core.settings import load_settings
    from demo.history import build
    from linkage.model import ModelOptions

    folder = tmp_path_factory.mktemp("set-up-demo")
    env = {
        "SOCLE_DATABASE_URL": f"sqlite:///{folder / 'registry.db'}",
        "SOCLE_ANALYTICS_COPY_FOLDER": str(folder / "copy"),
        "SOCLE_APP_STORE_URL": f"sqlite:///{folder / 'app_store.db'}",
        "SOCLE_GEOGRAPHY_BOUNDARY_FILE": str(folder / "registry.geojson"),
    }
    demo = SetUpDemo(folder, env, "")
    # The commands of scripts/run_demo.sh (the demo's default geography: KP's districts).
    subprocess.run([sys.executable, "-m", "demo", "--out", str(folder / "registry.db"),
                    "--households", str(HOUSEHOLDS), "--seed", "1",
                    "--union-councils", str(UNION_COUNCILS)],
                   cwd=ROOT, env=demo.process_env(), check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "data_access.users", "demo"], cwd=ROOT,
                   env=demo.process_env(), check=True, capture_output=True)
    # The history as run_demo.sh builds it (here in the foreground, and with the linkage
    # tests' smaller sample of random pairs: a registry this small needs no more).
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("SOCLE_")]:
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        build(load_settings(check_files=False), say=lines.append,
              linkage_options=ModelOptions(u_max_pairs=2e5))
    return SetUpDemo(folder, env, "\n".join(lines))
