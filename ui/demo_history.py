"""The demo's history (``python -m demo.history``) while it is built in the background.

scripts/run_demo.sh starts the app first and builds the demo's year of snapshots, meetings,
targets and linkage run behind it (a few minutes); until it is done, the sidebar says how
far it got and what fills in, and if it stopped half way, how to build it again. Nothing
is shown for a registry without such a history (a real deployment's).
"""

from __future__ import annotations

import streamlit as st

from core.i18n import t
from core.settings import Settings
from demo.history import read_status


def show_status(settings: Settings) -> None:
    """A note in the sidebar while the demo's history is built, or if it stopped."""
    status = read_status(settings.database_url)
    if status is None or status.state == "done":
        return
    if status.running:
        st.sidebar.info(t(
            "Building the demo's history in the background: step {step} of {steps}, {doing}. "
            "Donor progress, the committee meetings and the duplicates' review queue fill in "
            "as it goes: reload a page to see more.",
            step=min(status.step + 1, max(status.steps, 1)), steps=status.steps or "…",
            doing=status.doing), icon=":material/hourglass_top:")
        return
    st.sidebar.warning(t(
        "The demo's history stopped before it was complete ({problem}). Build it again with "
        "`python -m demo.history` (scripts/run_demo.sh does it when the app starts).",
        problem=status.message or t("interrupted")), icon=":material/history:")
