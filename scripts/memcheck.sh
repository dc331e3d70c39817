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
# Count the errors whose stack passes through cnet's extensions; others (the dynamic
# loader's SSE string functions, for one) are valgrind's known false positives elsewhere.
python - "$log" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
errors = re.split(r"\n==\d+== \n", text)
invalid = [e for e in errors if re.search(r"Invalid (read|write)", e)]
ours = [e for e in invalid if re.search(r"cnet/_(kernels|train)", e)]
print(f"valgrind memcheck: {len(ours)} invalid reads/writes in cnet's code "
      f"({len(invalid) - len(ours)} elsewhere, not cnet's); log: {sys.argv[1]}")
for e in ours[:5]:
    print(e)
sys.exit(1 if ours else 0)
PY
