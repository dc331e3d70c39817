#!/usr/bin/env bash
# Runs the load fuzzer (tests/test_load_fuzz.py) with many more cases than CI does (default
# 20,000; pass a number to change it, and a seed as the second argument), against the
# installed cnet or, with PYTHONPATH set, an in-place build. Damaged model files must load
# identically or raise ValueError; a crash, another exception or an RSS growth of 100 MB
# fails it. The last line before pytest's own gives the counts, the RSS growth and the
# slowest load.
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-20000}"
seed="${2:-0}"
# pytest, not python -m pytest: the latter would import the uncompiled source folder.
CNET_LOAD_FUZZ_CASES="$cases" CNET_LOAD_FUZZ_SEED="$seed" \
    pytest -q -s -p no:cacheprovider tests/test_load_fuzz.py   # -s: print the counts
