#!/usr/bin/env bash
# Runs Socle on the demo registry: installs the environment, generates data/registry.db
# (and its boundary file) and one account per role if it is missing, then starts the app.
# Extra arguments go to `streamlit run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ ! -f data/registry.db ]; then
  .venv/bin/python -m demo --out data/registry.db \
    --households "${SOCLE_DEMO_HOUSEHOLDS:-20000}" --seed 1
  # One account per role on the new registry; their passwords are printed only now
  # (run `.venv/bin/python -m data_access.users demo` again for new ones).
  .venv/bin/python -m data_access.users demo
fi
exec .venv/bin/python -m streamlit run app.py "$@"
