"""Running the ``cnet`` command as a user does, from the tests: a child process of the
console script's entry point, importing the cnet under test (the source tree of an in-place
build, or site-packages of an installed one), and small CSV writers."""
import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_wine

import cnet

# Where the cnet under test lives; the entry point module sits beside the package.
ROOT = str(Path(cnet.__file__).parent.parent)


def env(**extra):
    """The environment of a child: the cnet under test first on its path."""
    path = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}


def command(*args):
    """The argv of ``cnet args...`` (the console script's ``_cnet_command:main``)."""
    return [sys.executable, "-m", "_cnet_command", *map(str, args)]


def run(*args, cwd, **extra_env):
    """Run ``cnet args...`` in ``cwd``; the CompletedProcess, text mode."""
    return subprocess.run(command(*args), capture_output=True, text=True, cwd=cwd,
                          env=env(**extra_env), timeout=300)


def write_csv(path, header, rows, **kwargs):
    with open(path, "w", newline="", **kwargs) as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_wine(path):
    """scikit-learn's wine table as CSV: 13 measurements and the class as ``label`` (0, 1,
    2), the issue's test table."""
    data = load_wine()
    rows = [[*map(repr, map(float, x)), int(label)] for x, label in zip(data.data, data.target)]
    return write_csv(path, [*data.feature_names, "label"], rows)


def one_line_error(result):
    """True when a run failed as the command line promises: one line, no traceback."""
    return (result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
            and result.stderr.startswith("cnet"))


def read_rows(path_or_text):
    text = Path(path_or_text).read_text() if isinstance(path_or_text, Path) else path_or_text
    return list(csv.reader(text.splitlines()))


def column(rows, j=0):
    return np.array([r[j] for r in rows[1:]])
