#!/usr/bin/env bash
# Runs every test: installs the environment, starts a throwaway PostgreSQL unless
# TEST_POSTGRES_URL is set, then pytest (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${TEST_POSTGRES_URL:-}" ]; then
  TEST_POSTGRES_URL=$(bash scripts/postgres.sh start)
  export TEST_POSTGRES_URL
fi
exec .venv/bin/python -m pytest "$@"
