"""A model file is never lost: killed saves, full disks and refused renames leave the old file.

The kill tests fork the saving process rather than start a new interpreter: a fork is saving
within microseconds, where importing cnet afresh takes seconds, so many kills fit in a few
seconds. The failure tests break one system call at a time (creating the temporary file,
fsync, the rename); they work as root, whom a read-only permission would not stop. The
full-disk case is real: the kernel refuses writes beyond RLIMIT_FSIZE, in a forked child.
"""
import csv
import errno
import itertools
import os
import random
import select
import signal
import stat
import time
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_moons
from sklearn.exceptions import ConvergenceWarning

import cnet
from cnet._atomic import atomic_write
from cnet.cli import main

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"),
                                reason="the saver is a forked process; no os.fork here")


@pytest.fixture(scope="module")
def big():
    """Two different 2000x1000 models (48 MB files): the old one on disk and the new one."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 2000)), rng.standard_normal(20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return [cnet.MLPRegressor(hidden_layer_sizes=(1000,), max_iter=1,
                                  random_state=seed).fit(X, y) for seed in (0, 1)]


@pytest.fixture(scope="module")
def small():
    X, y = make_moons(100, noise=0.2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return [cnet.MLPClassifier((8,), max_iter=5, random_state=seed).fit(X, y)
                for seed in (0, 1)], X


def which(path, models):
    """The index of the model ``path`` holds, or the reason it holds none of them."""
    try:
        loaded = cnet.load(path)
    except ValueError as exc:
        return f"unreadable: {exc}"
    for i, model in enumerate(models):
        if all(np.array_equal(a, b) for a, b in zip(loaded.coefs_, model.coefs_)):
            return i
    return "a model that is neither"


def others(directory, *keep):
    """Names in ``directory`` besides ``keep``: temporary files left behind."""
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


def fork_saver(save):
    """Run ``save()`` in a forked child that never returns into pytest; its pid."""
    pid = os.fork()
    if pid == 0:   # pragma: no cover - the child
        code = 1
        try:
            save()
            code = 0
        finally:
            os._exit(code)
    return pid


def kill(pid):
    """SIGKILL ``pid`` and reap it; its wait status."""
    os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def read_to_end(fd, pid, timeout=60):
    """All a forked child writes to ``fd`` until it exits, and its wait status.

    A child that hangs (a deadlock after fork, a write that never returns) would hold a plain
    read or waitpid forever: past ``timeout`` seconds it is killed and the test fails.
    """
    deadline = time.monotonic() + timeout
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                kill(pid)
                pytest.fail(f"the forked saver neither finished nor exited in {timeout} s; "
                            f"killed it after it wrote {b''.join(chunks)!r}")
            chunk = os.read(fd, 4096)
            if not chunk:   # end of file: the child has exited, and closed its end
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks), os.waitpid(pid, 0)[1]


@needs_fork
def test_a_save_killed_at_any_moment_leaves_the_old_model_or_the_new_one(big, tmp_path):
    path = tmp_path / "model.npz"
    big[0].save(path)
    start = time.perf_counter()
    big[1].save(tmp_path / "timing.npz")
    save_s = time.perf_counter() - start
    (tmp_path / "timing.npz").unlink()
    rng = random.Random(0)
    outcomes, renames, leftovers = [], [], 0
    # The kills must land both before the saver's first rename and after one, or the test
    # proves little. One timing of a save is a poor guide on a loaded machine, so the saver
    # reports each rename down a pipe: to land after one, a kill waits for that report; to
    # land before the first, it sleeps less than a save, halving the sleep while it is late.
    # About 15 s, at least 10 kills, and never past 20 s whatever the disk.
    soft, hard = time.monotonic() + 15, time.monotonic() + 20
    while len(outcomes) < 30 and time.monotonic() < hard:
        covered = 0 in renames and max(renames) > 0
        if time.monotonic() > soft and covered and len(outcomes) >= 10:
            break
        on_disk = outcomes[-1] if outcomes else 0
        # Save the other model first, then alternate: every save changes the file.
        order = itertools.cycle([big[1 - on_disk], big[on_disk]])
        reports, report_w = os.pipe()

        def save_and_report_each_rename():   # runs in the child only
            real_replace = os.replace

            def replace(*args, **kwargs):
                real_replace(*args, **kwargs)
                os.write(report_w, b"r")
            os.replace = replace
            os.close(reports)
            for _ in itertools.count():
                next(order).save(path)

        pid = fork_saver(save_and_report_each_rename)
        os.close(report_w)
        if 0 in renames:
            wait_for, sleep_s = rng.randrange(3), save_s
        else:   # every kill so far came after the first rename
            wait_for, sleep_s = 0, save_s / 2 ** len(renames)
        for _ in range(wait_for):
            ready, _, _ = select.select([reports], [], [], 30)
            if not ready or os.read(reports, 1) != b"r":
                status = kill(pid)
                os.close(reports)
                pytest.fail(f"the saver reported no rename in 30 s (wait status {status}): "
                            f"save does not write beside and rename, or it failed")
        # From just after the rename waited for (or the fork) into the save that follows.
        time.sleep(rng.uniform(0, sleep_s))
        status = kill(pid)
        # The saver is dead and the parent holds no write end: the reads below end.
        renames.append(wait_for + len(b"".join(iter(lambda: os.read(reports, 4096), b""))))
        os.close(reports)
        assert os.WIFSIGNALED(status), f"the saver died before it was killed ({status})"
        outcomes.append(which(path, big))
        for name in others(tmp_path, "model.npz"):   # the killed saver's temporary file
            (tmp_path / name).unlink()
            leftovers += 1
        if not isinstance(outcomes[-1], int):
            break
    counts = {o: outcomes.count(o) for o in set(outcomes)}
    report = (f"{len(outcomes)} kills, outcomes {counts}, renames before each kill {renames}, "
              f"{leftovers} temporary files left")
    print(report)
    assert all(isinstance(o, int) for o in outcomes), report
    assert 0 in renames and max(renames) > 0, report


@needs_fork
def test_a_save_killed_between_the_write_and_the_rename_leaves_the_old_model(big, tmp_path):
    path = tmp_path / "model.npz"
    big[0].save(path)
    ready, signal_fd = os.pipe()

    def save_but_stop_before_the_rename():   # runs in the child only
        def stall(*args, **kwargs):
            os.write(signal_fd, b"x")
            time.sleep(60)
        os.replace = stall
        big[1].save(path)

    pid = fork_saver(save_but_stop_before_the_rename)
    os.close(signal_fd)
    readable, _, _ = select.select([ready], [], [], 60)
    # A saver that exits early closes the pipe, which select reports as readable too: only
    # the byte says it reached the rename.
    reached = bool(readable) and os.read(ready, 1) == b"x"
    status = kill(pid)
    os.close(ready)
    assert reached, (f"the saver never called os.replace (wait status {status}): save does not "
                     f"write beside and rename, or it failed first")
    assert which(path, big) == 0
    # The new model was whole in its temporary file: the kill came after the write.
    temporary, = others(tmp_path, "model.npz")
    assert which(tmp_path / temporary, big) == 1


@needs_fork
def test_a_disk_that_fills_up_mid_write_leaves_the_old_model(small, tmp_path):
    import resource   # POSIX only, like os.fork, which needs_fork checks
    (old, new), _ = small
    path = tmp_path / "model.npz"
    old.save(path)
    before = path.read_bytes()
    report_r, report_w = os.pipe()

    def save_on_a_small_disk():   # runs in the child only
        # The kernel refuses to grow any file past this size (EFBIG), as if the disk were
        # full; without the signal's default action, the write returns the error.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) // 2, resource.RLIM_INFINITY))
        try:
            new.save(path)
            os.write(report_w, b"saved")
        except OSError as exc:
            os.write(report_w, f"{exc.errno}|{type(exc).__name__}|{exc}".encode())

    pid = fork_saver(save_on_a_small_disk)
    os.close(report_w)
    report, status = read_to_end(report_r, pid)
    report = report.decode()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and report, (
        f"the saver failed (wait status {status}, report {report!r})")
    code, kind, message = report.split("|")
    assert int(code) == errno.EFBIG and kind == "OSError"
    assert str(path) in message and "unchanged" in message
    assert path.read_bytes() == before
    assert others(tmp_path, "model.npz") == []


@pytest.mark.parametrize("broken,code,kind", [
    ("open", errno.EROFS, OSError),       # a read-only filesystem: no temporary file at all
    ("open", errno.EACCES, PermissionError),
    ("fsync", errno.ENOSPC, OSError),     # space runs out when the data reach the disk
    ("replace", errno.EACCES, PermissionError),
    ("replace", errno.EROFS, OSError),
])
def test_a_failed_save_keeps_the_old_file_removes_its_own_and_says_why(
        small, tmp_path, monkeypatch, broken, code, kind):
    (old, new), X = small
    path = tmp_path / "model.npz"
    old.save(path)
    before = path.read_bytes()
    real = getattr(os, broken)

    def fail(*args, **kwargs):
        if broken == "open" and not str(args[0]).startswith(str(tmp_path) + os.sep):
            return real(*args, **kwargs)
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, broken, fail)
    with pytest.raises(kind, match=f"cannot write {path}.*unchanged") as info:
        new.save(path)
    monkeypatch.undo()
    assert info.value.errno == code and isinstance(info.value.__cause__, OSError)
    assert path.read_bytes() == before
    assert others(tmp_path, "model.npz") == []
    np.testing.assert_array_equal(cnet.load(path).predict(X), old.predict(X))


def test_a_parameter_json_cannot_hold_fails_before_any_file_is_touched(small, tmp_path,
                                                                     monkeypatch):
    (old, _), _ = small
    path = tmp_path / "model.npz"
    old.save(path)
    before = path.stat()
    X, y = make_moons(50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        odd = cnet.MLPClassifier((4,), max_iter=2,
                                 random_state=np.random.RandomState(0)).fit(X, y)
    monkeypatch.setattr("cnet.persistence.atomic_write",
                        lambda *a, **k: pytest.fail("a file was opened"))
    with pytest.raises(ValueError, match="cannot save parameter random_state"):
        odd.save(path)
    assert path.stat().st_mtime_ns == before.st_mtime_ns and others(tmp_path, "model.npz") == []


def test_an_interrupted_write_leaves_nothing_behind(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(path, "w") as file:
            file.write("half of the new")
            raise KeyboardInterrupt
    assert path.read_text() == "old" and others(tmp_path, "out.txt") == []


def test_what_writing_in_place_kept_is_kept(tmp_path):
    path = tmp_path / "out.bin"
    with atomic_write(path) as file:   # a new file: the umask decides, not mkstemp's 0600
        file.write(b"1")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    path.chmod(0o640)
    link = tmp_path / "link.bin"
    link.symlink_to(path)
    with atomic_write(link) as file:   # the link is followed, the permissions kept
        file.write(b"2")
    assert link.is_symlink() and path.read_bytes() == b"2"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert others(tmp_path, "out.bin", "link.bin") == []


def test_a_device_is_written_to_not_replaced():
    # As root, replacing /dev/null with a regular file would succeed, and break the machine.
    with atomic_write(os.devnull, "w") as file:
        file.write("predictions")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_bad_arguments(small, tmp_path):
    import io
    (old, _), _ = small
    with pytest.raises(TypeError, match="got BytesIO: an open file cannot be replaced whole"):
        old.save(io.BytesIO())
    with pytest.raises(ValueError, match="mode must be"):
        with atomic_write(tmp_path / "x", "a"):
            pass
    with pytest.raises(IsADirectoryError, match=f"cannot write {tmp_path}"):
        old.save(tmp_path)


def _iris_like_csv(path):
    X, y = make_moons(60, noise=0.2, random_state=0)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["a", "b", "label"])
        writer.writerows([[*row, label] for row, label in zip(X.tolist(), y.tolist())])


def test_the_command_line_outputs_are_replaced_whole_or_left_alone(tmp_path, monkeypatch,
                                                                     capsys):
    data, model, predictions = tmp_path / "d.csv", tmp_path / "m.npz", tmp_path / "p.csv"
    _iris_like_csv(data)
    assert main(["train", str(data), "--target", "label", "--epochs", "5",
                 "--out", str(model)]) == 0
    assert main(["predict", str(model), str(data), "--out", str(predictions)]) == 0
    saved_model, saved_predictions = model.read_bytes(), predictions.read_bytes()
    assert others(tmp_path, "d.csv", "m.npz", "p.csv") == []
    capsys.readouterr()

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(os, "replace", refuse)
    assert main(["train", str(data), "--target", "label", "--epochs", "7", "--seed", "1",
                 "--out", str(model)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {model}" in err and err.count("\n") == 1
    assert main(["predict", str(model), str(data), "--target", "label",
                 "--out", str(predictions)]) == 2
    assert f"cannot write {predictions}" in capsys.readouterr().err
    assert model.read_bytes() == saved_model and predictions.read_bytes() == saved_predictions
    assert others(tmp_path, "d.csv", "m.npz", "p.csv") == []


def test_a_model_is_saved_to_a_device(small):
    # zipfile seeks back to patch sizes in, which a character device cannot do.
    (model, _), _ = small
    model.save(os.devnull)
    cnet.persistence.save(model, os.devnull)
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


@needs_fork
@pytest.mark.timeout(60)   # a saver that failed before opening the pipe would leave us waiting
def test_a_model_is_written_whole_to_a_pipe(small, tmp_path):
    (model, _), X = small
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    pid = fork_saver(lambda: model.save(fifo))
    with open(fifo, "rb") as reader:
        data = reader.read()
    assert os.waitpid(pid, 0)[1] == 0
    (tmp_path / "copy.npz").write_bytes(data)
    np.testing.assert_array_equal(cnet.load(tmp_path / "copy.npz").predict(X), model.predict(X))


def test_a_name_ending_in_a_separator_is_refused_not_created(small, tmp_path):
    (model, _), _ = small
    for name in [f"{tmp_path / 'missingdir'}{os.sep}", f"{tmp_path}{os.sep}"]:
        with pytest.raises(IsADirectoryError, match="ending in a separator is a directory"):
            model.save(name)
    assert others(tmp_path) == []
    with pytest.raises(IsADirectoryError, match="a directory"):
        with atomic_write(f"{tmp_path / 'out.txt'}{os.sep}", "w") as file:
            file.write("never")
    assert others(tmp_path) == []
