#!/usr/bin/env bash
# Memory safety of the compiled code: runs the kernel, gradient and training tests under
# valgrind memcheck and counts invalid reads and writes (the compiled loops use raw pointers,
# which Cython's bounds checks would not see). Needs valgrind and cnet importable (installed,
# or built in place with PYTHONPATH set). Usage: scripts/memcheck.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
tests=("${@:-tests/test_kernels.py tests/test_gradients.py tests/test_training.py tests/test_bad_input.py}")
# PYTHONMALLOC=malloc sends Python's small allocations to malloc, where memcheck sees them.
PYTHONMALLOC=malloc valgrind --tool=memcheck --error-limit=no --leak-check=no \
    --log-file="$log" python "$(command -v pytest)" -q -p no:cacheprovider -p no:faulthandler \
    ${tests[*]} \
    -k "not ctrl_c" || true
invalid=$(grep -cE "Invalid (read|write)" "$log" || true)
echo "valgrind memcheck: $invalid invalid reads/writes (log: $log)"
grep -E "Invalid (read|write)" -A 8 "$log" | grep -E "_kernels|_train" | sort | uniq -c | head -20
[ "$invalid" -eq 0 ]
