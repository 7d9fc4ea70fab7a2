#!/usr/bin/env bash
# `make test`: start the stack unless it already runs, run the whole suite (or the pytest
# arguments given), stop what we started.
set -uo pipefail
cd "$(dirname "$0")/.."
STRIDE=.venv/bin/stride

# The test stack's limits (each limit is also tested at its production default on a gateway
# of the test's own); exported so the stack, the tests and the bench all see them.
set -a
# shellcheck source=stack/test.env
. stack/test.env
set +a

# The scan at the end looks for the secrets this run makes (tests/user_accounts.py).
rm -f "${STRIDE_HOME:-.stack}/test-artifacts/secrets-seen.txt"

started_here=0
# Exit 3: nothing of the stack runs. 1: part of it runs and did not become healthy within the
# wait (someone is starting or restarting it): bring up what is missing, but it is not ours
# to stop at the end.
$STRIDE stack status --json --wait 180 >/dev/null 2>&1
state=$?
if [ $state -eq 0 ]; then
  # Running already (e.g. `make demo`): its gateways take the test limits until the end.
  $STRIDE stack restart --only gateway internal
elif [ $state -ne 3 ]; then
  $STRIDE stack up || { $STRIDE stack logs -n 30; exit 1; }
else
  started_here=1
  up_log=$(mktemp)
  if ! $STRIDE stack up 2>&1 | tee "$up_log"; then
    # One more try from a clean stop: a registry or port hiccup should not fail the suite.
    echo "--- stack up failed; stopping what started and trying once more ---"
    $STRIDE stack down
    sleep 5  # let sockets of the first attempt close
    $STRIDE stack up 2>&1 | tee -a "$up_log"
  fi
  if ! $STRIDE stack status --json >/dev/null 2>&1; then
    $STRIDE stack logs -n 30
    $STRIDE stack down
    # Repeated last, so whoever reads only the tail of the output still sees why.
    echo "--- stack up failed; what it said: ---"
    tail -n 40 "$up_log"
    rm -f "$up_log"
    exit 1
  fi
  rm -f "$up_log"
fi

if [ $# -gt 0 ]; then
  .venv/bin/python -m pytest "$@"
  rc=$?
else
  # Everything, then the fault suite on its own: it SIGKILLs and restarts the stack's processes.
  .venv/bin/python -m pytest -m "unit or integration or e2e"
  rc=$?
  if [ $rc -eq 0 ]; then
    .venv/bin/python -m pytest -m faults -s -p no:cacheprovider
    rc=$?
  fi
  if [ $rc -eq 0 ]; then
    # Smoke run of the pipeline bench: its figures are printed, not judged; it fails only
    # if an acknowledged sample was lost or doubled.
    $STRIDE bench --quick
    rc=$?
  fi
  if [ $rc -eq 0 ]; then
    # Last: every log of every process of the run (the stack's, the tests' and the bench's
    # own gateways and workers, Ray's workers) holds no password, token or health value.
    .venv/bin/python -m pytest -m logscan -p no:cacheprovider
    rc=$?
  fi
fi

if [ $rc -ne 0 ]; then
  echo "--- tests failed; last log lines of each component ---"
  $STRIDE stack logs -n 20
fi
if [ $started_here -eq 1 ]; then
  $STRIDE stack down
else
  # Back to the production limits for whoever started the stack.
  for name in $(grep -o '^STRIDE_[A-Z_]*' stack/test.env); do unset "$name"; done
  $STRIDE stack restart --only gateway internal
fi
exit $rc
