"""The ``cnet`` command line: ``train``, ``predict``, ``info``, ``export``, ``sample-data``,
``demo`` and ``bench``.

Every failure the user can cause ends in one line on stderr and an exit status: 2 for a
usage or data error, 130 for Ctrl-C, 141 (as a Unix tool killed by SIGPIPE) when the reader
of the output goes away, as ``cnet predict ... | head -1`` does; never a traceback.
"""
import argparse
import os
import sys
import warnings

from cnet import _cli_info, _cli_predict, _cli_train
from cnet._cli_errors import (EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, CommandError,
                              Interrupted)
from cnet._csv_input import TableError

__all__ = ["main", "CommandError", "Interrupted", "EXIT_INTERRUPTED"]

SAMPLE = "wine.csv"


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors as one line (and ``--help`` to say more)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _formatter(prog):
    return argparse.HelpFormatter(prog, max_help_position=30)


def sample_data(args):
    """``cnet sample-data``: copy the wine table into the current directory."""
    from importlib.resources import files

    from cnet._atomic import atomic_write
    data = (files("cnet") / "data" / SAMPLE).read_bytes()
    try:
        with open(args.out, "rb") as existing:
            if existing.read() == data:
                print(f"{args.out} is already the sample table")
                return
        raise CommandError(f"{args.out} exists and is not the sample table; remove it or "
                           f"give --out another name")
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        raise CommandError(f"{args.out} is a directory") from None
    try:
        with atomic_write(args.out) as out:
            out.write(data)
    except OSError as exc:
        raise CommandError(str(exc)) from None
    print(f"wrote {args.out}: 178 wines, 13 measurements each and the column 'cultivar' "
          f"(Barolo, Grignolino or Barbera); UCI wine data, CC BY 4.0")


def export(args):
    """``cnet export``: write a model file as ONNX (needs the onnx extra)."""
    model = _cli_predict.load_model(args.model)
    try:
        from cnet.onnx_export import export_onnx
    except ImportError as exc:
        raise CommandError(_missing_onnx(exc)) from None
    try:
        export_onnx(model, args.onnx)
    except ImportError as exc:
        raise CommandError(_missing_onnx(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot write {args.onnx}: {exc.strerror or exc}") from None
    except (TypeError, ValueError) as exc:
        raise CommandError(f"cannot export {args.model}: {' '.join(str(exc).split())}") \
            from None
    print(f"wrote {args.onnx}")


def _missing_onnx(exc):
    message = " ".join(str(exc).split())
    if "pip install" in message:
        return message
    return f'ONNX export needs the onnx extra: pip install "cnet-mlp[onnx]" ({message})'


def _parser():
    from cnet import __version__
    parser = _Parser(prog="cnet", description="cnet neural networks: train, predict and "
                                              "inspect models from CSV files")
    parser.add_argument("--version", action="version", version=f"cnet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)
    demo = commands.add_parser("demo", help="train the tutorials' network with both backends",
                               formatter_class=_formatter)
    demo.add_argument("--iterations", type=int, default=20000,
                      help="full-batch epochs of each backend (default: %(default)s)")
    # Its options belong to cnet.bench, which parses them (and its own --help).
    commands.add_parser("bench", add_help=False,
                        help="time cnet against its numpy twin, scikit-learn and PyTorch")
    data = commands.add_parser(
        "sample-data", formatter_class=_formatter,
        help=f"write the sample table {SAMPLE} (178 wines, 13 measurements, the cultivar) "
             f"into the current directory",
        description="Write the sample table that ships with cnet: the UCI wine data (CC BY "
                    "4.0), 13 numeric columns and the text column 'cultivar'.")
    data.add_argument("--out", default=SAMPLE, metavar="PATH",
                      help="where to write it (default: %(default)s)")
    tr = commands.add_parser(
        "train", formatter_class=_formatter,
        help="train a scaled MLP on a CSV file, score it on held-out rows, save it",
        description="Train a scikit-learn Pipeline (optional one-hot encoder and mean "
                    "imputer, a StandardScaler and a cnet MLPClassifier or MLPRegressor) on "
                    "a CSV file, print its accuracy or R² on a held-out split, and save it. "
                    f"Refit: {_cli_train.REFIT_NOTE}.")
    _cli_train.add_arguments(tr)
    pr = commands.add_parser("predict", formatter_class=_formatter,
                             help="predict a CSV file with a saved model, as CSV",
                             description="Write a saved model's predictions for each row of "
                                         "a CSV file as CSV: a column 'prediction', or with "
                                         "--proba one column per class.")
    _cli_predict.add_arguments(pr)
    info = commands.add_parser("info", formatter_class=_formatter,
                               help="describe a model file",
                               description="Print what a model file holds: its kind and "
                                           "steps, layers, classes, feature names, training "
                                           "loss, held-out score, file version, and the CPU "
                                           "build this cnet runs.")
    _cli_info.add_arguments(info)
    ex = commands.add_parser("export", formatter_class=_formatter,
                             help="write a model file as ONNX (needs the onnx extra)",
                             description="Convert a model file (a cnet model or a cnet train "
                                         "pipeline) to ONNX, for onnxruntime and other "
                                         'servers. Needs pip install "cnet-mlp[onnx]".')
    ex.add_argument("model", help="a model file written by cnet train or cnet.save")
    ex.add_argument("onnx", help="the ONNX file to write")
    return parser


def _run(args, rest):
    if args.command == "demo":
        from cnet.__main__ import main as demo_main
        demo_main(["--iterations", str(args.iterations)])
    elif args.command == "bench":
        from cnet.bench import main as bench_main
        bench_main(rest, prog="cnet bench")
    elif args.command == "sample-data":
        sample_data(args)
    elif args.command == "train":
        _cli_train.train(args)
    elif args.command == "predict":
        _cli_predict.predict(args)
    elif args.command == "info":
        _cli_info.info(args)
    else:
        export(args)


def _one_line_warning(command):
    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        print(f"cnet {command}: warning: {text}", file=sys.stderr)
    return show


def _quiet_stdout():
    """After a broken pipe: later writes, and the flush at exit, go nowhere, so Python prints
    no second error about the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass     # stdout is not a file (a test's capture): nothing will be flushed to a pipe


def main(argv=None):
    """Entry point of the ``cnet`` console script.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; defaults to ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0, 2 (usage or data error), 130 (Ctrl-C) or 141 (closed pipe).
    """
    parser = _parser()
    try:
        args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    except BrokenPipeError:      # --help into a pipe closed early
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    if rest and args.command != "bench":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(args.command)
            _run(args, rest)
            sys.stdout.flush()
    except (CommandError, TableError) as exc:
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
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    return 0


if __name__ == "__main__":   # pragma: no cover
    sys.exit(main())
