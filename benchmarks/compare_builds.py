"""cnet against another build of cnet, side by side in one run: is a change within noise?

Each of two checkouts (each built in place: ``python setup.py build_ext --inplace``) runs
``cnet bench`` in a subprocess, the two taking turns for several rounds, so that both see the
same machine over the same minutes. Both runs use the benchmark code of the checkout this
script is in (its ``cnet/bench``) over each checkout's own cnet: the same measurement of two
builds, and rows an older checkout's bench lacks (grid, seed-floors) run on it too. Printed:
each build's median µs per epoch over the rounds, for every row both report, and the ratio
new / old. With ``--peers``, the peers' rows are printed too (``row [peer]``), as are the C
floors of the seed-floors row (``seed-floors [vec_native floor]``): they do not depend on the
build, so their new / old shows the noise of the run.

    python benchmarks/compare_builds.py OLD_CHECKOUT NEW_CHECKOUT [--rounds 3]
        [--workloads seed,digits,...,grid,seed-floors] [--peers numba-loops-fm,jax-fori]
        [--floor-dir DIR] [--quick]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

DEFAULT_WORKLOADS = "seed,seed-loss1000,seed-16-8,digits,wide,digits10,wide10,digits10-adam"
BENCH = Path(__file__).resolve().parents[1] / "cnet" / "bench"

# Run in the subprocess: import the checkout's cnet (PYTHONPATH), then put this tree's
# cnet/bench in place of the checkout's before anything imports it.
_RUNNER = f"""
import importlib.util, sys
import cnet
spec = importlib.util.spec_from_file_location(
    "cnet.bench", {str(BENCH / "__init__.py")!r}, submodule_search_locations=[{str(BENCH)!r}])
bench = importlib.util.module_from_spec(spec)
sys.modules["cnet.bench"] = bench
spec.loader.exec_module(bench)
cnet.bench = bench
bench.main(sys.argv[1:])
"""


def bench_argv(workloads, peers, quick, json_path, floor_dir=None):
    """The ``cnet bench`` options of one run."""
    argv = ["--peers", peers, "--workloads", workloads, "--json", str(json_path)]
    if floor_dir is not None:
        argv += ["--floor-dir", str(floor_dir)]
    if quick:
        argv.append("--quick")
    return argv


def rows_of(result):
    """{row name: µs per epoch} from one run's JSON: cnet's per-epoch rows, the grid's and
    seed-floors', each peer's as ``"<row> [<peer>]"`` and the floors as ``"<row> [<floor>
    floor]"``."""
    out = {}
    for row in result["rows"] + result.get("grid", []) + result.get("seed_floors", []):
        name = f"{row['workload']} {row['dtype']}"
        for peer, timed in row["peers"].items():
            out[name if peer == "cnet" else f"{name} [{peer}]"] = \
                timed["seconds_per_epoch"] * 1e6
        for floor, us in row.get("floors_us", {}).items():
            if isinstance(us, float):
                out[f"{name} [{floor} floor]"] = us
    return out


def bench_once(checkout, argv):
    """Run this tree's cnet bench over ``checkout``'s cnet; returns :func:`rows_of` its JSON."""
    env = dict(os.environ, PYTHONPATH=str(checkout))
    subprocess.run([sys.executable, "-c", _RUNNER, *argv], cwd=checkout, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return rows_of(json.loads(Path(argv[argv.index("--json") + 1]).read_text()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workloads", default=DEFAULT_WORKLOADS)
    parser.add_argument("--peers", default="",
                        help="peers to run beside cnet (default none: cnet alone)")
    parser.add_argument("--floor-dir", type=Path, default=None,
                        help="cnet bench's --floor-dir, for the seed-floors row")
    parser.add_argument("--quick", action="store_true")
    opts = parser.parse_args(argv)
    if opts.rounds < 1:
        parser.error("--rounds must be at least 1")
    times = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(opts.rounds):
            # Alternate which build goes first, so neither always runs on a warmer machine.
            order = ("old", "new") if r % 2 == 0 else ("new", "old")
            for which in order:
                run_argv = bench_argv(opts.workloads, opts.peers, opts.quick,
                                      Path(tmp) / f"{which}.json", opts.floor_dir)
                times[which].append(bench_once(getattr(opts, which).resolve(), run_argv))
                print(f"round {r + 1}/{opts.rounds}: {which} done", file=sys.stderr)
    rows = [k for k in times["old"][0] if all(k in t for t in times["old"] + times["new"])]
    print(f"µs per epoch, median of {opts.rounds} alternating runs of `cnet bench` "
          f"({'cnet only' if not opts.peers else 'cnet and ' + opts.peers}; the same bench "
          f"code over both builds)")
    width = max([24] + [len(row) + 2 for row in rows])
    print(f"{'row':<{width}}{'old':>12}{'new':>12}{'new/old':>10}")
    for row in rows:
        old = float(np.median([t[row] for t in times["old"]]))
        new = float(np.median([t[row] for t in times["new"]]))
        print(f"{row:<{width}}{old:12.1f}{new:12.1f}{new / old:10.2f}")


if __name__ == "__main__":
    main()
