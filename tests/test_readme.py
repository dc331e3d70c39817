"""README.md's examples run as written: each Python block pasted into a script, and the
command-line block pasted into a shell, run in a fresh process from a temporary directory.

A fresh process, as a reader's would be: nothing of this test run (imported modules, the
matplotlib backend chosen, the working directory) helps the example along. matplotlib draws
headless (MPLBACKEND=Agg), as on a machine without a display.
"""
import ast
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
# Imported, not just used through its marker: without the plugin the limit below would do
# nothing but warn.
import pytest_timeout  # noqa: F401

import cnet

README = Path(__file__).resolve().parent.parent / "README.md"
TEXT = README.read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, re.S)
# The command-line block: the first bash block after this marker (an HTML comment, which
# GitHub does not show).
CLI_MARKER = "<!-- tests/test_readme.py runs the bash block after this line"
# Where the cnet under test is imported from: the checkout for an in-place build, the
# installed package's site-packages otherwise.
CNET_PARENT = Path(cnet.__file__).resolve().parent.parent
# Values a REPL would show but a script drops: a bare name, attribute, subscript or tuple,
# and calls made only for their result.
SHOWN_CALLS = {"score", "predict", "predict_proba", "predict_log_proba", "decision_function",
               "summary", "get_params"}


def _block(containing):
    found = [block for block in BLOCKS if containing in block]
    assert len(found) == 1, f"{len(found)} README Python blocks contain {containing!r}"
    return found[0]


def _environment(tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(CNET_PARENT)}
    env["PATH"] = os.pathsep.join([str(_cnet_command_folder(tmp_path)), env.get("PATH", "")])
    return env


def _cnet_command_folder(tmp_path):
    """A folder holding the ``cnet`` command of the cnet under test.

    The installed console script when cnet is installed beside this interpreter (CI);
    otherwise (an in-place build) a two-line stand-in that runs the same entry point with
    this interpreter.
    """
    installed = Path(sys.executable).parent / "cnet"
    if installed.exists() and not (CNET_PARENT / "setup.py").exists():
        return installed.parent
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    command = folder / "cnet"
    command.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c '
                       f'"import sys; from cnet.cli import main; sys.exit(main())" "$@"\n')
    command.chmod(command.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return folder


def _run_script(code, tmp_path, epilogue=""):
    """Run ``code`` as a script from ``tmp_path``; ``epilogue`` runs after it, on its names."""
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    runner = ("import runpy, sys\n"
              "names = runpy.run_path(sys.argv[1], run_name='__main__')\n" + epilogue)
    result = subprocess.run([sys.executable, "-c", runner, str(script)], capture_output=True,
                            text=True, cwd=tmp_path, env=_environment(tmp_path), timeout=280)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


# The dask example starts a cluster: one that hangs must fail its block, not hold CI until
# its time limit. Every block takes seconds on an idle 2-core machine.
@pytest.mark.timeout(300)
@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.splitlines()[0][:40])
def test_readme_example_runs_as_a_script(block, tmp_path):
    _run_script(block, tmp_path)


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.splitlines()[0][:40])
def test_readme_example_prints_what_it_shows(block):
    # Pasted into a script, a line such as `net.score(X, y)` shows nothing.
    dropped = []
    for node in ast.walk(ast.parse(block)):
        if not isinstance(node, ast.Expr):
            continue
        value = node.value
        if isinstance(value, ast.Call):
            if isinstance(value.func, ast.Attribute) and value.func.attr in SHOWN_CALLS:
                dropped.append(node.lineno)
        elif not isinstance(value, ast.Constant):   # a docstring-like string is harmless
            dropped.append(node.lineno)
    assert not dropped, f"lines {dropped} of the block show a value only in a REPL: print it"


@pytest.mark.timeout(300)
def test_the_tour_prints_its_results(tmp_path):
    tour = BLOCKS[0]
    assert "cnet.NeuralNet" in tour and TEXT.index(tour) > TEXT.index("## A short tour")
    out = _run_script(tour, tmp_path).stdout.splitlines()
    accuracy = float(out[0])
    assert 0.8 <= accuracy <= 1.0, out[0]          # the README says ~0.9


@pytest.mark.timeout(300)
def test_the_plotting_example_draws_a_boundary_that_separates_the_moons(tmp_path):
    # The drawn regions are the classes the network predicts (tests/test_plot.py), so its
    # accuracy on the drawn points is how well the drawn boundary separates them: >= 0.95,
    # which no straight line reaches on these moons (a logistic regression: about 0.86).
    block = _block("plot.decision_boundary")
    result = _run_script(block, tmp_path, epilogue=(
        "net, X, y = names['net'], names['X'], names['y']\n"
        "print('accuracy of the plotted model', net.score(X, y))\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "print('a straight line', LogisticRegression().fit(X, y).score(X, y))\n"))
    shown = dict(line.rsplit(" ", 1) for line in result.stdout.splitlines()
                 if line.startswith(("accuracy of", "a straight")))
    assert float(shown["accuracy of the plotted model"]) >= 0.95, result.stdout
    assert float(shown["a straight line"]) < 0.95, result.stdout
    for picture in ("boundary.png", "loss.png"):
        assert (tmp_path / picture).stat().st_size > 10_000, picture


def _cli_block():
    start = TEXT.find(CLI_MARKER)
    assert start >= 0, "README.md lost the marker of its command-line block"
    found = re.search(r"```bash\n(.*?)```", TEXT[start:], re.S)
    assert found, "no bash block after the command-line block's marker"
    return found.group(1)


# A block that takes minutes (a benchmark) would cost CI more than it is worth: it fails here.
@pytest.mark.timeout(330)
def test_readme_command_line_block_runs_as_written(tmp_path):
    # Whatever the block says, run by bash from an empty directory with the cnet command of
    # the cnet under test on PATH; each command must succeed (errexit) without a traceback.
    # No pipefail: in `cnet predict ... | head -1` as in a reader's shell, what counts is that
    # the pipe ends quietly (no traceback), not how the writer learned that it closed.
    assert shutil.which("bash"), "bash runs the README's shell block"
    result = subprocess.run(["bash", "-eu", "-c", _cli_block()],
                            capture_output=True, text=True, cwd=tmp_path,
                            env=_environment(tmp_path), timeout=300)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr


def test_readme_has_examples():
    assert len(BLOCKS) >= 3
    assert _cli_block().strip()
