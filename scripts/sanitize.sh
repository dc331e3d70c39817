#!/usr/bin/env bash
# The compiled code under AddressSanitizer and UndefinedBehaviorSanitizer: builds a scratch
# copy of this checkout with CNET_SANITIZE=1 (see setup.py; baseline variant only) and runs
# the kernel, loop, sparse and fuzz tests on it. Python is not instrumented, so libasan is
# preloaded; leak checking is off (the interpreter keeps its objects at exit by design). Any
# sanitizer report stops the process it occurs in: in pytest it fails the run, in a fuzz
# worker it is reported as a crash naming the case. Needs gcc with libasan and libubsan.
# Usage: scripts/sanitize.sh [pytest args...]   (default: the tests named above)
set -euo pipefail
cd "$(dirname "$0")/.."
libasan=$(gcc -print-file-name=libasan.so)
[ -f "$libasan" ] || { echo "sanitize.sh: gcc has no libasan ($libasan)" >&2; exit 2; }
scratch=$(mktemp -d /tmp/cnet-sanitize.XXXXXX)
cp -r setup.py pyproject.toml README.md cnet src_c tests "$scratch"/
# Only sources: no extension built for this checkout may be picked up by the copy.
find "$scratch/cnet" -name '*.so' -delete
find "$scratch/src_c" -name '*.c' -delete
cd "$scratch"
CNET_SANITIZE=1 CNET_VARIANTS=0 python setup.py -q build_ext --inplace >build.log 2>&1 \
    || { tail -20 build.log; exit 1; }
if [ $# -gt 0 ]; then
    tests=("$@")
else
    tests=(tests/test_kernels.py tests/test_training.py tests/test_sparse.py tests/test_fuzz.py)
    [ -f tests/test_raw_entry.py ] && tests+=(tests/test_raw_entry.py)
fi
logs="$scratch/sanitizer"
mkdir -p "$logs"
# halt_on_error makes every report fatal (UBSan's default is to print and go on); the reports
# go to files per process as well, so the workers' are kept.
status=0
LD_PRELOAD="$libasan" \
    ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:log_path=$logs/asan" \
    UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=$logs/ubsan" \
    python -m pytest -q -p no:cacheprovider "${tests[@]}" -k "not ctrl_c" || status=$?
reports=$(find "$logs" -type f | wc -l)
echo "sanitizers: pytest exit status $status, $reports report file(s) in $logs"
for f in $(find "$logs" -type f | head -3); do head -30 "$f"; done
[ "$status" -eq 0 ] && [ "$reports" -eq 0 ]
