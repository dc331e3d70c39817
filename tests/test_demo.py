"""``python -m cnet`` runs the seed workload with both backends and reports on it."""
import subprocess
import sys


def test_demo_runs_and_reports_both_backends(tmp_path):
    # Run outside the checkout, so that `-m` imports the installed package.
    result = subprocess.run([sys.executable, "-m", "cnet", "--iterations", "3000"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=True)
    lines = result.stdout.splitlines()
    assert any(line.startswith("cython") and "%" in line for line in lines)
    assert any(line.startswith("numpy") and "%" in line for line in lines)
    assert "faster than the numpy twin" in result.stdout


def test_console_script_demo(capsys):
    from cnet.cli import main
    main(["demo", "--iterations", "2000"])
    assert "faster than the numpy twin" in capsys.readouterr().out
