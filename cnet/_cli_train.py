"""``cnet train``: a scikit-learn Pipeline (imputer, one-hot encoder, scaler, cnet MLP) fitted
on a CSV table, scored on a held-out split and saved with what the command did."""
import importlib.util
import os
import re
import warnings

import numpy as np

from cnet import _csv_input as tables
from cnet._cli_errors import CommandError, Interrupted

# The defaults are chosen for small tables, the command line's usual input: wine's 142
# training rows converge in 150 epochs at most with them (adam, batches of 32, rate 0.003),
# where scikit-learn's defaults (full batches of 142, rate 0.001, 200 epochs) stop
# unconverged. Early stopping is off: its 10% validation split of a small table is a
# dozen rows, too few to judge an epoch by.
DEFAULTS = {"hidden": "16", "activation": "relu", "solver": "adam", "epochs": 300,
            "learning_rate": 0.003, "batch_size": 32, "alpha": 1e-4, "test_size": 0.2,
            "seed": 0, "na": "error", "out": "model.npz"}
# An integer target with at most this many distinct values is a set of classes.
MAX_INTEGER_CLASSES = 20

# The option each scikit-learn parameter comes from, to name it in fit's errors.
OPTION_OF = {"hidden_layer_sizes": "--hidden", "max_iter": "--epochs",
             "learning_rate_init": "--learning-rate", "batch_size": "--batch-size",
             "alpha": "--alpha", "solver": "--solver", "activation": "--activation"}

REFIT_NOTE = ("the saved model is the one trained on the training split, not refit on all "
              "rows, so the held-out score is the score of the model in the file "
              "(--test-size 0 trains on every row, with no score)")


def add_arguments(parser):
    """The options of ``cnet train``, each with its meaning and default in ``--help``."""
    d = DEFAULTS
    parser.add_argument("data", help="CSV file with a header line (UTF-8, with or without BOM)")
    parser.add_argument("--target", required=True, metavar="COLUMN",
                        help="the column to predict")
    parser.add_argument("--task", choices=["auto", "classify", "regress"], default="auto",
                        help="auto: classify text labels and integer labels with at most "
                             f"{MAX_INTEGER_CLASSES} distinct values, regress numbers "
                             "(default: %(default)s)")
    parser.add_argument("--sep", metavar="CHAR",
                        help="the column separator, one character or \\t (default: guessed "
                             "from the file among , ; tab |)")
    parser.add_argument("--drop", action="append", default=[], metavar="COL[,COL]",
                        help="columns to ignore (repeatable; default: none)")
    parser.add_argument("--na", choices=["error", "drop", "mean"], default=d["na"],
                        help="missing cells: error names the first one, drop removes their "
                             "rows, mean imputes each feature column's mean (a SimpleImputer "
                             "in the saved pipeline; labels cannot be imputed) "
                             "(default: %(default)s)")
    parser.add_argument("--encode", action="store_true",
                        help="one-hot encode text feature columns (a OneHotEncoder in the "
                             "saved pipeline; categories unseen in training become all "
                             "zeros); default: text feature columns are refused")
    parser.add_argument("--hidden", metavar="N[,N...]", default=d["hidden"],
                        help="hidden layer sizes, comma-separated, e.g. 8,4 "
                             "(default: %(default)s)")
    parser.add_argument("--activation", metavar="NAME", default=d["activation"],
                        help="hidden activation: relu, tanh, logistic, identity, ... "
                             "(default: %(default)s)")
    parser.add_argument("--solver", choices=["adam", "sgd", "lbfgs"], default=d["solver"],
                        help="the optimizer (default: %(default)s)")
    parser.add_argument("--epochs", metavar="N", type=int, default=d["epochs"],
                        help="most epochs (passes over the training rows); fewer when the "
                             "loss stops improving (default: %(default)s)")
    parser.add_argument("--learning-rate", metavar="RATE", type=float,
                        default=d["learning_rate"],
                        help="initial learning rate of adam and sgd (default: %(default)s)")
    parser.add_argument("--batch-size", metavar="N", type=int,
                        help=f"rows per gradient step (default: {d['batch_size']}, or every "
                             f"training row when there are fewer)")
    parser.add_argument("--alpha", metavar="A", type=float, default=d["alpha"],
                        help="L2 penalty on the weights (default: %(default)s)")
    parser.add_argument("--early-stopping", action="store_true",
                        help="stop when the score on 10%% of the training rows stops "
                             "improving (default: off; on small tables that is a dozen rows)")
    parser.add_argument("--test-size", metavar="SHARE", type=float,
                        default=d["test_size"],
                        help="share of rows held out for the score, stratified by class; 0 "
                             "trains on every row and gives no score (default: %(default)s)")
    parser.add_argument("--seed", metavar="N", type=int, default=d["seed"],
                        help="seed of the split and of the initial weights "
                             "(default: %(default)s)")
    parser.add_argument("--out", metavar="PATH", default=d["out"],
                        help="where to save the model (default: %(default)s)")
    parser.add_argument("--plot", metavar="PNG",
                        help="draw the loss curve into this PNG file (needs matplotlib; "
                             "default: no picture)")


