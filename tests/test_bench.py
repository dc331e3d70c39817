"""cnet bench's peers and correctness gate: same start as cnet, same loss, failures reported.

Nothing here times anything; speed is what the benchmark prints, never an assertion.
"""
import contextlib
import dataclasses

import numpy as np
import pytest

import cnet
from cnet import bench
from cnet.bench import contention, gate, jax_peer, numba_peer, whole_fit
from cnet.bench.peers import Peer, neural_net_peer

DTYPES = ["float64", "float32"]


def _small(wl, n=60, gate_epochs=40):
    """``wl`` on its first n rows, so each gate runs in milliseconds (plus compilation)."""
    return dataclasses.replace(wl, X=wl.X[:n], y=wl.y[:n], gate_epochs=gate_epochs)


def test_initial_weights_are_cnets():
    wl = bench.seed_workload(hidden=(16, 8))
    net = cnet.NeuralNet(layers=wl.layers, iterations=0, random_state=0).fit(wl.X, wl.y)
    weights, biases = gate.he_normal_weights(wl.layers, np.float64)
    for k, (W, b) in enumerate(zip(weights, biases), start=1):
        np.testing.assert_array_equal(net.params[f"W{k}"], W)
        np.testing.assert_array_equal(net.params[f"b{k}"], b)

    wl = bench.digits10_workload()
    # A step of 1e-300 leaves every weight where it started: the fit shows its initial ones.
    clf = cnet.MLPClassifier(hidden_layer_sizes=(128,), solver="sgd", momentum=0,
                             learning_rate_init=1e-300, max_iter=1, random_state=0)
    with pytest.warns(Warning):
        clf.fit(wl.X, wl.y)
    weights, biases = gate.glorot_uniform_weights(wl.layers, np.float64)
    for got, want in zip(clf.coefs_ + clf.intercepts_, weights + biases):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype_name", DTYPES)
@pytest.mark.parametrize("make", [
    lambda: bench.seed_workload(), lambda: bench.seed_workload(hidden=(16, 8)),
    lambda: bench.digits10_workload("adam")], ids=["seed", "seed-16-8", "digits10-adam"])
def test_every_installed_peer_passes_the_gate(make, dtype_name):
    wl = _small(make(), n=100 if make().multiclass else 60,
                gate_epochs=2 if make().multiclass else 40)
    X = wl.X.astype(dtype_name)
    start, peers, notes = bench.build_peers(wl, X)
    # torch's Adam adds epsilon after the bias correction, scikit-learn's and cnet's before:
    # a different optimizer, which the float64 gate tells apart.
    outcomes = gate.gate_peers(peers, start, wl.gate_epochs, X, wl.y, wl.multiclass,
                               dtype_name)
    # (torch is optional: where it is not installed it is not among the peers.)
    expected_to_fail = ({"torch"} if wl.solver == "adam" and dtype_name == "float64"
                        and "torch" in outcomes else set())
    assert {p for p, o in outcomes.items() if not o["passed"]} == expected_to_fail
    assert not any(n.startswith("failed") for n in notes.values())


def test_the_gate_fails_a_peer_that_trains_something_else():
    wl = _small(bench.seed_workload())
    X = wl.X.astype(np.float64)
    start, peers, _ = bench.build_peers(wl, X, chosen=["cnet"])
    # The same network with a 1 % larger learning rate: plausible, fast and wrong.
    peers["other"] = neural_net_peer(dataclasses.replace(wl, learning_rate=0.00303), X, "numpy")
    peers["untrained"] = Peer(train=None, run_from=lambda W, b, epochs: (W, b))
    peers["broken"] = Peer(train=None, run_from=lambda W, b, epochs: 1 / 0)
    outcomes = gate.gate_peers(peers, start, wl.gate_epochs, X, wl.y, False, "float64")
    assert not outcomes["other"]["passed"] and outcomes["other"]["rel_diff"] > 1e-6
    assert not outcomes["untrained"]["passed"]
    assert outcomes["broken"]["failed"] == "failed: ZeroDivisionError: division by zero"


def test_peers_not_installed_say_so(monkeypatch):
    monkeypatch.setattr(jax_peer, "version", lambda: None)
    monkeypatch.setattr(numba_peer, "version", lambda: None)
    wl = _small(bench.seed_workload())
    _, peers, notes = bench.build_peers(wl, wl.X, chosen=["cnet", "numpy", "jax-fori",
                                                          "numba-np"])
    assert set(peers) == {"cnet", "numpy"}
    assert notes == {"jax-fori": "not installed", "numba-np": "not installed"}


