"""``cnet predict``: a saved model's predictions (or class probabilities) for a CSV table."""
import csv
import sys

import numpy as np

from cnet import _csv_input as tables
from cnet._atomic import atomic_write
from cnet._cli_errors import CommandError


def add_arguments(parser):
    """The options of ``cnet predict``, each with its meaning and default in ``--help``."""
    parser.add_argument("model", help="a model file written by cnet train or cnet.save")
    parser.add_argument("data", help="CSV file with the model's feature columns (others are "
                                     "ignored)")
    parser.add_argument("--target", metavar="COLUMN",
                        help="a column to ignore, for a model saved without its column names "
                             "(default: none)")
    parser.add_argument("--sep", metavar="CHAR",
                        help="the column separator, one character or \\t (default: guessed "
                             "from the file among , ; tab |)")
    parser.add_argument("--proba", action="store_true",
                        help="write each class's probability, one column per class headed "
                             "by the class, instead of the predicted label (default: off)")
    parser.add_argument("--out", metavar="PATH",
                        help="write the CSV here, whole or not at all (default: standard "
                             "output)")


def load_model(path):
    """``cnet.load(path)``, its ValueError and OSError as one-line command errors."""
    from cnet import load
    try:
        return load(path)
    except (ValueError, OSError) as exc:
        raise CommandError(f"cannot load the model: {exc}") from None


def _feature_names(model, frame, args):
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        names = getattr(model, "feature_names_", None)
    if names is not None:
        names = [str(n) for n in names]
        tables.require_columns(args.data, frame, names, "the model was trained on them")
        return names, True
    n = model.n_features_in_
    names = [c for c in frame.columns if c != args.target]
    if len(names) != n:
        raise CommandError(f"{args.data}: the model needs {n} feature columns, {len(names)} "
                           f"found (the file has no column names; give --target to ignore the "
                           f"label column)")
    return names, False


def _encoded_columns(model):
    """The columns a pipeline's one-hot encoder reads (they hold text)."""
    steps = getattr(model, "steps", [])
    names = []
    for _, step in steps:
        for _, transformer, columns in getattr(step, "transformers_", []):
            if type(transformer).__name__ == "OneHotEncoder":
                names += [str(c) for c in columns]
    return names


def _imputes(model):
    return any(type(step).__name__ == "SimpleImputer" for _, step in getattr(model, "steps", []))


def features(model, frame, args):
    """The table's columns the model reads, checked, as the model takes them."""
    names, named = _feature_names(model, frame, args)
    X = frame[names].copy()
    text = _encoded_columns(model)
    for name in names:
        if name in text:
            # Missing text becomes "nan", a category unseen in training: all zeros.
            X[name] = X[name].astype(str)
        elif tables.text_columns(X[[name]]):
            line, value = tables.first_text_cell(X, name)
            raise CommandError(f"{args.data}, line {line}, column {name!r}: {value!r} is not "
                               f"a number")
    numeric = [n for n in names if n not in text]
    tables.check_finite(args.data, X[numeric])
    if not _imputes(model):
        missing = tables.first_missing(X[numeric])
        if missing:
            raise CommandError(f"{args.data}, line {missing[0]}, column {missing[1]!r}: "
                               f"missing value (the model imputes none; it was trained "
                               f"without --na mean)")
    X[numeric] = X[numeric].astype(float)
    # A model fitted on a DataFrame checks the column names it is given.
    if named and hasattr(model, "feature_names_in_"):
        return X
    return X.to_numpy(dtype=float)


def _rows(model, X, proba):
    """The header and the rows to write."""
    if not proba:
        y = model.predict(X)
        return ["prediction"], ([v.item() if hasattr(v, "item") else v] for v in y)
    if not hasattr(model, "predict_proba"):
        raise CommandError(f"--proba needs a classifier; this model is a "
                           f"{type(_final(model)).__name__}")
    probabilities = np.asarray(model.predict_proba(X))
    classes = getattr(_final(model), "classes_", None)
    if classes is None or len(classes) != probabilities.shape[1]:
        header = [f"proba_{j}" for j in range(probabilities.shape[1])]
    else:
        header = [str(c.item() if hasattr(c, "item") else c) for c in classes]
    return header, (map(float, row) for row in probabilities)


def _final(model):
    return model.steps[-1][1] if hasattr(model, "steps") else model


def predict(args):
    """``cnet predict``: write the predictions of a saved model for a CSV table as CSV."""
    model = load_model(args.model)
    # The one-hot columns as written, as at training: pandas would read a column of numbers
    # as floats, and "3" would become "3.0", a category the encoder never saw.
    frame = tables.read_table(args.data, args.sep, text=sorted(_encoded_columns(model)))
    X = features(model, frame, args)
    try:
        header, rows = _rows(model, X, args.proba)
    except ValueError as exc:
        raise CommandError(" ".join(str(exc).split())) from None
    if not args.out:
        _write(sys.stdout, header, rows)
        return
    try:
        # Like a model file, an output file is replaced whole or left as it was.
        with atomic_write(args.out, "w", newline="") as out:
            _write(out, header, rows)
    except OSError as exc:
        raise CommandError(str(exc)) from None


def _write(out, header, rows):
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
