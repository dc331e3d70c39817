#!/usr/bin/env bash
# Runs the fuzz tests with many more cases than CI does (default 20,000 per test; pass a
# number to change it, and pytest arguments after it, e.g. `scripts/fuzz.sh 20000 -k
# in_worker`), against the installed cnet or, run from a checkout built in place, that build.
# The harness tests print their outcome counts (ok / refused / fail / crash); a crash of
# compiled code in a worker fails its test naming the case and the command that replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-20000}"
shift || true
# python -m pytest from the checkout imports an in-place build if there is one, else the
# installed package. Every failure is listed, not the first few.
CNET_FUZZ_EXAMPLES="$examples" CNET_FUZZ_MAX_FAILURES=1000 \
    python -m pytest -q -s -p no:cacheprovider tests/test_fuzz.py "$@"
