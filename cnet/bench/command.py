"""Time cnet against its numpy twin, scikit-learn, PyTorch, JAX and numba, epoch for epoch.

The ``cnet bench`` command itself: its options, the run over the chosen workloads that prints
every table, and the JSON of all the numbers. What each table holds is told in
:mod:`cnet.bench` and ``benchmarks/README.md``.
"""
import argparse
import json
import os
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from cnet.bench import c_floor, gate, grid, whole_fit
from cnet.bench.contention import contention_rows, print_contention
from cnet.bench.floor import matmul_floor_rows
from cnet.bench.lineup import PEERS, build_peers
from cnet.bench.machine import load_average, machine_info, print_header
from cnet.bench.memory import peak_fit_memory
from cnet.bench.peers import torch
from cnet.bench.report import print_compare_header, print_compare_row
from cnet.bench.scaling import scaling_rows
from cnet.bench.timing import NOISY_SPREAD, SETTLE_QUICK_S, SETTLE_S, time_per_epoch
from cnet.bench.workloads import (BINARY, CONTENTION, DTYPES, MULTICLASS, WORKLOADS,
                                  digits10_workload, digits_workload, seed_workload,
                                  wide10_workload, wide_workload)

DEFAULT_JSON = Path("cnet-bench.json")   # benchmarks/compare.py passes its own default


def compare_row(wl, dtype_name, opts, chosen=None):
    """Gate and time every peer on ``wl`` in one dtype; return the row (a dict).

    ``chosen`` names the peers (cnet always runs); by default ``opts.peers``.
    """
    X = wl.X.astype(DTYPES[dtype_name])
    start, peers, notes = build_peers(wl, X, opts.peers if chosen is None else chosen)
    gates = gate.gate_peers(peers, start, wl.gate_epochs, X, wl.y, wl.multiclass, dtype_name)
    for name, outcome in gates.items():
        if not outcome["passed"]:
            notes[name] = outcome.get("failed", "gate failed")
    timed = {name: peer.train for name, peer in peers.items() if name not in notes}
    results = time_per_epoch(timed, opts.target_s, wl.max_epochs, opts.repeats,
                             opts.settle_s)
    base = results["cnet"]["seconds_per_epoch"]
    return {"workload": wl.name, "dtype": dtype_name, "n_samples": len(X),
            "layers": wl.layers, "batch_size": wl.step, "learning_rate": wl.learning_rate,
            "loss_every": wl.loss_every, "solver": wl.solver,
            "n_classes": int(wl.layers[-1]) if wl.multiclass else 2,
            "cnet_model": "MLPClassifier" if wl.multiclass else "NeuralNet",
            "gate_epochs": wl.gate_epochs, "gate": gates, "not_timed": notes,
            "peers": results,
            "ratio_to_cnet": {p: r["seconds_per_epoch"] / base for p, r in results.items()}}


