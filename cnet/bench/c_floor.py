"""The seed row against the hand-written C floors of ``../shared/floor`` in the same run.

The floor directory (``run.sh``, ``seed_dump.py``, ``seed_limit.c``, ``seed_limit_vec.c``)
lies beside the checkout, not in it: it is a reference to measure against, not code of the
project, so nothing of it is copied here. Its C programs are compiled as its ``run.sh``
compiles them (the script's own last step, the wide GEMM floor through numpy, is left out: it
is :mod:`cnet.bench.floor`'s table, and on a loaded machine it alone takes minutes) and run on
the seed data its ``seed_dump.py`` writes, ``FLOOR_EPOCHS`` epochs with the loss every 1000,
as the seed-loss1000 row trains. Where the directory, a C compiler or a program is missing,
the columns say so and the rest of the bench runs.
"""
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cnet
from cnet.bench.report import format_us

# run.sh's three builds of the floor: (name, source, gcc flags).
FLOORS = (("scalar", "seed_limit.c", ("-O3",)),
          ("vec", "seed_limit_vec.c", ("-O3",)),
          ("vec_native", "seed_limit_vec.c", ("-O3", "-march=native", "-ffast-math")))
FLOOR_EPOCHS, FLOOR_LOSS_EVERY = 20000, 1000   # run.sh's arguments
# The peers shown beside the floors, when --peers includes them.
FLOOR_PEERS = ("numba-loops-fm", "numba-loops")
_FILES = ("seed_dump.py", "seed_limit.c", "seed_limit_vec.c")


