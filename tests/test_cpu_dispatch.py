"""The compiled build in use is the best the CPU supports, or the one CNET_CPU names."""
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import cnet
from cnet import _cpu, _kernels, engine

from _specs import specs


def _run(code, **env):
    # A fresh interpreter, away from the source checkout (whose cnet/ is not compiled): the
    # variant is chosen once, when cnet is imported.
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120, cwd=tempfile.gettempdir())


def test_the_best_supported_variant_is_active_by_default():
    level = _kernels.cpu_level()
    assert level in (1, 3, 4)
    supported = _cpu.supported()
    assert supported[0] == "baseline"
    assert all(_cpu.VARIANTS[v][1] <= level for v in supported)
    if "CNET_CPU" not in os.environ:
        assert _cpu.active() == supported[-1]


@pytest.mark.parametrize("variant", _cpu.supported())
def test_cnet_cpu_forces_a_variant_and_summary_names_it(variant):
    result = _run("import cnet, cnet._cpu as c, numpy as np\n"
                  "net = cnet.NeuralNet(iterations=2).fit(np.eye(2), [0, 1])\n"
                  "print(c.active()); print(net.summary().splitlines()[0])", CNET_CPU=variant)
    assert result.returncode == 0, result.stderr
    active, header = result.stdout.splitlines()
    assert active == variant and f"({variant} build)" in header


def test_an_unknown_variant_is_an_error_naming_the_choices():
    result = _run("import cnet", CNET_CPU="sse9")
    assert result.returncode != 0
    assert "CNET_CPU must be one of ['baseline', 'avx2', 'avx512'], got 'sse9'" in result.stderr


def test_a_variant_the_cpu_lacks_is_refused(monkeypatch):
    # As on a CPU without AVX-512: running its build would kill the process, so it is refused.
    monkeypatch.setattr(_cpu, "supported", lambda: ["baseline", "avx2"])
    monkeypatch.setenv("CNET_CPU", "avx512")
    with pytest.raises(ImportError, match="CNET_CPU=avx512: this CPU or this build does not "
                                          "provide it"):
        _cpu._choose()


def test_an_avx512_cpu_without_the_avx512_build_is_told_how_to_build_it(monkeypatch):
    # The AVX-512 loop is built on request only (setup.py): on a CPU that could run it, the
    # refusal says how to get it.
    monkeypatch.setattr(_cpu._kernels, "cpu_level", lambda: 4)
    monkeypatch.setattr(_cpu, "_built", lambda variant: variant != "avx512")
    monkeypatch.setenv("CNET_CPU", "avx512")
    with pytest.raises(ImportError, match=r"does not provide it; available here: "
                                          r"\['baseline', 'avx2'\]; build it with CNET_AVX512=1"):
        _cpu._choose()


def test_using_a_variant_in_one_thread_leaves_the_others_alone():
    import threading
    seen = []
    inside, release = threading.Event(), threading.Event()

    def worker():
        with _cpu.using("baseline"):
            seen.append(_cpu.active())
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    inside.wait(10)
    try:
        assert _cpu.active() == _cpu._default and seen == ["baseline"]
    finally:
        release.set()
        thread.join()


def test_every_variant_trains_the_same_network():
    # Independent of the twin tables: the builds differ only in rounding (FMA, vector width).
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((64, 5)), (rng.random((64, 1)) > 0.5).astype(float)
    layers = np.array([5, 16, 1], np.intp)
    start = rng.standard_normal(5 * 16 + 16 + 17) * 0.3
    results = []
    for variant in _cpu.supported():
        with _cpu.using(variant):
            params = start.copy()
            engine.train("cython", params, *specs(layers, "relu", "logistic", learning_rate=0.1,
                                                  batch_size=16, shuffle=True, seed=1,
                                                  loss_every=0), X, Y, 50)
            results.append(params)
    for params in results[1:]:
        np.testing.assert_allclose(params, results[0], rtol=1e-10, atol=1e-12)
    assert cnet.kernels.relu(np.array([-1.0, 2.0])).tolist() == [0.0, 2.0]


@pytest.mark.parametrize("variant", _cpu.supported())
def test_each_variant_runs_its_own_loop_and_the_one_build_of_the_raw_kernels(variant):
    # setup.py compiles every variant's loop from the baseline's generated C: each must still
    # be its own module, named by its package, and the raw kernels exist once, in the baseline.
    with _cpu.using(variant):
        train = _cpu.module("_train")
        assert train.__name__ == f"{_cpu.VARIANTS[variant][0]}._train"
        assert _cpu.module("_kernels") is _kernels
    assert (train is _cpu.module("_train")) == (variant == _cpu.active())
