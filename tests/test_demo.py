"""``python -m cnet`` runs the seed workload with both backends and reports on it."""
import os
import subprocess
import sys
from pathlib import Path

import cnet


def test_demo_runs_and_reports_both_backends(tmp_path):
    # Run outside the checkout, with the cnet under test first on the path, so that `-m`
    # imports the compiled package and not the checkout's source folder.
    env = {**os.environ, "PYTHONPATH": str(Path(cnet.__file__).parent.parent)}
    result = subprocess.run([sys.executable, "-m", "cnet", "--iterations", "3000"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120, check=True)
    lines = result.stdout.splitlines()
    assert any(line.startswith("cython") and "%" in line for line in lines)
    assert any(line.startswith("numpy") and "%" in line for line in lines)
    assert "faster than the numpy twin" in result.stdout


def test_console_script_demo(capsys):
    from cnet.cli import main
    main(["demo", "--iterations", "2000"])
    assert "faster than the numpy twin" in capsys.readouterr().out
