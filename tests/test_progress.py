"""verbose: a progress bar that changes nothing and redraws rarely."""
import io
import time

import numpy as np

import cnet
from cnet import progress


def _data():
    X = np.random.default_rng(0).standard_normal((500, 4))
    return X, X[:, 0] * X[:, 1] > 0


def test_verbose_fit_equals_quiet_fit_bitwise(capsys):
    X, y = _data()
    kw = dict(layers=[4, 16, 1], iterations=3000, batch_size=50, learning_rate=0.01,
              loss_every=100, random_state=0)
    quiet = cnet.NeuralNet(**kw).fit(X, y)
    loud = cnet.NeuralNet(verbose=2, **kw).fit(X, y)
    np.testing.assert_array_equal(quiet._params_flat, loud._params_flat)
    assert quiet.loss_ == loud.loss_ and loud.n_iter_ == 3000
    err = capsys.readouterr().err
    assert "epoch 3000/3000" in err and "100%" in err
    assert err.count("loss 0.") >= len(loud.loss_)   # verbose=2 prints each recorded loss


def test_bar_redraws_at_most_about_ten_times_a_second():
    X, y = _data()
    stream = io.StringIO()
    original = progress.ProgressBar.__init__

    def init(self, total, stream_=None, width=30):
        original(self, total, stream, width)
        bars.append(self)

    bars = []
    progress.ProgressBar.__init__ = init
    try:
        start = time.perf_counter()
        cnet.NeuralNet(layers=[4, 16, 1], iterations=20000, batch_size=100, verbose=1,
                       loss_every=0, random_state=0).fit(X, y)
        elapsed = time.perf_counter() - start
    finally:
        progress.ProgressBar.__init__ = original
    # The first chunks are short while the chunk size is found (1, 4, 16, ... epochs).
    assert bars[0].updates <= 10 * elapsed + 12, (bars[0].updates, elapsed)


def test_train_in_chunks_covers_every_epoch_once():
    seen = []

    def run(first, count):
        seen.extend(range(first, first + count))
        return count
    assert progress.train_in_chunks(run, 1234, lambda done: None) == 1234
    assert seen == list(range(1234))
