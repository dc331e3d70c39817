"""How long Ctrl-C takes to stop a long full-batch fit: prints one line per workload.

For each workload a child process fits ``NeuralNet`` (full batch, the tutorials' default) on
data large enough that one batch takes about a second or more; SIGINT is sent at a random
time inside the fit, and the latency is the time from the signal to ``fit`` returning
(CLOCK_MONOTONIC, shared by the two processes). The goal (issue 15) is under 250 ms on any
workload. The child also reports that the interrupt was honoured and the model predicts.

Usage: ``python scripts/interrupt_latency.py [--repeats N] [--seed S]``. It runs from the
source tree (the in-place build) or an installed cnet. Numbers depend on the machine and on
its load: say which when quoting them.
"""
import argparse
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

CHILD = textwrap.dedent("""
    import sys, time, warnings
    import numpy as np
    import scipy.sparse as sp
    import cnet
    kind = sys.argv[1]
    rng = np.random.default_rng(0)
    if kind == "wide":
        X = rng.standard_normal((4000, 2000)).astype(np.float32)
        layers = [2000, 1024, 1024, 1]
    elif kind == "rows":
        X = rng.standard_normal((200_000, 20))
        layers = [20, 64, 1]
    else:
        # Built from its parts: sp.random draws positions out of all n x d cells.
        n, d, per_row = 50_000, 5_000, 50
        indices = np.sort(rng.integers(0, d, (n, per_row)), axis=1).ravel()
        X = sp.csr_matrix((rng.standard_normal(n * per_row), indices,
                           np.arange(0, n * per_row + 1, per_row)), shape=(n, d))
        X.sum_duplicates()
        layers = [d, 256, 1]
    y = np.asarray(X[:, 0].toarray().ravel() if sp.issparse(X) else X[:, 0]) > 0
    net = cnet.NeuralNet(layers=layers, iterations=1, learning_rate=0.01, loss_every=0,
                         random_state=0)
    started = time.monotonic()
    net.fit(X, y)
    print(f"epoch {time.monotonic() - started:.3f}", flush=True)
    net.set_params(iterations=10**6)
    print("fitting", flush=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net.fit(X, y)
    returned = time.monotonic()
    interrupted = any("interrupted" in str(w.message) for w in caught)
    usable = bool(np.isfinite(net.predict_proba(X[:100])).all())
    print(f"returned {returned:.6f} interrupted {interrupted} usable {usable}", flush=True)
""")

WORKLOADS = {
    "wide": "4,000 x 2,000 float32, layers [2000, 1024, 1024, 1]",
    "rows": "200,000 x 20 float64, layers [20, 64, 1]",
    "sparse": "CSR 50,000 x 5,000 (1% stored), layers [5000, 256, 1]",
}


def latency(kind, rng_state, source_root):
    """Seconds from SIGINT to fit returning, the epoch's time, and the child's verdict."""
    env = dict(os.environ)
    if source_root is not None:
        env["PYTHONPATH"] = str(source_root) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, kind], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    epoch = float(proc.stdout.readline().split()[1])
    assert proc.stdout.readline().strip() == "fitting"
    # Somewhere inside the first few epochs, at a random point of a batch.
    time.sleep(random.Random(rng_state).uniform(0.2, 2.0) * epoch)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind}: the child failed:\n{err}")
    words = out.split()
    returned = float(words[words.index("returned") + 1])
    verdict = " ".join(words[words.index("interrupted"):])
    return returned - sent, epoch, verdict


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    source_root = root if (root / "cnet" / "__init__.py").exists() else None
    print(f"{'workload':8} {'epoch s':>8} {'latency ms (each run)':>24}  verdict")
    worst = 0.0
    for kind, what in WORKLOADS.items():
        times = []
        for r in range(args.repeats):
            seconds, epoch, verdict = latency(kind, f"{args.seed}-{kind}-{r}", source_root)
            times.append(seconds * 1000)
        worst = max(worst, max(times))
        print(f"{kind:8} {epoch:8.2f} {' '.join(f'{t:7.1f}' for t in times):>24}  {verdict}"
              f"   ({what})")
    print(f"worst latency {worst:.1f} ms (goal < 250 ms)")


if __name__ == "__main__":
    main()
