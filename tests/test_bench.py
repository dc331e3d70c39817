"""cnet bench's peers and correctness gate: same start as cnet, same loss, failures reported.

Nothing here times anything; speed is what the benchmark prints, never an assertion.
"""
import contextlib
import dataclasses
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cnet
from cnet import bench
from cnet.bench import c_floor, contention, floor, gate, grid, jax_peer, numba_peer, whole_fit
from cnet.bench.peers import Peer, neural_net_peer

DTYPES = ["float64", "float32"]

# benchmarks/compare_builds.py is a script, not a module of the package: loaded by its path.
_spec = importlib.util.spec_from_file_location(
    "compare_builds", Path(__file__).resolve().parents[1] / "benchmarks" / "compare_builds.py")
compare_builds = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare_builds)


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


# --- issue 17's rows: numba's fastmath peers, the shape grid, the seed's C floors, the wide
# rows' floor through cnet's BLAS, and compare_builds over them.

def _numba_required():
    # The fastmath peers are numba's; where numba is not installed they are not built at all
    # (test_peers_not_installed_say_so covers that case).
    if numba_peer.version() is None:
        pytest.skip("numba is not installed")


@pytest.mark.parametrize("dtype_name", DTYPES)
def test_the_fastmath_peers_are_built_and_pass_the_gate(dtype_name):
    _numba_required()
    wl = _small(bench.seed_workload(loss_every=1000))
    X = wl.X.astype(dtype_name)
    start, peers, notes = bench.build_peers(wl, X, chosen=["cnet", "numba-loops-fm",
                                                           "numba-np-fm"])
    assert set(peers) == {"cnet", "numba-loops-fm", "numba-np-fm"} and not notes
    outcomes = gate.gate_peers(peers, start, wl.gate_epochs, X, wl.y, False, dtype_name)
    assert all(o["passed"] for o in outcomes.values()), outcomes
    # The fastmath forms really are other compilations of the same functions.
    assert numba_peer._LOOPS[True].targetoptions.get("fastmath")
    assert not numba_peer._LOOPS[False].targetoptions.get("fastmath")


def test_the_grid_is_every_hidden_width_at_every_row_count():
    cells = grid.grid_workloads()
    assert [(wl.layers, len(wl.X)) for wl in cells] == [
        ([2, h, 1], n) for n in (240, 2400, 24000) for h in (5, 50, 500)]
    for wl in cells:
        assert wl.name == f"grid-h{wl.layers[1]}-n{len(wl.X)}" and wl.numba
        assert wl.batch_size is None and wl.learning_rate == 0.003 and wl.loss_every == 1000
        assert 2 <= wl.gate_epochs <= 500
    # The small cells gate as long as the seed rows, the largest as briefly as allowed.
    assert cells[0].gate_epochs == 500 and cells[-1].gate_epochs == 2


@pytest.mark.parametrize("dtype_name", DTYPES)
def test_the_grid_peers_pass_the_gate_on_the_smallest_rows(dtype_name):
    chosen = grid.grid_peers(bench.PEERS)
    assert chosen == ["cnet", "numba-loops-fm", "jax-fori", "numba-loops"]
    for wl in grid.grid_workloads()[:3]:   # 240 rows, H = 5, 50, 500
        X = wl.X.astype(dtype_name)
        start, peers, notes = bench.build_peers(wl, X, chosen)
        assert not any(n.startswith("failed") for n in notes.values()), notes
        outcomes = gate.gate_peers(peers, start, wl.gate_epochs, X, wl.y, False, dtype_name)
        assert all(o["passed"] for o in outcomes.values()), (wl.name, outcomes)


def test_the_grid_table_prints(monkeypatch, capsys, tmp_path):
    # Two tiny cells, one fast peer, the shortest timings: the table, not the speed.
    tiny = [dataclasses.replace(wl, X=wl.X[:50], y=wl.y[:50], gate_epochs=5)
            for wl in grid.grid_workloads()[:2]]
    monkeypatch.setattr(grid, "grid_workloads", lambda: tiny)
    opts = bench.parse_args(["--workloads", "grid", "--quick", "--peers", "numpy,numba-np-fm",
                             "--json", str(tmp_path / "out.json")])
    opts.target_s, opts.repeats, opts.settle_s = 0.002, 1, 0
    out = bench.run(opts)
    text = capsys.readouterr().out
    assert "grid: [2, H, 1]" in text and "goal >= 1.2x" in text
    assert [(r["workload"], r["dtype"]) for r in out["grid"]] == [
        ("grid-h5-n240", "float64"), ("grid-h5-n240", "float32"),
        ("grid-h50-n240", "float64"), ("grid-h50-n240", "float32")]
    # --peers names no grid peer but numba-np-fm's family: cnet alone, then the summary.
    assert all(set(r["peers"]) == {"cnet"} for r in out["grid"])
    assert text.count("grid-h5-n240") == 2 and text.count("grid-h50-n240") == 2