def parse_args(argv=None, default_json=DEFAULT_JSON, prog=None):
    """The command-line options (see ``--help``), with workloads and dtypes as lists."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="shorter timings, fewer repeats and epochs, shorter rests, "
                             "every other scaling point (about a minute or less)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"comma-separated subset of {','.join(WORKLOADS)}")
    parser.add_argument("--peers", default=",".join(PEERS),
                        help=f"comma-separated subset of {','.join(PEERS)} for the per-epoch "
                             f"tables (cnet always runs)")
    parser.add_argument("--dtypes", default="float64,float32",
                        help="comma-separated subset of float64,float32 (scaling uses the first)")
    parser.add_argument("--json", type=Path, default=default_json,
                        help=f"where to write the results (default {default_json})")
    parser.add_argument("--floor-dir", type=Path, default=None,
                        help="the C floors for the seed-floors row (run.sh, seed_limit*.c, "
                             "seed_dump.py); default ../shared/floor beside the checkout "
                             "(or beside the main checkout of a git worktree)")
    parser.add_argument("--threads", type=int, default=None,
                        help="limit BLAS/OpenMP and torch to this many threads (XLA too, "
                             "if 1)")
    opts = parser.parse_args(argv)
    opts.workloads = [w.strip() for w in opts.workloads.split(",") if w.strip()]
    opts.dtypes = [d.strip() for d in opts.dtypes.split(",") if d.strip()]
    opts.peers = ["cnet"] + [p.strip() for p in opts.peers.split(",")
                             if p.strip() and p.strip() != "cnet"]
    for name, chosen, allowed in (("workload", opts.workloads, WORKLOADS),
                                  ("dtype", opts.dtypes, DTYPES), ("peer", opts.peers, PEERS)):
        unknown = [c for c in chosen if c not in allowed]
        if unknown or not chosen:
            parser.error(f"unknown or missing {name}s {unknown}; choose from {list(allowed)}")
    if opts.threads is not None and opts.threads < 1:
        parser.error("--threads must be at least 1")
    opts.repeats = 2 if opts.quick else 5
    opts.target_s = 0.1 if opts.quick else 0.25
    opts.scaling_target_s = 0.01 if opts.quick else 0.05
    opts.settle_s = SETTLE_QUICK_S if opts.quick else SETTLE_S
    return opts


def run(opts):
    """Run the chosen workloads, print their tables and return everything for the JSON."""
    info = machine_info()
    print_header(info)
    out = {"machine": info, "options": {"quick": opts.quick, "repeats": opts.repeats,
                                        "floor_dir": opts.floor_dir and str(opts.floor_dir),
                                        "target_s": opts.target_s, "threads": opts.threads,
                                        "settle_s": opts.settle_s,
                                        "workloads": opts.workloads, "dtypes": opts.dtypes,
                                        "peers": opts.peers},
           "gate_rtol": gate.RTOL, "rows": [], "wide_matmul_floor": [], "memory": None,
           "lbfgs": [], "sparse": [], "contention": [], "grid": [], "seed_floors": [],
           "scaling": []}
    builders = {"seed": seed_workload, "seed-loss1000": lambda: seed_workload(loss_every=1000),
                "seed-16-8": lambda: seed_workload(hidden=(16, 8)),
                "digits": digits_workload, "wide": wide_workload,
                "digits10": lambda: digits10_workload("sgd", opts.quick),
                "wide10": lambda: wide10_workload(quick=opts.quick),
                "digits10-adam": lambda: digits10_workload("adam", opts.quick)}
    chosen = [w for w in BINARY + MULTICLASS if w in opts.workloads]
    width = max([8] + [len(w) for w in chosen])
    peers = [p for p in PEERS if p in opts.peers]
    if chosen:
        print(f"µs per training epoch, median of {opts.repeats} timed fits after a warm-up; "
              f"(/cnet) is the peer's time over cnet's (cnet = compiled loop, "
              f"numpy = its numpy twin); 'noisy' flags peers whose timed fits differ by "
              f"more than {NOISY_SPREAD}x. Gate: from cnet's initial weights, each peer's "
              f"loss after the same epochs must equal cnet's within a relative "
              f"{gate.RTOL['float64']:.0e} (float64) or {gate.RTOL['float32']:.0e} (float32), "
              f"else it is not timed. n/a: the peer is not made for that workload")
        print_compare_header(peers, width)
    for name in chosen:
        if name == next((w for w in chosen if w in MULTICLASS), None):
            print(f"10 classes, softmax output: cnet = cnet.MLPClassifier(backend=\"cython\"), "
                  f"numpy = cnet.MLPClassifier(backend=\"numpy\"); digits10-adam: Adam, "
                  f"learning rate 0.001; goal for digits10 and digits10-adam: jax-fori and "
                  f"jax-scan >= 1.3x, here on cnet's {info['cnet_build']} build, "
                  f"{info['cpu']}")
        wl = builders[name]()
        for dtype_name in opts.dtypes:
            row = compare_row(wl, dtype_name, opts)
            out["rows"].append(row)
            print_compare_row(row, peers, width)

    if "wide" in chosen:
        matmul_floor_rows(out, wide_workload(), opts)
    if "wide10" in chosen:
        matmul_floor_rows(out, wide10_workload(quick=opts.quick), opts)
    memory_rows = ([("wide", "cnet", wide_workload())] if "wide" in chosen else []) + (
        [("wide10", fitter, wide10_workload()) for fitter in ("cnet", "scikit-learn")]
        if "wide10" in chosen else [])
    if memory_rows:
        out["memory"] = []
        print("\nfloat32, one epoch's fit: peak extra memory (tracemalloc), over X + parameters; "
              "cnet's target (X + parameters + extra) / (X + parameters) <= 1.5x; scikit-learn's "
              "row is for comparison")
    for name, fitter, wl in memory_rows:
        mem = dict(peak_fit_memory(wl, fitter), workload=name, fitter=fitter)
        out["memory"].append(mem)
        front = "MLPClassifier" if wl.multiclass else "NeuralNet"
        print(f"  {name:<7} {fitter + ' ' + front:<27} {mem['peak_extra_bytes'] / 2**20:7.1f} MiB"
              f" = {mem['extra_over_base']:.2f}x (X + parameters = "
              f"{(mem['X_bytes'] + mem['param_bytes']) / 2**20:.1f} MiB); total "
              f"{mem['total_over_base']:.2f}x")

    if "digits10-lbfgs" in opts.workloads:
        out["lbfgs"] = whole_fit.lbfgs_rows(opts.quick, opts.repeats, opts.settle_s)
        whole_fit.print_lbfgs(out["lbfgs"])
    if "sparse-text" in opts.workloads:
        out["sparse"] = whole_fit.sparse_rows(opts.quick, min(3, opts.repeats), opts.settle_s)
        whole_fit.print_sparse(out["sparse"])

    if "grid" in opts.workloads:
        peers = grid.grid_peers(opts.peers)
        grid.print_grid_header(peers)
        for wl in grid.grid_workloads():
            for dtype_name in opts.dtypes:
                row = compare_row(wl, dtype_name, opts, peers)
                out["grid"].append(row)
                print_compare_row(row, peers, width=len("grid-h500-n24000"))
        grid.print_grid_summary(out["grid"])
    if "seed-floors" in opts.workloads:
        row = compare_row(seed_workload(loss_every=1000), "float64", opts,
                          c_floor.floor_peers(opts.peers))
        out["seed_floors"].append(c_floor.add_floors(row, opts.floor_dir,
                                                     max(3, opts.repeats), opts.settle_s))
        c_floor.print_seed_floor(row)

    contention = [row for row in CONTENTION if row in opts.workloads]
    if contention:
        out["contention"] = contention_rows(["digits10", "wide10"], opts.quick, opts.repeats,
                                            opts.settle_s, tuple(contention))
        print_contention(out["contention"])

    if "scaling" in opts.workloads:
        dtype_name = opts.dtypes[0]
        print(f"\nscaling, {dtype_name}: µs per epoch of cnet and its numpy twin; BLAS: does "
              f"the first layer's forward product go to BLAS (else hand-written loops)")
        print(f"{'vary':<6}{'value':>7}  {'layers':<18}{'rows':>7}{'batch':>7}{'cnet µs':>11}"
              f"{'numpy µs':>11}{'numpy/cnet':>13}{'BLAS':>7}")
        out["scaling"] = scaling_rows(opts, dtype_name)
    return out


def main(argv=None, default_json=DEFAULT_JSON, prog=None):
    """Run the comparison and print its tables (see the module docstring).

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments; defaults to ``sys.argv[1:]``.
    default_json : path, default ``cnet-bench.json``
        Where the results go unless ``--json`` says otherwise.
    prog : str, optional
        The program name in ``--help``.
    """
    opts = parse_args(argv, default_json, prog)
    if opts.threads == 1:
        # XLA reads these when its CPU backend starts, at the first JAX computation; they
        # can make it single-threaded, not limit it to N > 1 threads.
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread"
                                   "_eigen=false intra_op_parallelism_threads=1").strip()
    start = time.perf_counter()
    if opts.threads is not None and torch is not None:
        torch.set_num_threads(opts.threads)
    with threadpool_limits(limits=opts.threads):
        out = run(opts)
    out["elapsed_s"] = time.perf_counter() - start
    out["machine"]["load_average_at_end"] = load_average()
    opts.json.parent.mkdir(parents=True, exist_ok=True)
    opts.json.write_text(json.dumps(out, indent=1, default=float))
    print(f"\nwrote {opts.json} ({out['elapsed_s']:.0f} s)")


if __name__ == "__main__":
    main()
