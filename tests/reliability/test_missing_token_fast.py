"""Issue 19 item 13: `usermap run` without its tokens answers at once. The parent process of a
run never imports pandas (the notebooks run in kernels of their own), so the answer, the
failure report and the store's state cost no dataframe library."""

import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.issue(19)


def test_a_run_without_tokens_imports_no_pandas_and_says_what_to_do(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("HUBSPOT_ACCESS_TOKEN", "ALOWARE_API_TOKEN")}
    subprocess.run([sys.executable, "-m", "usermap.launch", "init", "--store", "usermap.db"],
                   cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120)
    (tmp_path / "usermap.toml").write_text('[store]\npath = "usermap.db"\n', encoding="utf-8")
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "usermap.launch", "run",
                        "--config", "usermap.toml"], cwd=tmp_path, env=env, text=True,
                       capture_output=True, timeout=120)
    assert p.returncode == 2, p.stderr[-2000:]
    assert "HUBSPOT_ACCESS_TOKEN and ALOWARE_API_TOKEN are not set: `export" in p.stdout
    assert "store:        unchanged (revision 0, 0 links)" in p.stdout
    imported = set(re.findall(r"^import time:[^|]*\|[^|]*\|\s*(\S+)$", p.stderr, re.M))
    assert "usermap.runner" in imported
    assert not {m for m in imported if m.split(".")[0] in ("pandas", "numpy", "pyarrow")}
    run_dir = next(p for p in (tmp_path / "runs").iterdir() if p.is_dir())
    assert (run_dir / "report.html").is_file() and (run_dir / "run.json").is_file()
