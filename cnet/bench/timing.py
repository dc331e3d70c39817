"""How a peer's epoch is timed: warm-up, calibrated epochs per fit, the median of rounds."""
import math
import statistics
import time

# Timed fits of one peer that differ by more than this factor get the row flagged as noisy.
NOISY_SPREAD = 1.25
# Seconds of rest before each timed run. OpenBLAS's worker threads spin for a while after a
# call before they sleep; numpy and cnet (through scipy) each load their own OpenBLAS, and on
# a 2-core machine one pool still spinning halves the speed of the next peer's BLAS calls.
SETTLE_S = 0.3
# The rest with --quick. The pools measured here spin about 0.1 s after their last call
# (OpenBLAS's default timeout, 2**28 TSC ticks), so this still outlasts them, with less margin.
SETTLE_QUICK_S = 0.15


def _seconds(train, epochs):
    start = time.perf_counter()
    done = train(epochs)
    return time.perf_counter() - start, done


def _round_up(x):
    """x rounded up to one significant digit (2272 -> 3000), so epoch counts read well."""
    if x <= 1:
        return 1
    scale = 10 ** math.floor(math.log10(x))
    return int(math.ceil(x / scale) * scale)


def calibrate(train, target_s, max_epochs):
    """Warm ``train`` up and choose the epochs of its timed fits.

    A one-epoch fit first pays the one-time costs (lazy initialisation, first calls); then
    the number of epochs grows until a fit takes a measurable time, which gives the epochs
    that make one fit last about ``target_s`` (at most ``max_epochs``). Slow peers thus run
    fewer epochs than fast ones: the cost of one epoch is what is compared, and a fit's fixed
    cost is small next to ``target_s``.

    Parameters
    ----------
    train : callable
        ``train(epochs)`` runs one complete fit and returns the number of epochs it trained.
    target_s : float
        Wanted duration of one timed fit.
    max_epochs : int

    Returns
    -------
    int
        Epochs per timed fit.
    """
    train(1)
    epochs = 1
    while True:
        seconds, done = _seconds(train, epochs)
        if epochs >= max_epochs or seconds >= target_s / 4:
            break
        epochs = min(max_epochs, epochs * max(2, int(target_s / 4 / max(seconds, 1e-6))))
    return min(max_epochs, _round_up(target_s * done / max(seconds, 1e-9)))


def time_per_epoch(trains, target_s, max_epochs, repeats, settle_s=SETTLE_S):
    """Median seconds per epoch of each of several trainers, each warmed up first.

    The timed fits go round the trainers in turn, so that a burst of load from elsewhere on
    the machine slows all of them rather than one: the ratios suffer less than the times.

    Parameters
    ----------
    trains : dict of str to callable
        ``train(epochs) -> epochs trained``, one complete fit per call.
    target_s, max_epochs
        See :func:`calibrate`.
    repeats : int
        Timed fits per trainer; their median is reported.
    settle_s : float
        Seconds of rest before each timed fit.

    Returns
    -------
    dict of str to dict
        Per trainer: ``seconds_per_epoch`` (median), ``epochs`` (per timed fit), ``runs_s``
        (the timed fits' durations) and ``spread`` (slowest over fastest timed fit).
    """
    epochs = {name: calibrate(train, target_s, max_epochs) for name, train in trains.items()}
    runs = {name: [] for name in trains}
    per_epoch = {name: [] for name in trains}
    for _ in range(repeats):
        for name, train in trains.items():
            time.sleep(settle_s)
            seconds, done = _seconds(train, epochs[name])
            runs[name].append(seconds)
            per_epoch[name].append(seconds / done)
    return {name: {"seconds_per_epoch": statistics.median(per_epoch[name]),
                   "epochs": epochs[name], "runs_s": runs[name],
                   "spread": max(per_epoch[name]) / min(per_epoch[name])} for name in trains}


def noisy_peers(results):
    """Names whose timed fits disagree by more than NOISY_SPREAD, to flag in the tables."""
    return [name for name, r in results.items() if r["spread"] > NOISY_SPREAD]


def median_seconds(run, repeats, settle_s=SETTLE_S):
    """The median wall time of ``repeats`` calls of ``run()``, each after ``settle_s`` of rest
    (so that no BLAS pool of the previous call is still spinning)."""
    times = []
    for _ in range(repeats):
        time.sleep(settle_s)
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
