"""NeuralNet.loss_curve_: the recorded losses, one per loss_every epochs, as the estimators'."""
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_moons
from sklearn.metrics import log_loss

import cnet


def _moons():
    return make_moons(120, noise=0.2, random_state=0)


@pytest.mark.parametrize("every", [1, 3, 7])
def test_entry_i_is_the_log_loss_after_i_times_loss_every_epochs(every):
    # Full batch: the loss an epoch records is that of the weights it starts from, i.e. of a
    # network trained for i * every epochs. scikit-learn's log_loss computes it independently
    # (float64; 1e-10 relative).
    X, y = _moons()
    kw = dict(layers=[2, 6, 1], learning_rate=0.1, random_state=0)
    net = cnet.NeuralNet(iterations=20, loss_every=every, **kw).fit(X, y)
    assert len(net.loss_curve_) == len(range(0, 20, every))
    for i, recorded in enumerate(net.loss_curve_):
        earlier = cnet.NeuralNet(iterations=i * every, **kw).fit(X, y)
        expected = log_loss(y, earlier.predict_proba(X))
        assert recorded == pytest.approx(expected, rel=1e-10), i


def test_default_is_one_entry_per_epoch_and_zero_records_none():
    X, y = _moons()
    net = cnet.NeuralNet(layers=[2, 4, 1], iterations=25, random_state=0).fit(X, y)
    assert len(net.loss_curve_) == 25 == net.n_iter_
    assert net.loss_curve_ == net.loss_ and isinstance(net.loss_curve_, list)
    quiet = cnet.NeuralNet(layers=[2, 4, 1], iterations=25, loss_every=0).fit(X, y)
    assert quiet.loss_curve_ == []


def test_a_copy_not_the_list_itself():
    X, y = _moons()
    net = cnet.NeuralNet(layers=[2, 4, 1], iterations=5, random_state=0).fit(X, y)
    curve = net.loss_curve_
    curve.append(-1.0)
    assert len(net.loss_curve_) == 5 and len(net.loss_) == 5


def test_unfitted_network_has_none():
    net = cnet.NeuralNet()
    assert not hasattr(net, "loss_curve_")
    with pytest.raises(AttributeError, match="not fitted"):
        net.loss_curve_
    X, y = _moons()
    fitted = cnet.NeuralNet(layers=[2, 4, 1], iterations=3).fit(X, y)
    assert not hasattr(clone(fitted), "loss_curve_")


def test_warm_start_appends():
    X, y = _moons()
    net = cnet.NeuralNet(layers=[2, 4, 1], iterations=10, loss_every=2, warm_start=True,
                         random_state=0).fit(X, y)
    first = net.loss_curve_
    net.fit(X, y)
    assert len(net.loss_curve_) == 10 and net.loss_curve_[:5] == first
    once = cnet.NeuralNet(layers=[2, 4, 1], iterations=20, loss_every=2,
                          random_state=0).fit(X, y)
    np.testing.assert_allclose(net.loss_curve_, once.loss_curve_, rtol=1e-12)


def test_saved_loaded_and_pickled_networks_have_it(tmp_path):
    X, y = _moons()
    net = cnet.NeuralNet(layers=[2, 4, 1], iterations=30, loss_every=4,
                         random_state=0).fit(X, y)
    net.save(tmp_path / "net.npz")
    loaded = cnet.load(tmp_path / "net.npz")
    assert loaded.loss_curve_ == net.loss_curve_ and len(loaded.loss_curve_) == 8
    # Stored once, as loss_: the file's header names no second copy.
    with np.load(tmp_path / "net.npz", allow_pickle=False) as members:
        header = members["header"].tobytes().decode()
    assert '"loss_"' in header and "loss_curve" not in header
    assert pickle.loads(pickle.dumps(net)).loss_curve_ == net.loss_curve_
