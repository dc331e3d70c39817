"""The ``cnet`` command line: ``cnet demo``, ``cnet bench``, ``cnet train``, ``cnet predict``."""
import argparse
import csv
import sys
import warnings

import numpy as np

from cnet._atomic import atomic_write


class CommandError(Exception):
    """A user error on the command line: printed as one line, exit status 2."""


class Interrupted(Exception):
    """Ctrl-C stopped a command: printed as one line, exit status 130 (128 + SIGINT), and
    nothing is written (a half-trained model is not a trained one)."""


# The shell's status for a command that SIGINT ended.
EXIT_INTERRUPTED = 130


def read_csv(path):
    """Header and rows of a CSV file, as lists of strings."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    rows = [r for r in rows if r]
    if len(rows) < 2:
        raise CommandError(f"{path} needs a header line and at least one row of data")
    header, data = rows[0], rows[1:]
    for i, row in enumerate(data, start=2):
        if len(row) != len(header):
            raise CommandError(f"{path}, line {i}: {len(row)} fields, the header has "
                               f"{len(header)}")
    return header, data


def numeric_columns(path, header, data, columns):
    """The named columns as a float array, with a clear error for non-numeric values."""
    X = np.empty((len(data), len(columns)))
    for j, name in enumerate(columns):
        k = header.index(name)
        for i, row in enumerate(data):
            try:
                X[i, j] = float(row[k])
            except ValueError:
                raise CommandError(f"{path}, line {i + 2}, column {name!r}: {row[k]!r} is "
                                   f"not a number") from None
    if not np.isfinite(X).all():
        raise CommandError(f"{path}: the features contain NaN or infinity")
    return X


def _labels(values):
    """Numbers if every value is one, else the strings."""
    try:
        return np.array([float(v) for v in values])
    except ValueError:
        return np.array(values)


def train(args):
    """``cnet train``: fit an MLP on a CSV file and save it."""
    from cnet import MLPClassifier, MLPRegressor
    header, data = read_csv(args.data)
    if args.target not in header:
        raise CommandError(f"{args.data} has no column {args.target!r}; its columns are "
                           f"{', '.join(header)}")
    features = [c for c in header if c != args.target]
    if not features:
        raise CommandError(f"{args.data} has no feature columns besides {args.target!r}")
    X = numeric_columns(args.data, header, data, features)
    y = _labels([row[header.index(args.target)] for row in data])
    task = args.task
    if task == "auto":
        # Strings, or few distinct whole numbers, are classes; anything else is a quantity.
        whole = y.dtype.kind == "f" and np.all(y == np.round(y))
        task = "classify" if y.dtype.kind == "U" or (whole and len(np.unique(y)) <= 20) \
            else "regress"
    if task == "regress" and y.dtype.kind == "U":
        raise CommandError(f"column {args.target!r} is not numeric; use --task classify")
    try:
        hidden = tuple(int(h) for h in args.hidden.split(",") if h)
    except ValueError:
        raise CommandError(f"--hidden must be comma-separated integers, got "
                           f"{args.hidden!r}") from None
    Model = MLPClassifier if task == "classify" else MLPRegressor
    model = Model(hidden_layer_sizes=hidden, max_iter=args.epochs,
                  learning_rate_init=args.learning_rate, random_state=args.seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")   # kept, not shown: the convergence warning of a short run
        model.fit(X, y)
    # fit catches Ctrl-C itself and keeps the epochs done; the command must not save that
    # model as if it were the one asked for.
    from cnet.engine import InterruptedWarning
    if any(issubclass(w.category, InterruptedWarning) for w in caught):
        raise Interrupted(f"interrupted; {args.out} was not written")
    model.feature_names_ = features
    try:
        model.save(args.out)
    except OSError as exc:
        raise CommandError(str(exc)) from None
    print(f"trained {Model.__name__} {[int(u) for u in model._layers]} on {len(X)} rows for "
          f"{model.n_iter_} epochs (final loss {model.loss_:.4g}); saved to {args.out}")


def predict(args):
    """``cnet predict``: predictions of a saved model for a CSV file, as CSV."""
    from cnet import load
    try:
        model = load(args.model)
    except (ValueError, OSError) as exc:
        raise CommandError(f"cannot load the model: {exc}") from None
    header, data = read_csv(args.data)
    n = model.n_features_in_
    names = getattr(model, "feature_names_", None)
    if names is not None:
        missing = [c for c in names if c not in header]
        if missing:
            raise CommandError(f"{args.data} lacks the column(s) the model was trained on: "
                               f"{', '.join(missing)}")
    else:
        names = [c for c in header if c != args.target]
        if len(names) != n:
            raise CommandError(f"{args.data}: the model needs {n} feature columns, "
                               f"{len(names)} found")
    X = numeric_columns(args.data, header, data, names)
    try:
        y = model.predict(X)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if not args.out:
        _write_predictions(sys.stdout, y)
        return
    try:
        # Like a model file, an output file is replaced whole or left as it was.
        with atomic_write(args.out, "w", newline="") as out:
            _write_predictions(out, y)
    except OSError as exc:
        raise CommandError(str(exc)) from None


def _write_predictions(out, y):
    """The predictions as CSV, one column headed ``prediction``."""
    writer = csv.writer(out)
    writer.writerow(["prediction"])
    for value in y:
        writer.writerow([value.item() if hasattr(value, "item") else value])


def main(argv=None):
    """Entry point of the ``cnet`` console script.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; defaults to ``sys.argv[1:]``.
    """
    parser = argparse.ArgumentParser(prog="cnet", description="cnet neural networks")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="train the tutorials' network with both backends")
    demo.add_argument("--iterations", type=int, default=20000)
    # Its options belong to cnet.bench, which parses them (and its own --help).
    commands.add_parser("bench", add_help=False,
                        help="time cnet against its numpy twin, scikit-learn and PyTorch")
    tr = commands.add_parser("train", help="train an MLP on a CSV file and save it")
    tr.add_argument("data", help="CSV file with a header line")
    tr.add_argument("--target", required=True, help="the column to predict")
    tr.add_argument("--hidden", default="16", help="hidden layer sizes, e.g. 8,4")
    tr.add_argument("--epochs", type=int, default=200)
    tr.add_argument("--learning-rate", type=float, default=0.001)
    tr.add_argument("--task", choices=["auto", "classify", "regress"], default="auto")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--out", default="model.npz", help="where to save the model")
    pr = commands.add_parser("predict", help="predict a CSV file with a saved model")
    pr.add_argument("model", help="a model file written by cnet train or save()")
    pr.add_argument("data", help="CSV file with the model's feature columns")
    pr.add_argument("--target", help="a column to ignore (the one the model predicts)")
    pr.add_argument("--out", help="write the predictions here instead of to stdout")
    args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if rest and args.command != "bench":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if args.command == "demo":
            from cnet.__main__ import main as demo_main
            demo_main(["--iterations", str(args.iterations)])
        elif args.command == "bench":
            from cnet.bench import main as bench_main
            bench_main(rest, prog="cnet bench")
        elif args.command == "train":
            train(args)
        else:
            predict(args)
    except CommandError as exc:
        print(f"cnet {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Interrupted as exc:
        print(f"cnet {args.command}: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        # Outside fit (reading, predicting, writing): output files are written whole or not
        # at all (atomic_write), so an interrupted command leaves them as they were.
        print(f"cnet {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":   # pragma: no cover
    sys.exit(main())
