#!/usr/bin/env bash
# Runs every test on a fresh machine: installs the system packages the tests need when they
# are missing (scripts/system-packages.txt; as root with apt-get, else it stops with the
# command to run), the environment (.venv, requirements.txt), starts a throwaway PostgreSQL
# unless TEST_POSTGRES_URL is set, then pytest (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-packages.sh install
bash scripts/setup.sh
if [ -z "${TEST_POSTGRES_URL:-}" ]; then
  TEST_POSTGRES_URL=$(bash scripts/postgres.sh start)
  export TEST_POSTGRES_URL
fi
exec .venv/bin/python -m pytest "$@"
