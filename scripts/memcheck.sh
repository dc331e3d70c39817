#!/usr/bin/env bash
# Memory safety of the compiled code under valgrind memcheck: counts invalid reads and writes
# whose stack passes through cnet's extensions (the compiled loops use raw pointers, which
# Cython's bounds checks would not see). Two runs:
#   1. pytest itself under valgrind over the raw-entry and sparse tests (or the pytest
#      arguments given);
#   2. the fuzz harness (tests/test_fuzz.py -k in_worker) with only its worker processes,
#      where the hostile cases run, under valgrind: CNET_FUZZ_MEMCHECK_CASES cases per test
#      (default 40; valgrind runs Python 20-50 times slower).
# Needs valgrind and cnet importable (installed, or built in place and run from the checkout).
# About 15 minutes on 2 cores with the defaults.
# Usage: scripts/memcheck.sh [pytest args for run 1...]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "memcheck.sh: valgrind is not installed" >&2; exit 2; }
logs=$(mktemp -d /tmp/cnet-memcheck.XXXXXX)
if [ $# -gt 0 ]; then
    tests=("$@")
else
    tests=(tests/test_sparse.py)
    [ -f tests/test_raw_entry.py ] && tests+=(tests/test_raw_entry.py)
fi
# PYTHONMALLOC=malloc sends Python's small allocations to malloc, where memcheck sees them.
export PYTHONMALLOC=malloc
memcheck="valgrind --tool=memcheck --error-limit=no --leak-check=no --trace-children=no"
# python -m pytest from the checkout imports an in-place build if there is one, else the
# installed package (the source folder then lacks the extensions and the import fails loudly).
echo "memcheck 1/2: ${tests[*]}"
$memcheck --log-file="$logs/pytest.%p.log" python -m pytest -q -p no:cacheprovider \
    -p no:faulthandler "${tests[@]}" -k "not ctrl_c" || true
echo "memcheck 2/2: the fuzz harness's workers"
CNET_FUZZ_WRAPPER="$memcheck --log-file=$logs/worker.%p.log" \
    CNET_FUZZ_EXAMPLES="${CNET_FUZZ_MEMCHECK_CASES:-40}" CNET_FUZZ_HANG_SECONDS=1800 \
    python -m pytest -q -p no:cacheprovider tests/test_fuzz.py -k in_worker || true
# Count the errors whose stack passes through cnet's extensions; others (the dynamic
# loader's SSE string functions, for one) are valgrind's known false positives elsewhere.
python - "$logs" <<'PY'
import glob, re, sys
ours, elsewhere = [], 0
for path in sorted(glob.glob(f"{sys.argv[1]}/*.log")):
    errors = re.split(r"\n==\d+== \n", open(path).read())
    for e in errors:
        if re.search(r"Invalid (read|write)", e):
            if re.search(r"cnet/(_avx2/|_avx512/)?_(kernels|train)", e):
                ours.append((path, e))
            else:
                elsewhere += 1
print(f"valgrind memcheck: {len(ours)} invalid reads/writes in cnet's code ({elsewhere} "
      f"elsewhere, not cnet's); logs: {sys.argv[1]}")
for path, e in ours[:5]:
    print(path)
    print(e)
sys.exit(1 if ours else 0)
PY
