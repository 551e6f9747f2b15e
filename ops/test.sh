#!/usr/bin/env bash
# The whole suite: lint, the action tests in the Rasa environment, everything else in the app environment.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD" RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
rc=0
# tests/conftest.py writes here how many PostgreSQL/Redis tests it skipped because the service was missing.
GOVBOT_TEST_SKIP_NOTE="$(mktemp)"; export GOVBOT_TEST_SKIP_NOTE
trap 'rm -f "$GOVBOT_TEST_SKIP_NOTE"' EXIT
echo "== ruff"; .venv-app/bin/ruff check . || rc=1
echo "== Rasa environment: tests/assistant"
.venv-rasa/bin/python -m pytest tests/assistant --confcutdir=tests/assistant -q -p no:cacheprovider "$@" || rc=1
echo "== application environment: everything else"
# --tb=native: pytest's own traceback re-parses the test's source, and on CPython 3.11 a garbage collection inside
# that parse (finalising an asyncio task) once raised "AST constructor recursion depth mismatch", an INTERNALERROR
# that hid the failure and stopped the session; the interpreter's traceback needs no parse.
.venv-app/bin/python -m pytest tests --ignore=tests/assistant -q -p no:cacheprovider --tb=native "$@" || rc=1
cat "$GOVBOT_TEST_SKIP_NOTE"  # e.g. "skipped: 9 PostgreSQL/Redis tests — start PostgreSQL on …"; empty when all ran
exit $rc
