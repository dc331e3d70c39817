"""summary(): the table every model prints of itself."""
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

import cnet
from cnet import _kernels


def test_neural_net_summary_names_layers_counts_and_paths():
    net = cnet.NeuralNet(layers=[2, 5, 1])
    before = net.summary()
    assert "21 parameters" in before and "set by the data" in before
    X = np.random.default_rng(0).standard_normal((240, 2))
    net.fit(X.astype(np.float32), X[:, 0] > 0)
    text = net.summary()
    assert "dtype float32" in text and "backend cython" in text and "batch 240" in text
    assert "2 -> 5" in text and "relu" in text and "logistic (output)" in text
    # The seed network's products are small: hand-written, as matmul_uses_blas says.
    assert not _kernels.matmul_uses_blas(5, 240, 2)
    assert text.count("hand-written") == 2


def test_mlp_summary_reports_blas_for_wide_layers():
    X, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = cnet.MLPClassifier((128,), max_iter=1, batch_size=64, random_state=0).fit(X, y)
    text = clf.summary()
    assert "64 -> 128" in text and "128 -> 10" in text and "softmax (output)" in text
    assert f"{64 * 128 + 128 + 128 * 10 + 10} parameters" in text
    expected = ["BLAS" if _kernels.matmul_uses_blas(o, 64, i) else "hand-written"
                for i, o in ((64, 128), (128, 10))]
    lines = text.splitlines()[3:]
    assert [line.split()[-1] for line in lines] == [p.split()[-1] for p in expected]
