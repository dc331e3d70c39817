"""cnet against another build of cnet, side by side in one run: is a change within noise?

Each of two checkouts (each built in place: ``python setup.py build_ext --inplace``) runs
``cnet bench`` with cnet alone (no peers) in a subprocess, the two taking turns for several
rounds, so that both see the same machine over the same minutes. Printed: each build's median
µs per epoch over the rounds, for every row both report, and the ratio new / old.

    python benchmarks/compare_builds.py OLD_CHECKOUT NEW_CHECKOUT [--rounds 3]
        [--workloads seed,digits,...] [--quick]
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


def bench_once(checkout, workloads, quick, json_path):
    """Run cnet bench (cnet only) in ``checkout``; returns {row name: µs per epoch}."""
    argv = ["--peers", "", "--workloads", workloads, "--json", str(json_path)]
    if quick:
        argv.append("--quick")
    env = dict(os.environ, PYTHONPATH=str(checkout))
    subprocess.run([sys.executable, "-c", "import sys; from cnet.bench.command import main; "
                    "main(sys.argv[1:])", *argv], cwd=checkout, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    result = json.loads(Path(json_path).read_text())
    return {f"{row['workload']} {row['dtype']}":
            row["peers"]["cnet"]["seconds_per_epoch"] * 1e6 for row in result["rows"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workloads", default=DEFAULT_WORKLOADS)
    parser.add_argument("--quick", action="store_true")
    opts = parser.parse_args(argv)
    times = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(opts.rounds):
            # Alternate which build goes first, so neither always runs on a warmer machine.
            order = ("old", "new") if r % 2 == 0 else ("new", "old")
            for which in order:
                times[which].append(bench_once(getattr(opts, which).resolve(), opts.workloads,
                                               opts.quick, Path(tmp) / f"{which}.json"))
                print(f"round {r + 1}/{opts.rounds}: {which} done", file=sys.stderr)
    rows = [k for k in times["old"][0] if k in times["new"][0]]
    print(f"µs per epoch, median of {opts.rounds} alternating runs of `cnet bench` (cnet only)")
    print(f"{'row':<24}{'old':>12}{'new':>12}{'new/old':>10}")
    for row in rows:
        old = float(np.median([t[row] for t in times["old"]]))
        new = float(np.median([t[row] for t in times["new"]]))
        print(f"{row:<24}{old:12.1f}{new:12.1f}{new / old:10.2f}")


if __name__ == "__main__":
    main()
