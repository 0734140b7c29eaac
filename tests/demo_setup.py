"""The demo as scripts/run_demo.sh sets it up, small (1,500 households, 70 union councils on
KP's real districts): the registry and its boundaries (``python -m demo``), one account per
role (``python -m data_access.users demo``) and the demo's history (``demo.history``), in a
folder of its own. Built once per test session: the history tests and the browser walk of
the set-up demo share it (import the ``set_up_demo`` fixture)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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
