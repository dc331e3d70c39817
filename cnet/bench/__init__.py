"""Time cnet against its numpy twin, scikit-learn, PyTorch, JAX and numba, epoch for epoch.

Every peer trains the same network (architecture, activation, batch size, learning rate,
dtype, optimizer: plain SGD, or Adam in one row, without shuffling) on the same data in this
one process; the tables show the median cost of one training epoch and each peer's cost
relative to cnet's compiled loop. Binary rows train ``cnet.NeuralNet``; the 10-class rows
train ``cnet.MLPClassifier``. Before its time counts, each peer must pass a correctness gate:
from cnet's initial weights, the same epochs must reach cnet's loss (``cnet.bench.gate``).
Two more tables time whole fits: lbfgs on digits and sparse text-like input; the load and
threads rows time fits that share the cores with busy processes or with another fit. The grid
times ``[2, H, 1]`` networks as H and the rows grow against numba's fastmath loops and JAX;
seed-floors puts the seed beside the hand-written C floors of ``../shared/floor``.

Run it as ``cnet bench [--quick]`` (installed) or ``python benchmarks/compare.py`` (in the
source tree); ``--help`` lists the options and ``benchmarks/README.md`` says what the columns
mean. Nothing here asserts anything about speed: it only measures.

One idea per module, each importing only those listed before it:

``workloads``
    The training problems, each a ``Workload``.
``peers``, ``jax_peer``, ``numba_peer``
    The trainers: cnet, its numpy twin, scikit-learn, PyTorch; the optional compiled peers.
``gate``
    The check that every peer computes what cnet computes before its time counts.
``lineup``
    Which peers run on a workload, and why the others do not.
``timing``
    Warm-up, calibrated epochs per fit, the median of rounds.
``floor``, ``memory``
    The matrix products of an epoch alone; the peak memory of a fit.
``whole_fit``
    The rows timed as whole fits (lbfgs on digits, sparse text-like input).
``contention``
    The load and threads rows: fits beside busy processes, and two fits in two threads.
``report``, ``scaling``
    The comparison table; cnet against its twin as sizes double.
``grid``, ``c_floor``
    The shape grid's cells and table; the seed's C floors, compiled and run beside it.
``machine``
    What the numbers depend on.
``command``
    ``cnet bench`` itself: options, the run, the JSON.
"""
from cnet.bench.c_floor import add_floors, c_floors, find_floor_dir, print_seed_floor
from cnet.bench.command import DEFAULT_JSON, compare_row, main, parse_args, run
from cnet.bench.contention import contention_rows, print_contention
from cnet.bench.floor import blas_libraries, matmul_floor, matmul_floor_rows, matmul_flops
from cnet.bench.grid import GRID_PEERS, grid_summary, grid_workloads
from cnet.bench.lineup import PEERS, build_peers
from cnet.bench.memory import peak_fit_memory
from cnet.bench.report import CELL, print_compare_header, print_compare_row
from cnet.bench.scaling import scaling_cases, scaling_rows
from cnet.bench.timing import (NOISY_SPREAD, SETTLE_QUICK_S, SETTLE_S, calibrate,
                               time_per_epoch)
from cnet.bench.workloads import (BINARY, CONTENTION, DTYPES, GRID_AND_FLOORS, MULTICLASS,
                                  WHOLE_FIT, WORKLOADS, Workload, digits10_workload,
                                  digits_workload, moons_workload, seed_workload,
                                  wide10_workload, wide_workload)

__all__ = ["BINARY", "CELL", "CONTENTION", "DEFAULT_JSON", "DTYPES", "GRID_AND_FLOORS",
           "GRID_PEERS", "MULTICLASS", "NOISY_SPREAD", "PEERS", "SETTLE_QUICK_S", "SETTLE_S",
           "WHOLE_FIT", "WORKLOADS", "Workload", "add_floors", "blas_libraries", "build_peers",
           "c_floors", "calibrate", "compare_row", "contention_rows", "digits10_workload",
           "digits_workload", "find_floor_dir", "grid_summary", "grid_workloads", "main",
           "matmul_floor", "matmul_floor_rows", "matmul_flops", "moons_workload", "parse_args",
           "peak_fit_memory", "print_compare_header", "print_compare_row", "print_contention",
           "print_seed_floor", "run", "scaling_cases", "scaling_rows", "seed_workload",
           "time_per_epoch", "wide10_workload", "wide_workload"]
