"""``import cnet`` from an uncompiled source checkout: one line saying what is wrong.

Python puts the current directory (or a script's folder) first on ``sys.path``, so from the
root of a checkout it imports the source folder ``cnet/``, which holds no compiled modules,
instead of the installed package. That is not a broken install, and the error says so.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cnet

# The checkout these tests belong to (CI imports an installed cnet, not this one's folder).
SOURCE = Path(__file__).resolve().parent.parent
COMPILED = (".so", ".pyd")


def _copy_package(target):
    """cnet's Python files (no compiled modules) under ``target/cnet``."""
    shutil.copytree(SOURCE / "cnet", target / "cnet",
                    ignore=lambda folder, names: [n for n in names if n.endswith(COMPILED)
                                                  or n == "__pycache__"])
    assert not [p for p in (target / "cnet").rglob("*") if p.name.endswith(COMPILED)]


@pytest.fixture
def checkout(tmp_path):
    """A copy of the source tree as a fresh clone has it: sources, no build output."""
    root = tmp_path / "checkout"
    _copy_package(root)
    shutil.copytree(SOURCE / "src_c", root / "src_c",
                    ignore=lambda folder, names: [n for n in names if n.endswith(".c")])
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(SOURCE / name, root / name)
    return root


def _run(args, cwd, pythonpath=None):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120)


def _one_error(stderr):
    """The error's last line, after checking that no chained traceback precedes it."""
    assert stderr.count("Traceback") == 1, stderr
    assert "During handling" not in stderr and "direct cause" not in stderr, stderr
    return stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("args", [["-c", "import cnet"], ["-m", "cnet"]],
                         ids=["import", "python -m cnet"])
def test_from_the_checkout_root_the_error_says_where_you_are(checkout, args):
    result = _run(args, cwd=checkout)
    assert result.returncode == 1
    last = _one_error(result.stderr)
    assert last.startswith("ImportError: you are in cnet's source folder; run from another "
                           "directory."), last
    assert "pip install ." not in result.stderr


def test_the_package_folder_alone_in_the_current_directory_says_so_too(tmp_path):
    # A copy of cnet/ without the rest of the checkout: still a source folder, not an install.
    _copy_package(tmp_path)
    last = _one_error(_run(["-c", "import cnet"], cwd=tmp_path).stderr)
    assert last.startswith("ImportError: you are in cnet's source folder; run from another "
                           "directory."), last


def test_a_script_in_the_checkout_run_from_elsewhere_names_the_folder(checkout, tmp_path):
    (checkout / "try_it.py").write_text("import cnet\n")
    result = _run([str(checkout / "try_it.py")], cwd=tmp_path)
    assert result.returncode == 1
    last = _one_error(result.stderr)
    assert f"Python found cnet's source folder {checkout} (on sys.path) before any " \
        "installed cnet; run from another directory" in last, last


def test_a_broken_install_keeps_its_message(tmp_path):
    # The package without its compiled modules and without a checkout around it.
    site = tmp_path / "site"
    _copy_package(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = _run(["-c", "import cnet"], cwd=elsewhere, pythonpath=site)
    assert result.returncode == 1
    assert "cnet's compiled kernels are missing" in result.stderr
    assert "source folder" not in result.stderr


def test_a_built_checkout_imports_from_its_root(tmp_path):
    # The test run's own cnet is compiled (in place or installed): its folder's parent is a
    # place from which `import cnet` works.
    result = _run(["-c", "import cnet; print(cnet.__file__)"], cwd=tmp_path,
                  pythonpath=Path(cnet.__file__).parent.parent)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).resolve() == Path(cnet.__file__).resolve()