def test_numba_peers_only_where_they_fit():
    wl = _small(bench.digits10_workload())
    _, peers, notes = bench.build_peers(wl, wl.X, chosen=["cnet", "numba-loops"])
    assert notes == {"numba-loops": "n/a"}


def test_a_failing_peer_is_reported_and_the_rest_still_run(capsys):
    def broken():
        raise TypeError("sparse input is not supported\nmore detail")
    timed = whole_fit.time_fits({"ok": lambda: "model", "broken": broken}, repeats=2,
                                settle_s=0)
    assert timed["broken"]["failed"] == "failed: TypeError: sparse input is not supported"
    assert len(timed["ok"]["runs_s"]) == 2 and timed["ok"]["model"] == "model"


def test_compare_row_prints_why_a_peer_was_not_timed(capsys):
    peers = ["cnet", "numpy", "torch", "jax-fori"]
    row = {"workload": "seed", "dtype": "float64", "gate_epochs": 40,
           "peers": {"cnet": {"seconds_per_epoch": 4e-6, "epochs": 10, "spread": 1.0},
                     "numpy": {"seconds_per_epoch": 4e-5, "epochs": 10, "spread": 1.0}},
           "ratio_to_cnet": {"cnet": 1.0, "numpy": 10.0},
           "not_timed": {"torch": "gate failed", "jax-fori": "failed: RuntimeError: boom"},
           "gate": {"torch": {"loss": 0.5, "reference_loss": 0.6, "rel_diff": 0.17,
                              "rtol": 1e-6}}}
    bench.print_compare_row(row, peers)
    out = capsys.readouterr().out
    assert "40.0 (10.0x)" in out and "gate failed" in out
    assert "jax-fori: failed: RuntimeError: boom" in out


def test_sparse_text_data_is_fixed_and_non_negative():
    X, y = whole_fit.sparse_text_data(n_samples=200, n_features=500, density=0.01)
    X2, y2 = whole_fit.sparse_text_data(n_samples=200, n_features=500, density=0.01)
    assert X.format == "csr" and X.nnz == 1000 and X.data.min() >= 0
    assert (X != X2).nnz == 0 and np.array_equal(y, y2) and 0.4 < y.mean() < 0.6


def test_the_load_and_threads_rows_are_workloads_of_cnet_bench():
    opts = bench.parse_args(["--workloads", "load,threads", "--quick"])
    assert opts.workloads == ["load", "threads"]
    assert set(bench.CONTENTION) <= set(bench.WORKLOADS)


def test_busy_processes_run_only_inside_the_block(monkeypatch):
    started = []
    real_popen = contention.subprocess.Popen

    def popen(*args, **kwargs):
        started.append(real_popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(contention.subprocess, "Popen", popen)
    monkeypatch.setattr(contention, "BUSY_WARMUP_S", 0)
    with contention.busy_processes(2):
        assert len(started) == 2 and all(p.poll() is None for p in started)
    assert all(p.poll() is not None for p in started)


def test_the_contention_rows_measure_both_policies(monkeypatch, capsys):
    # Tiny fits and no busy processes: the structure, not the speed.
    monkeypatch.setattr(contention, "EPOCHS", {"digits10": (1, 1), "wide10": (1, 1)})
    monkeypatch.setattr(contention, "busy_processes", lambda n: contextlib.nullcontext())
    monkeypatch.setattr(contention, "wide10_workload",
                        lambda quick: _small(bench.wide10_workload(quick=True), n=64))
    monkeypatch.setattr(contention, "digits10_workload",
                        lambda solver, quick: _small(bench.digits10_workload(), n=128))
    rows = contention.contention_rows(["digits10", "wide10"], quick=True, repeats=1,
                                      settle_s=0)
    assert [(r["workload"], r["policy"]) for r in rows] == [
        ("digits10", "on"), ("digits10", "off"), ("wide10", "on"), ("wide10", "off")]
    for r in rows:
        assert r["quiet_s"] > 0 and r["load"] > 0 and r["threads"] > 0
        assert r["load"] == pytest.approx(r["busy_s"] / r["quiet_s"])
        assert r["threads"] == pytest.approx(2 * r["quiet_s"] / r["two_threads_s"])
    contention.print_contention(rows)
    out = capsys.readouterr().out
    assert "goal <= 1.6x" in out and "goal >= 1.8x" in out
    assert out.count("digits10") == 2 and out.count("wide10") == 2
