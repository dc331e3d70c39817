"""cnet against its numpy twin as batch size, hidden width and rows double."""
from cnet import _kernels
from cnet.bench.peers import neural_net_peer
from cnet.bench.report import format_us
from cnet.bench.timing import noisy_peers, time_per_epoch
from cnet.bench.workloads import DTYPES, Workload, moons_workload, wide_workload


def _thinned(values, quick):
    """``values``, or with --quick every other one and the last: the same range, fewer points."""
    values = tuple(values)
    if not quick:
        return values
    return values[::2] + (values[-1:] if len(values) % 2 == 0 else ())


def scaling_cases(quick):
    """(what varies, its value, workload) for the scaling table.

    Batch size varies on the wide network with fewer rows; hidden width and rows on the seed
    problem, whose first layer is small enough to cross from cnet's hand-written matmul loops
    to BLAS within the range. With ``quick``, every other value of each (and the last).
    """
    wide = wide_workload(n_samples=1024 if quick else 2048)
    cases = [("batch", b, Workload("wide", wide.X, wide.y, wide.layers, wide.learning_rate,
                                   b, wide.loss_every, max_epochs=50))
             for b in _thinned((32, 64, 128, 256, 512, 1024), quick)]
    cases += [("width", h, moons_workload(240, hidden=h))
              for h in _thinned((8, 16, 32, 64, 128, 256, 512), quick)]
    cases += [("rows", n, moons_workload(n))
              for n in _thinned((128, 256, 512, 1024, 2048, 4096, 8192, 16384), quick)]
    return cases


def scaling_rows(opts, dtype_name):
    """cnet and its numpy twin as batch size, hidden width and rows double."""
    rows = []
    for kind, value, wl in scaling_cases(opts.quick):
        X = wl.X.astype(DTYPES[dtype_name])
        timed = time_per_epoch({b: neural_net_peer(wl, X, b).train
                                for b in ("cython", "numpy")},
                               opts.scaling_target_s, wl.max_epochs, opts.repeats,
                               opts.settle_s)
        c, n = timed["cython"]["seconds_per_epoch"], timed["numpy"]["seconds_per_epoch"]
        rows.append({
            "vary": kind, "value": value, "dtype": dtype_name, "layers": wl.layers,
            "n_samples": len(X), "batch_size": wl.step,
            "cnet_us": c * 1e6, "numpy_us": n * 1e6, "numpy_over_cnet": n / c,
            "epochs": {b: t["epochs"] for b, t in timed.items()},
            "spread": {b: t["spread"] for b, t in timed.items()},
            # The first layer's forward product, batch x features @ features x units.
            "first_layer_blas": bool(_kernels.matmul_uses_blas(wl.step, wl.layers[1],
                                                               wl.layers[0])),
        })
        r = rows[-1]
        print(f"{kind:<6}{value:>7}  {str(r['layers']):<18}{r['n_samples']:>7}"
              f"{r['batch_size']:>7}{format_us(c):>11}{format_us(n):>11}{r['numpy_over_cnet']:>12.1f}x"
              f"{'yes' if r['first_layer_blas'] else 'no':>7}"
              + ("   noisy" if noisy_peers(timed) else ""), flush=True)
    return rows
