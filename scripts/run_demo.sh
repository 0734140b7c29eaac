#!/usr/bin/env bash
# Runs Socle on the demo registry: installs the environment, generates data/registry.db (on
# Khyber Pakhtunkhwa's real districts) with its boundary file and one account per role if it
# is missing, starts building the demo's history in the background (a year of monthly
# snapshots, donors' targets, past committee meetings, a linkage run: a few minutes; the
# app's sidebar says how far it got), then starts the app. Extra arguments go to `streamlit run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
households=${SOCLE_DEMO_HOUSEHOLDS:-20000}
# Not a setting of config.toml: Socle's commands refuse unknown SOCLE_* variables.
unset SOCLE_DEMO_HOUSEHOLDS
if [ ! -f data/registry.db ]; then
  .venv/bin/python -m demo --out data/registry.db --households "$households" --seed 1
  # One account per role on the new registry; their passwords are printed only now
  # (run `.venv/bin/python -m data_access.users demo` again for new ones).
  .venv/bin/python -m data_access.users demo
fi
# Nothing to do when the history is built already (or being built); its log is kept beside it.
.venv/bin/python -m demo.history --if-needed >> data/registry.history.log 2>&1 &
echo "Building the demo's history in the background (log: data/registry.history.log)."
exec .venv/bin/python -m streamlit run app.py "$@"
