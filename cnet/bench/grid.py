"""The shape grid: ``[2, H, 1]`` networks as H and the rows grow, cnet against numba and JAX.

Each cell is the seed problem grown (:func:`cnet.bench.workloads.moons_workload`: make_moons,
every row trained on, full batch, plain SGD at 0.003, the loss every 1000 epochs) with H
hidden units and n rows. cnet trains it with ``NeuralNet`` (the compiled loop); the peers are
numba's loops with fastmath, JAX's ``fori_loop`` and, when asked for, numba's loops as
written. Every peer passes the usual gate (:mod:`cnet.bench.gate`) in each cell before it is
timed, and the cells are timed as the other per-epoch rows are.
"""
import dataclasses

from cnet.bench.report import print_compare_header
from cnet.bench.workloads import moons_workload

GRID_HIDDEN = (5, 50, 500)
GRID_ROWS = (240, 2400, 24000)
# The grid's peers, in the columns' order; --peers picks among them.
GRID_PEERS = ("numba-loops-fm", "jax-fori", "numba-loops")
# Peers the goal (>= GRID_GOAL x cnet's time in every cell) is about.
GRID_GOAL_PEERS = ("numba-loops-fm", "jax-fori")
GRID_GOAL = 1.2
# Gate epochs per cell: enough that a wrong gradient shows (500 on the small cells, as on the
# seed rows), bounded so that each gate costs about as much as 500 epochs of the 240 x 5 cell
# (the largest cells take tens of milliseconds an epoch per peer), but never fewer than 2.
_GATE_WORK = 500 * 240 * 5


def grid_workloads():
    """The grid's cells as workloads named ``grid-h{H}-n{rows}``, rows first, then H."""
    cells = []
    for n in GRID_ROWS:
        for hidden in GRID_HIDDEN:
            wl = moons_workload(n, hidden=hidden)
            cells.append(dataclasses.replace(
                wl, name=f"grid-h{hidden}-n{n}", numba=True,
                gate_epochs=max(2, min(500, _GATE_WORK // (n * hidden)))))
    return cells


def grid_peers(chosen):
    """cnet and those of :data:`GRID_PEERS` that ``chosen`` (``--peers``) names."""
    return ["cnet"] + [p for p in GRID_PEERS if p in chosen]


def print_grid_header(peers):
    """The grid table's title and header."""
    print(f"\ngrid: [2, H, 1] on make_moons(rows), full batch, SGD at 0.003, loss every 1000 "
          f"epochs, cnet = NeuralNet; µs per epoch and (/cnet) = the peer's time over cnet's; "
          f"goal >= {GRID_GOAL}x for {' and '.join(GRID_GOAL_PEERS)} in every cell")
    print_compare_header(peers, width=len("grid-h500-n24000"))


def grid_summary(rows):
    """Per goal peer: the lowest ratio over the grid's rows, its cell, and the cells at goal.

    Returns
    -------
    dict of str to dict
        ``lowest`` (ratio), ``cell`` ("name dtype"), ``at_goal`` and ``timed`` (counts); only
        peers timed in at least one cell.
    """
    out = {}
    for p in GRID_GOAL_PEERS:
        ratios = [(r["ratio_to_cnet"][p], f"{r['workload']} {r['dtype']}") for r in rows
                  if p in r["ratio_to_cnet"]]
        if ratios:
            lowest, cell = min(ratios)
            out[p] = {"lowest": lowest, "cell": cell, "timed": len(ratios),
                      "at_goal": sum(ratio >= GRID_GOAL for ratio, _ in ratios)}
    return out


def print_grid_summary(rows):
    """One line per goal peer: how many cells meet the goal, and the worst one."""
    for p, s in grid_summary(rows).items():
        print(f"  {p}: {s['at_goal']}/{s['timed']} cells at >= {GRID_GOAL}x; lowest "
              f"{s['lowest']:.2f}x ({s['cell']})")
