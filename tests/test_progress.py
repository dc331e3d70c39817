"""verbose: a progress bar that changes nothing and redraws rarely."""
import io
import sys
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


class _TerminalLine:
    """A stream that keeps what a terminal would show: a carriage return moves the cursor back
    to the line's start, and characters then overwrite those under the cursor."""

    def __init__(self):
        self.lines, self.cursor = [[]], 0

    def write(self, text):
        for char in text:
            line = self.lines[-1]
            if char == "\r":
                self.cursor = 0
            elif char == "\n":
                self.lines.append([])
                self.cursor = 0
            else:
                if self.cursor < len(line):
                    line[self.cursor] = char
                else:
                    line.append(char)
                self.cursor += 1

    def flush(self):
        pass

    def shown(self):
        return ["".join(line).rstrip() for line in self.lines]


def test_terminal_line_emulation_keeps_remnants_of_a_plain_carriage_return():
    # The fake stream must be able to show the bug the bar avoids.
    line = _TerminalLine()
    line.write("\rlonger text")
    line.write("\rshort")
    assert line.shown() == ["shortr text"]


def test_a_shorter_redraw_leaves_nothing_of_a_longer_one():
    line = _TerminalLine()
    bar = progress.ProgressBar(1000, stream=line, width=10)
    bar.update(10, loss=123456.789)      # long: a loss and a time left
    first = line.shown()[-1]
    bar.update(1000)                      # shorter: no loss, the time taken
    last = line.shown()[-1]
    assert len(last) < len(first)
    assert last.startswith("[##########] 100%  epoch 1000/1000  ") and last.endswith(" s")
    assert "loss" not in last and "left" not in last
    bar.close()
    assert line.shown() == [last, ""]


def test_each_redraw_shows_exactly_its_own_text():
    line = _TerminalLine()
    bar = progress.ProgressBar(100, stream=line, width=5)
    for done, loss in [(1, 1e9), (2, None), (50, 0.5), (99, None), (100, None)]:
        bar.update(done, loss)
        shown = line.shown()[-1]
        assert f"epoch {done}/100" in shown and ("loss" in shown) == (loss is not None)
        # Nothing after the time at the end of the text.
        assert shown.endswith(" s") or shown.endswith(" s left"), shown


def test_a_line_printed_above_the_bar_takes_nothing_of_it():
    line = _TerminalLine()
    bar = progress.ProgressBar(100, stream=line, width=10)
    bar.update(50, loss=0.5)
    bar.write("loss 0.50000000")
    bar.update(100)
    bar.close()
    shown = line.shown()
    assert shown[0] == "loss 0.50000000"
    assert shown[1].startswith("[##########] 100%  epoch 100/100  ") and shown[2] == ""


def test_verbose_2_loss_lines_stand_alone(monkeypatch):
    # Each recorded loss on a line of its own, whole; the bar's last state on the last line.
    X, y = _data()
    line = _TerminalLine()
    monkeypatch.setattr(sys, "stderr", line)
    net = cnet.NeuralNet(layers=[4, 8, 1], iterations=2000, batch_size=50, loss_every=500,
                         verbose=2, random_state=0).fit(X, y)
    shown = line.shown()
    assert shown[:4] == [f"loss {v:.8f}" for v in net.loss_]
    assert shown[4].startswith("[") and "epoch 2000/2000" in shown[4] and shown[5:] == [""]
