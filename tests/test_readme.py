"""The Python examples in README.md run as written."""
import re
from pathlib import Path

import pytest
# Imported, not just used through its marker: without the plugin the limit below would do
# nothing but warn.
import pytest_timeout  # noqa: F401

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


# The dask example starts a cluster: one that hangs must fail its block, not hold CI until
# its time limit. Every block takes seconds on an idle 2-core machine.
@pytest.mark.timeout(300)
@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.splitlines()[0][:40])
def test_readme_example_runs(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # examples may write files
    exec(compile(block, str(README), "exec"), {})


def test_readme_has_examples():
    assert len(BLOCKS) >= 3