def test_the_grid_summary_finds_the_lowest_ratio():
    rows = [{"workload": "grid-h5-n240", "dtype": "float64",
             "ratio_to_cnet": {"cnet": 1.0, "jax-fori": 1.5, "numba-loops-fm": 0.8}},
            {"workload": "grid-h50-n240", "dtype": "float32",
             "ratio_to_cnet": {"cnet": 1.0, "jax-fori": 1.1}}]
    summary = grid.grid_summary(rows)
    assert summary["jax-fori"] == {"lowest": 1.1, "cell": "grid-h50-n240 float32", "timed": 2,
                                   "at_goal": 1}
    assert summary["numba-loops-fm"]["at_goal"] == 0 and summary["numba-loops-fm"]["timed"] == 1


def _floor_row():
    return {"workload": "seed-loss1000", "dtype": "float64", "gate": {}, "not_timed": {},
            "peers": {"cnet": {"seconds_per_epoch": 2e-6, "epochs": 10, "spread": 1.0},
                      "numba-loops-fm": {"seconds_per_epoch": 3e-6, "epochs": 10,
                                         "spread": 1.0}},
            "ratio_to_cnet": {"cnet": 1.0, "numba-loops-fm": 1.5}}


def test_a_missing_floor_dir_is_a_column_not_a_crash(tmp_path, capsys):
    missing = tmp_path / "no-floor-here"
    row = c_floor.add_floors(_floor_row(), missing, repeats=1)
    assert row["workload"] == "seed-floors" and row["floor_dir"] is None
    assert row["floors_us"] == dict.fromkeys(["scalar", "vec", "vec_native"], "not found")
    assert row["cnet_over_floor"] == {}
    c_floor.print_seed_floor(row)
    out = capsys.readouterr().out
    assert out.count("not found") >= 4 and str(missing) in out and "--floor-dir" in out
    assert "3.0 (1.50x)" in out   # the numba column still shows


def _fake_floor_dir(path, us):
    """A floor directory whose programs print fixed times, as the real ones print theirs."""
    path.mkdir()
    (path / "seed_dump.py").write_text("print(240)\n")
    for source, speed in (("seed_limit.c", us[0]), ("seed_limit_vec.c", us[1])):
        (path / source).write_text(
            "#include <stdio.h>\nint main(void) {\n#ifdef __FAST_MATH__\n"
            f'  printf("x epochs=20000 us_per_epoch={us[2]}\\n");\n#else\n'
            f'  printf("x epochs=20000 us_per_epoch={speed}\\n");\n#endif\n  return 0; }}\n')
    return path


def test_the_floors_are_compiled_as_run_sh_compiles_them_and_read(tmp_path, capsys):
    if shutil.which("gcc") is None:
        pytest.skip("no gcc: the floors are C programs")   # then they read "failed: no gcc"
    floor_dir = _fake_floor_dir(tmp_path / "floor", (8.0, 4.0, 1.0))
    found, looked = c_floor.find_floor_dir(floor_dir)
    assert found == floor_dir and looked == [floor_dir]
    row = c_floor.add_floors(_floor_row(), floor_dir, repeats=2)
    # vec_native alone is built with -ffast-math, as run.sh builds it.
    assert row["floors_us"] == {"scalar": 8.0, "vec": 4.0, "vec_native": 1.0}
    assert row["cnet_over_floor"] == pytest.approx({"scalar": 0.25, "vec": 0.5,
                                                    "vec_native": 2.0})
    c_floor.print_seed_floor(row)
    out = capsys.readouterr().out
    assert f"floors from {floor_dir}" in out and "2.00x" in out and "0.25x" in out


