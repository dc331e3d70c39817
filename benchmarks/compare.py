"""Time cnet against its numpy twin, scikit-learn and PyTorch, epoch for epoch.

The comparison lives in the package (``cnet/bench/``) so that ``cnet bench`` runs it for
installed users too; this script runs the same thing from the source tree and writes its
JSON under ``benchmarks/results/``. ``python benchmarks/compare.py --help`` for the options.
"""
from pathlib import Path

from cnet.bench import main

if __name__ == "__main__":
    main(default_json=Path(__file__).resolve().parent / "results" / "compare.json",
         prog="python benchmarks/compare.py")
