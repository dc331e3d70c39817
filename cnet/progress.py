"""Progress of a long fit: training in chunks of about a tenth of a second, and a text bar.

Shuffling orders, dropout masks and loss recording depend only on the epoch number, so a
fit run as several calls of the compiled loop gives bitwise the result of one call; the
chunks only give Python a moment to redraw the bar, at most about ten times a second.
"""
import sys
import time

TARGET_SECONDS = 0.1


class ProgressBar:
    """A one-line text bar: ``[#####.....]  50%  epoch 100/200  loss 0.3127  0.4 s left``.

    Parameters
    ----------
    total : int
        Epochs in all.
    stream : file, default sys.stderr
    width : int, default 30
    """

    def __init__(self, total, stream=None, width=30):
        self.total = max(int(total), 1)
        self.stream = sys.stderr if stream is None else stream
        self.width = width
        self.start = time.perf_counter()
        self.updates = 0
        # Characters the last redraw left on the line: a shorter redraw pads over them, since
        # a carriage return only moves the cursor (spaces work on every stream, where the
        # terminal's erase-line code would show up as garbage in a log file or a notebook).
        self._drawn = 0

    def update(self, done, loss=None):
        """Redraw the bar for ``done`` epochs, with the latest loss if known."""
        fraction = min(done / self.total, 1.0)
        filled = int(round(fraction * self.width))
        elapsed = time.perf_counter() - self.start
        left = elapsed / fraction - elapsed if fraction > 0 else float("nan")
        text = (f"[{'#' * filled}{'.' * (self.width - filled)}] {fraction:4.0%}  "
                f"epoch {done}/{self.total}")
        if loss is not None:
            text += f"  loss {loss:.4f}"
        text += f"  {left:.1f} s left" if done < self.total else f"  {elapsed:.1f} s"
        self.stream.write("\r" + text.ljust(self._drawn))
        self._drawn = len(text)
        self.stream.flush()
        self.updates += 1

    def write(self, line):
        """Print ``line`` on a line of its own above the bar, which the next update redraws.

        Printed straight to the stream, a line would start over the bar's text and leave the
        rest of it behind.
        """
        self.stream.write("\r" + " " * self._drawn + "\r" + line + "\n")
        self.stream.flush()
        self._drawn = 0

    def close(self):
        """End the bar's line."""
        self.stream.write("\n")
        self.stream.flush()


def train_in_chunks(run, total, on_chunk):
    """Call ``run(first, count)`` over ``total`` epochs in chunks of ~TARGET_SECONDS.

    ``run`` trains epochs ``first .. first + count - 1`` and returns how many whole epochs
    it trained (fewer means it stopped); ``on_chunk(done)`` follows each chunk. Returns the
    epochs trained.
    """
    done, count = 0, 1
    while done < total:
        count = min(count, total - done)
        start = time.perf_counter()
        trained = run(done, count)
        elapsed = time.perf_counter() - start
        done += trained
        on_chunk(done)
        if trained < count:
            break
        # Grow or shrink the next chunk towards TARGET_SECONDS, at most 4x at a time.
        count = max(1, int(count * min(4.0, TARGET_SECONDS / max(elapsed, 1e-6))))
    return done