def test_a_floor_program_that_prints_nonsense_is_reported(tmp_path, capsys):
    if shutil.which("gcc") is None:
        pytest.skip("no gcc: the floors are C programs")
    floor_dir = _fake_floor_dir(tmp_path / "floor", (8.0, 4.0, 1.0))
    (floor_dir / "seed_limit.c").write_text('#include <stdio.h>\nint main(void) '
                                            '{ printf("nothing\\n"); return 0; }\n')
    floors = c_floor.c_floors(floor_dir, repeats=1)
    assert floors["scalar"] == "failed: ValueError" and floors["vec"] == 4.0


def test_the_new_options_parse():
    opts = bench.parse_args(["--workloads", "grid,seed-floors", "--floor-dir", "/x/floor",
                             "--peers", "numba-loops-fm,numba-np-fm,jax-fori"])
    assert opts.workloads == ["grid", "seed-floors"] and str(opts.floor_dir) == "/x/floor"
    assert opts.peers == ["cnet", "numba-loops-fm", "numba-np-fm", "jax-fori"]
    assert bench.parse_args([]).floor_dir is None
    assert {"grid", "seed-floors"} <= set(bench.parse_args([]).workloads)
    with pytest.raises(SystemExit):
        bench.parse_args(["--peers", "numba-fastmath"])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_scipy_blas_floor_computes_the_products(dtype):
    rng = np.random.default_rng(0)
    A, W = rng.standard_normal((7, 5)).astype(dtype), rng.standard_normal((5, 3)).astype(dtype)
    dZ = rng.standard_normal((7, 3)).astype(dtype)
    tol = {"rtol": 1e-12 if dtype == np.float64 else 1e-5}
    out = np.full((10, 3), np.nan, dtype)   # a slice of a bigger buffer, as the floor uses
    floor._scipy_matmul(A, W, out[:7])
    np.testing.assert_allclose(out[:7], A @ W, **tol)
    dW = np.empty((5, 3), dtype)
    floor._scipy_matmul(A.T, dZ, dW)
    np.testing.assert_allclose(dW, A.T @ dZ, **tol)
    dA = np.empty((7, 5), dtype)
    floor._scipy_matmul(dZ, W.T, dA)
    np.testing.assert_allclose(dA, dZ @ W.T, **tol)


def test_the_wide_floor_names_both_blas_libraries():
    libs = floor.blas_libraries()
    assert set(libs) == {"numpy", "scipy"} and all(isinstance(v, str) for v in libs.values())
    wl = _small(bench.wide10_workload(quick=True), n=64)
    for blas in ("numpy", "scipy"):
        assert floor.matmul_floor(wl, np.float32, repeats=1, settle_s=0, blas=blas) > 0
    with pytest.raises(ValueError, match="blas"):
        floor.matmul_floor(wl, np.float32, 1, 0, blas="mkl")


def test_compare_builds_reads_every_kind_of_row():
    result = {"rows": [{"workload": "seed", "dtype": "float64",
                        "peers": {"cnet": {"seconds_per_epoch": 3e-6}}}],
              "grid": [{"workload": "grid-h5-n240", "dtype": "float32",
                        "peers": {"cnet": {"seconds_per_epoch": 2e-6},
                                  "jax-fori": {"seconds_per_epoch": 4e-6}}}],
              "seed_floors": [dict(_floor_row(), workload="seed-floors",
                                   floors_us={"scalar": 8.0, "vec": "not found"})]}
    rows = compare_builds.rows_of(result)
    assert rows == pytest.approx({"seed float64": 3.0, "grid-h5-n240 float32": 2.0,
                                  "grid-h5-n240 float32 [jax-fori]": 4.0,
                                  "seed-floors float64": 2.0,
                                  "seed-floors float64 [numba-loops-fm]": 3.0,
                                  "seed-floors float64 [scalar floor]": 8.0})
    argv = compare_builds.bench_argv("grid", "", True, "x.json", Path("/f"))
    assert argv == ["--peers", "", "--workloads", "grid", "--json", "x.json",
                    "--floor-dir", "/f", "--quick"]


def test_compare_builds_runs_this_trees_bench_over_a_checkout():
    # --help: the runner imports the checkout's cnet, then this tree's bench, whose options
    # (the new rows among them) it prints. The checkout is where the cnet under test lives:
    # the source tree built in place, or site-packages for an installed cnet (the source
    # tree of a non-editable install holds no compiled modules).
    root = Path(cnet.__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", compare_builds._RUNNER, "--help"], cwd=root,
                          env=dict(os.environ, PYTHONPATH=str(root)), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "--floor-dir" in done.stdout and "seed-floors" in done.stdout