def _hidden(text):
    parts = text.split(",")
    if not all(re.fullmatch(r"\s*[+-]?\d+\s*", p) for p in parts):
        raise CommandError(f"--hidden must be comma-separated integers such as 8,4; got "
                           f"{text!r}")
    return tuple(int(p) for p in parts)


def _columns_option(values):
    return [name for value in values for name in value.split(",") if name]


def _check_out_possible(path):
    """Refuse an --out that cannot be written before training, not after."""
    if os.path.isdir(path):
        raise CommandError(f"--out {path} is a directory; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CommandError(f"--out {path}: the folder {folder} does not exist")


def _check_plot_possible(path):
    if path is None:
        return
    if importlib.util.find_spec("matplotlib") is None:
        raise CommandError('--plot needs matplotlib: pip install "cnet-mlp[plot]"')
    from matplotlib.figure import Figure
    kind = os.path.splitext(path)[1][1:].lower()
    known = Figure().canvas.get_supported_filetypes()
    if kind and kind not in known:
        raise CommandError(f"--plot {path}: matplotlib writes {', '.join(sorted(known))}, "
                           f"not {kind}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CommandError(f"--plot {path}: the folder {folder} does not exist")


def _read(args):
    """The table's feature frame, labels, text columns and what was done to read them."""
    path = args.data
    frame = tables.read_table(path, args.sep, text=[args.target])
    tables.require_columns(path, frame, [args.target], "the --target")
    dropped = _columns_option(args.drop)
    tables.require_columns(path, frame, dropped, "named by --drop")
    if args.target in dropped:
        raise CommandError(f"--drop names the target column {args.target!r}")
    features = [c for c in frame.columns if c != args.target and c not in dropped]
    if not features:
        raise CommandError(f"{path} has no feature columns besides {args.target!r}")
    frame = frame[features + [args.target]]
    rows_read = len(frame)
    if args.na == "drop":
        frame = frame.dropna()
        if frame.empty:
            raise CommandError(f"{path}: every row has a missing cell (--na drop)")
    else:
        missing = tables.first_missing(frame[[args.target]])
        if missing:
            raise CommandError(f"{path}, line {missing[0]}, column {args.target!r}: missing "
                               f"label (a label cannot be imputed; --na drop drops its row)")
        missing = tables.first_missing(frame[features])
        if missing and args.na == "error":
            raise CommandError(f"{path}, line {missing[0]}, column {missing[1]!r}: missing "
                               f"value (--na drop drops such rows, --na mean imputes the "
                               f"column's mean)")
    X = frame[features].copy()
    tables.check_finite(path, X)
    text = tables.text_columns(X)
    for name in text:
        if not args.encode:
            line, value = tables.first_text_cell(X, name)
            raise CommandError(
                f"{path}, line {line}, column {name!r}: {value!r} is not a number; encode "
                f"the column as numbers, ignore it with --drop {name}, or one-hot encode text "
                f"columns with --encode")
        missing = tables.first_missing(X[[name]])
        if missing:
            raise CommandError(f"{path}, line {missing[0]}, column {name!r}: missing text "
                               f"(--na mean imputes numbers only; --na drop drops the row)")
        X[name] = X[name].astype(str)
    if args.na == "mean":
        empty = [c for c in features if c not in text and X[c].isna().all()]
        if empty:
            raise CommandError(f"{path}: column {empty[0]!r} has no values to take the mean "
                               f"of; --drop it")
    numeric = [c for c in features if c not in text]
    X[numeric] = X[numeric].astype(float)
    y = tables.labels(path, frame[args.target])
    return X, y, text, dropped, rows_read - len(frame)


def _task(args, y):
    """``"classify"`` or ``"regress"``, and a few words on why."""
    if args.task != "auto":
        task, why = args.task, "--task"
    elif y.dtype.kind == "U":
        task, why = "classify", "text labels"
    elif y.dtype.kind == "i" and len(np.unique(y)) <= MAX_INTEGER_CLASSES:
        task, why = "classify", f"at most {MAX_INTEGER_CLASSES} distinct integers"
    else:
        task, why = "regress", "numbers"
    if task == "regress" and y.dtype.kind == "U":
        raise CommandError(f"column {args.target!r} holds text, which cannot be regressed; "
                           f"use --task classify")
    return task, why


def _pipeline(args, task, text):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from cnet import MLPClassifier, MLPRegressor
    steps = []
    if text:
        # Dense output: the scaler after it centres columns, which a sparse matrix cannot.
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        steps.append(("encode", ColumnTransformer([("onehot", encoder, text)],
                                                  remainder="passthrough",
                                                  sparse_threshold=0)))
    if args.na == "mean":
        steps.append(("impute", SimpleImputer(strategy="mean")))
    steps.append(("scale", StandardScaler()))
    Model = MLPClassifier if task == "classify" else MLPRegressor
    steps.append(("mlp", Model(hidden_layer_sizes=_hidden(args.hidden),
                               activation=args.activation, solver=args.solver,
                               max_iter=args.epochs, learning_rate_init=args.learning_rate,
                               batch_size=(DEFAULTS["batch_size"] if args.batch_size is None
                                           else args.batch_size),
                               alpha=args.alpha,
                               early_stopping=args.early_stopping,
                               random_state=args.seed)))
    return Pipeline(steps)


def _split(args, X, y, task):
    from sklearn.model_selection import train_test_split
    if not 0 <= args.test_size < 1:
        raise CommandError(f"--test-size must be at least 0 and below 1, got {args.test_size}")
    if args.test_size == 0:
        return X, y, None, None
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=args.test_size, random_state=args.seed,
            stratify=y if task == "classify" else None)
    except ValueError as exc:
        raise CommandError(f"cannot hold out {args.test_size:g} of {len(y)} rows: {exc} "
                           f"(--test-size 0 holds out none)") from None
    return X_train, y_train, X_test, y_test


def _fit(pipeline, X, y, out):
    """Fit, with fit's warnings kept for the report; scikit-learn's parameter errors are the
    user's options, named."""
    from cnet.engine import InterruptedWarning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pipeline.fit(X, y)
        except (ValueError, TypeError) as exc:
            message = " ".join(str(exc).split())
            options = [o for p, o in OPTION_OF.items() if f"'{p}'" in message or
                       message.startswith(p)]
            raise CommandError(f"{options[0]}: {message}" if options else message) from None
    # fit catches Ctrl-C itself and keeps the epochs done; the command must not save that
    # model as if it were the one asked for.
    if any(issubclass(w.category, InterruptedWarning) for w in caught):
        raise Interrupted(f"interrupted; {out} was not written")
    lines = []
    for w in caught:
        line = " ".join(str(w.message).split())
        if line not in lines:
            lines.append(line)
    return lines, any(w.category.__name__ == "ConvergenceWarning" for w in caught)


def _stopping(args, model, unconverged):
    """One line: the epochs run and whether (and why) training stopped."""
    epochs = f"epochs run: {model.n_iter_} of {args.epochs}"
    if args.solver == "lbfgs":
        return f"{epochs} (lbfgs iterations), " + ("not converged" if unconverged
                                                    else "converged")
    if unconverged or model.n_iter_ >= args.epochs:
        return f"{epochs}, not converged (more --epochs, or a larger --learning-rate, may help)"
    if args.early_stopping:
        return (f"{epochs}, stopped early: the validation score did not improve by "
                f"{model.tol:g} for {model.n_iter_no_change} epochs (best "
                f"{model.best_validation_score_:.4f}; the model keeps that epoch's weights)")
    return (f"{epochs}, converged: the training loss improved by less than {model.tol:g} for "
            f"{model.n_iter_no_change} epochs")


def _describe_labels(y, task):
    if task == "regress":
        return f"numbers from {y.min():g} to {y.max():g}"
    classes = np.unique(y)
    shown = ", ".join(str(c) for c in classes[:10]) + (", ..." if len(classes) > 10 else "")
    return f"{len(classes)} classes ({shown})"


def _plot(model, path):
    from matplotlib.figure import Figure

    from cnet import plot
    # A Figure of its own, not pyplot's: no window, no global state, nothing to close.
    figure = Figure(figsize=(6, 4.5))
    plot.loss_curve(model, ax=figure.subplots())
    try:
        figure.savefig(path, dpi=100, bbox_inches="tight")
    except OSError as exc:
        raise CommandError(f"--plot {path}: {exc.strerror or exc}") from None


def train(args):
    """``cnet train``: fit a Pipeline on a CSV table, score it on held-out rows, save it."""
    _check_out_possible(args.out)
    _check_plot_possible(args.plot)
    _hidden(args.hidden)      # before reading the table: a typo fails at once
    X, y, text, dropped, rows_dropped = _read(args)
    task, why = _task(args, y)
    pipeline = _pipeline(args, task, text)
    X_train, y_train, X_test, y_test = _split(args, X, y, task)
    if args.batch_size is None:
        # Not scikit-learn's warning about a batch larger than the table: the default fits.
        pipeline.set_params(mlp__batch_size=min(DEFAULTS["batch_size"], len(y_train)))
    print(f"{args.data}: {len(X) + rows_dropped} rows"
          + (f" ({rows_dropped} with missing cells dropped)" if rows_dropped else "")
          + f", {X.shape[1]} feature columns"
          + (f" ({len(text)} one-hot encoded)" if text else "")
          + f"; target {args.target!r}: {_describe_labels(y, task)}: "
          f"{'classification' if task == 'classify' else 'regression'} ({why})", flush=True)
    warned, unconverged = _fit(pipeline, X_train, y_train, args.out)
    model = pipeline[-1]
    for line in warned:
        print(f"warning: {line}")
    print(_stopping(args, model, unconverged))
    metadata = {"command": "cnet train", "data": os.path.basename(args.data),
                "target": args.target, "task": task, "columns": list(X.columns),
                "dropped_columns": dropped, "encoded_columns": text, "na": args.na,
                "rows_dropped": rows_dropped, "test_size": args.test_size,
                "seed": args.seed, "training_rows": len(y_train),
                "refit_on_all_rows": False, "epochs_run": int(model.n_iter_),
                "converged": not unconverged and model.n_iter_ < args.epochs}
    if X_test is not None and task == "regress" and len(y_test) < 2:
        print(f"held-out R²: undefined on {len(y_test)} row (it needs 2; a larger --test-size "
              f"gives more)")
    elif X_test is not None:
        score = float(pipeline.score(X_test, y_test))
        name = "accuracy" if task == "classify" else "R²"
        split = "stratified " if task == "classify" else ""
        print(f"held-out {name}: {score:.4f} on {len(y_test)} rows ({split}--test-size "
              f"{args.test_size:g}, --seed {args.seed})")
        metadata.update(held_out_score=score, score_name=name, held_out_rows=len(y_test))
    else:
        print("held-out score: none (--test-size 0: every row was used for training)")
    _save(pipeline, args.out, metadata)
    layers = [int(u) for u in model._layers]
    steps = " -> ".join(name for name, _ in pipeline.steps)
    kept = (f"trained on the {len(y_train)} training rows, not refit on all rows, so the "
            f"score above is this model's" if X_test is not None else
            f"trained on all {len(y_train)} rows")
    print(f"saved {args.out}: Pipeline {steps}, {type(model).__name__} {layers}; {kept}")
    if args.plot:
        _plot(model, args.plot)
        print(f"loss curve drawn in {args.plot}")


def _save(pipeline, path, metadata):
    from cnet import persistence
    try:
        persistence.save(pipeline, path, metadata=metadata)
    except OSError as exc:
        raise CommandError(re.sub(r"^\[Errno \d+\] ", "", str(exc))) from None
    except (TypeError, ValueError) as exc:
        raise CommandError(f"cannot save {path}: {exc}") from None
