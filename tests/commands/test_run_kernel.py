"""One kernel per run (usermap.execute.RunKernel): the notebooks of a run execute one after the
other in the same kernel process, the second without the first's names; a kernel that died is
replaced for the next notebook; the kernel is gone when the run ends. Real kernels, real papermill."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

from usermap.execute import RunKernel, execute_notebook, kernel_options
from usermap.errors import NotebookFailedError

pytestmark = pytest.mark.slow


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    params = nbformat.v4.new_code_cell('out = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(s) for s in sources)]
    nbformat.write(nb, path)
    return path


PROBE = ("import os, pathlib\n"
         "pathlib.Path(out).write_text(f\"{os.getpid()} {'left' in dir()} {'pd' in dir()}\")")


def _probe(path: Path) -> tuple[int, bool, bool]:
    pid, left, pd = path.read_text().split()
    return int(pid), left == "True", pd == "True"


def _alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def _gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    return not _alive(pid)


def test_two_notebooks_share_one_kernel_but_not_its_names(tmp_path):
    first = _notebook(tmp_path / "first.ipynb", "import pandas as pd\nleft = 1", PROBE)
    second = _notebook(tmp_path / "second.ipynb", PROBE)
    kernel, _ = kernel_options(tmp_path / "kernel.log")
    with RunKernel(kernel) as one:
        execute_notebook(first, tmp_path / "a.ipynb", {"out": str(tmp_path / "a")},
                         cwd=tmp_path, kernel=one.options)
        one.clear()
        execute_notebook(second, tmp_path / "b.ipynb", {"out": str(tmp_path / "b")},
                         cwd=tmp_path, kernel=one.options)
    a, b = _probe(tmp_path / "a"), _probe(tmp_path / "b")
    assert a == (a[0], True, True)
    assert b == (a[0], False, False)          # the same process, none of the first's names
    assert _gone(a[0]), "the run's kernel outlived the run"


def test_a_kernel_that_died_is_replaced_for_the_next_notebook(tmp_path):
    dies = _notebook(tmp_path / "dies.ipynb", PROBE, "os._exit(1)")
    second = _notebook(tmp_path / "second.ipynb", PROBE)
    kernel, _ = kernel_options(tmp_path / "kernel.log")
    with RunKernel(kernel) as one:
        with pytest.raises(NotebookFailedError) as e:
            execute_notebook(dies, tmp_path / "a.ipynb", {"out": str(tmp_path / "a")},
                             cwd=tmp_path, kernel=one.options)
        assert e.value.exit_code == 1
        one.clear()
        execute_notebook(second, tmp_path / "b.ipynb", {"out": str(tmp_path / "b")},
                         cwd=tmp_path, kernel=one.options)
    a, b = _probe(tmp_path / "a"), _probe(tmp_path / "b")
    assert b[0] != a[0] and not b[1]
    assert _gone(a[0]) and _gone(b[0])


def test_a_failed_notebook_leaves_no_kernel_behind(tmp_path):
    fails = _notebook(tmp_path / "fails.ipynb", PROBE, "raise ValueError('no')")
    kernel, _ = kernel_options(tmp_path / "kernel.log")
    with pytest.raises(NotebookFailedError):
        with RunKernel(kernel) as one:
            execute_notebook(fails, tmp_path / "a.ipynb", {"out": str(tmp_path / "a")},
                             cwd=tmp_path, kernel=one.options)
    assert _gone(_probe(tmp_path / "a")[0])


def test_the_executed_notebook_is_written_at_its_start_its_end_and_every_save_every(
        tmp_path, monkeypatch):
    """papermill alone writes the whole notebook at every cell's start and end; usermap's
    engine writes it when the notebook starts and ends, and after a cell only when
    SAVE_EVERY seconds have passed since the last write."""
    import papermill.engines
    from usermap import execute
    writes = []                      # how many cells had output at each write
    real = papermill.engines.write_ipynb

    def counting(nb, path):
        writes.append(sum(1 for c in nb.cells if c.get("outputs")))
        real(nb, path)
    monkeypatch.setattr(papermill.engines, "write_ipynb", counting)
    kernel, _ = kernel_options(tmp_path / "kernel.log")
    with RunKernel(kernel) as one:
        many = _notebook(tmp_path / "many.ipynb", *(f"print({i})" for i in range(12)))
        execute_notebook(many, tmp_path / "a.ipynb", {"out": ""}, cwd=tmp_path,
                         kernel=one.options)
        assert writes[0] == 0 and writes[-1] == 12 and len(writes) < 12, writes
        monkeypatch.setattr(execute, "SAVE_EVERY", 0.3)
        writes.clear()
        one.clear()
        slow = _notebook(tmp_path / "slow.ipynb", "print('a')",
                         "import time\ntime.sleep(0.6)\nprint('b')", "print('c')")
        execute_notebook(slow, tmp_path / "b.ipynb", {"out": ""}, cwd=tmp_path,
                         kernel=one.options)
        # written after the long cell, with its output, before the notebook's end
        assert writes[0] == 0 and 2 in writes and writes[-1] == 3, writes
    assert [len(c.get("outputs", [])) for c in nbformat.read(tmp_path / "b.ipynb", 4).cells
            if c.cell_type == "code"][-3:] == [1, 1, 1]
