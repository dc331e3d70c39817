"""The ``cnet`` command line."""
import argparse
import sys


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
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "demo":
        from cnet.__main__ import main as demo_main
        demo_main(["--iterations", str(args.iterations)])