def default_floor_dirs():
    """Where the floors are looked for when ``--floor-dir`` is not given.

    ``../shared/floor`` relative to the checkout cnet is imported from, and, when that
    checkout is a git worktree, relative to the repository's main checkout too.
    """
    checkout = Path(cnet.__file__).resolve().parents[1]
    dirs = [checkout.parent / "shared" / "floor"]
    try:
        common = subprocess.run(["git", "rev-parse", "--git-common-dir"], cwd=checkout,
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return dirs
    if common.returncode == 0 and common.stdout.strip():
        main_checkout = (checkout / common.stdout.strip()).resolve().parent
        dirs.append(main_checkout.parent / "shared" / "floor")
    return list(dict.fromkeys(dirs))


def find_floor_dir(floor_dir=None):
    """The floor directory to use and the places looked at.

    Parameters
    ----------
    floor_dir : path, optional
        ``--floor-dir``; when given, it is the only place looked at.

    Returns
    -------
    found : Path or None
        The first place holding the floor's files, else None.
    looked : list of Path
    """
    looked = [Path(floor_dir)] if floor_dir is not None else default_floor_dirs()
    found = next((d for d in looked if all((d / f).is_file() for f in _FILES)), None)
    return found, looked


def _us_per_epoch(text):
    match = re.search(r"us_per_epoch=([0-9.eE+-]+)", text)
    if match is None:
        raise ValueError(f"no us_per_epoch in the floor's output: {text.strip()[:200]!r}")
    return float(match.group(1))


def c_floors(floor_dir, repeats, settle_s=0.0):
    """Compile and run the seed's C floors; median µs per epoch of each.

    Parameters
    ----------
    floor_dir : Path or None
        From :func:`find_floor_dir`; None gives every floor as ``"not found"``.
    repeats : int
        Runs of each program (taking turns); the median is reported.
    settle_s : float
        Seconds of rest before each run.

    Returns
    -------
    dict of str to float or str
        Per floor in :data:`FLOORS`: µs per epoch, or a note (``"not found"``,
        ``"failed: <reason>"``).
    """
    names = [name for name, _, _ in FLOORS]
    if floor_dir is None:
        return dict.fromkeys(names, "not found")
    compiler = shutil.which("gcc")
    if compiler is None:
        return dict.fromkeys(names, "failed: no gcc")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        try:
            # The script runs seed_dump.py with the python3 on PATH; this one has numpy and
            # scikit-learn, which it needs.
            seed = subprocess.run([sys.executable, str(floor_dir / "seed_dump.py")],
                                  capture_output=True, text=True, check=True, timeout=120)
        except (OSError, subprocess.SubprocessError) as exc:
            return dict.fromkeys(names, f"failed: seed_dump.py: {type(exc).__name__}")
        out, programs = {}, {}
        for name, source, flags in FLOORS:
            exe = tmp / name
            built = subprocess.run([compiler, *flags, "-o", str(exe), str(floor_dir / source),
                                    "-lm"], capture_output=True, text=True, timeout=300)
            if built.returncode:
                out[name] = f"failed: gcc: {(built.stderr.strip().splitlines() or ['?'])[-1]}"
            else:
                programs[name] = exe
        runs = {name: [] for name in programs}
        for _ in range(repeats):
            for name, exe in programs.items():
                if name in out:
                    continue
                time.sleep(settle_s)
                try:
                    done = subprocess.run([str(exe), str(FLOOR_EPOCHS), str(FLOOR_LOSS_EVERY)],
                                          input=seed.stdout, capture_output=True, text=True,
                                          check=True, timeout=600)
                    runs[name].append(_us_per_epoch(done.stdout))
                except (OSError, subprocess.SubprocessError, ValueError) as exc:
                    out[name] = f"failed: {type(exc).__name__}"
        for name, times in runs.items():
            if name not in out:   # a program that failed once keeps its note
                out[name] = statistics.median(times)
    return {name: out[name] for name in names}


def floor_peers(chosen):
    """The peers of the seed-floors row: cnet and those of :data:`FLOOR_PEERS` in ``chosen``."""
    return ["cnet"] + [p for p in FLOOR_PEERS if p in chosen]


def add_floors(row, floor_dir, repeats, settle_s=0.0):
    """Measure the C floors now, just after ``row`` (the seed-loss1000 row in float64, from
    :func:`cnet.bench.command.compare_row`), and add them and cnet's ratios to it.

    Parameters
    ----------
    row : dict
        Renamed ``seed-floors``; gains ``floor_dir``, ``floor_dirs_looked``, ``floors_us``
        (see :func:`c_floors`) and ``cnet_over_floor``.
    floor_dir : path or None
        ``--floor-dir``, or None for :func:`default_floor_dirs`.
    repeats, settle_s
        As :func:`c_floors` takes them.

    Returns
    -------
    dict
        ``row``.
    """
    found, looked = find_floor_dir(floor_dir)
    floors = c_floors(found, repeats, settle_s)
    cnet_us = row["peers"]["cnet"]["seconds_per_epoch"] * 1e6
    row.update(workload="seed-floors", floor_dir=str(found) if found is not None else None,
               floor_dirs_looked=[str(d) for d in looked], floors_us=floors,
               cnet_over_floor={name: cnet_us / us for name, us in floors.items()
                                if isinstance(us, float)})
    return row


def print_seed_floor(row):
    """Print the seed-floors table: cnet, the numba peers and the floors, with the ratios."""
    peers = [p for p in FLOOR_PEERS if p in row["peers"] or p in row["not_timed"]]
    where = (f"floors from {row['floor_dir']}" if row["floor_dir"] else
             "floors not found (looked in " + ", ".join(row["floor_dirs_looked"])
             + "; --floor-dir says where)")
    print(f"\nseed-floors: the seed ([2, 5, 1], 240 rows, full batch, float64, loss every "
          f"1000 epochs) against numba's loops and the C floors of run.sh ({where}); "
          f"numba (/cnet) is its time over cnet's, cnet/floor is cnet's time over the "
          f"floor's; goal: cnet within 1.3x of vec_native (native fast-math C)")
    head = "".join(f"{p:>17}" for p in peers)
    floors = "".join(f"{name + ' µs':>14}{'cnet/floor':>12}" for name, _, _ in FLOORS)
    print(f"{'cnet µs':>10}{head}{floors}")
    timed, cnet_s = row["peers"], row["peers"]["cnet"]["seconds_per_epoch"]
    cells = f"{format_us(cnet_s):>10}"
    for p in peers:
        if p in timed:
            r = timed[p]["seconds_per_epoch"] / cnet_s
            cells += f"{format_us(timed[p]['seconds_per_epoch']) + f' ({r:.2f}x)':>17}"
        else:
            note = row["not_timed"][p]
            cells += f"{'failed' if note.startswith('failed') else note:>17}"
    for name, _, _ in FLOORS:
        us = row["floors_us"][name]
        if isinstance(us, float):
            cells += f"{us:>14.2f}{row['cnet_over_floor'][name]:>11.2f}x"
        else:
            cells += f"{'failed' if us.startswith('failed') else us:>14}{'-':>12}"
    print(cells, flush=True)
    for name, us in list(row["not_timed"].items()) + list(row["floors_us"].items()):
        if isinstance(us, str) and (us.startswith("failed") or us == "gate failed"):
            print(f"    {name}: {us}")
