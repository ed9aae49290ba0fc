"""The User Mapping tab in JupyterLab (docs/design.md §9, issue 20): `usermap.notebook.tab()`
in a notebook cell shows the same page (the anywidget's front end, from the package), and its
Details side panel stays on the screen inside JupyterLab's panels. JupyterLab on a free port of
127.0.0.1 with a random token, driven by Playwright + Chromium."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

import runkit
from test_tab_widget import make_env

from test_report_browser import browser  # noqa: F401 (the shared Chromium fixture)

pytestmark = pytest.mark.browser


def _notebook(path: Path, cfg: Path, snap: Path) -> None:
    src = ("import usermap.notebook as nb\n"
           f"nb.tab(config={str(cfg)!r}, snapshot={str(snap)!r})")
    path.write_text(json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {},
                   "outputs": [], "source": src}],
        "metadata": {"kernelspec": {"name": "usermap", "display_name": "usermap",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}), encoding="utf-8")


def test_the_tab_in_jupyterlab(browser, tmp_path):  # noqa: F811
    from usermap.tabserver import free_port
    snap, _db, cfg = make_env(tmp_path, n=200, seed=3)
    _notebook(tmp_path / "tab.ipynb", cfg, snap)
    port, token = free_port(), secrets.token_urlsafe(16)
    log = open(tmp_path / "lab.log", "w")
    lab = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
                            "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
                            f"--ServerApp.root_dir={tmp_path}", "--ServerApp.port_retries=0",
                            "--allow-root", f"--LabApp.workspaces_dir={tmp_path / 'ws'}"],
                           stdout=log, stderr=log, cwd=tmp_path,
                           env={**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")})
    try:
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        pg = ctx.new_page()
        pg.set_default_timeout(90_000)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                pg.goto(f"http://127.0.0.1:{port}/lab/tree/tab.ipynb?token={token}")
                break
            except Exception:  # noqa: BLE001 - the server is still starting
                time.sleep(1)
        try:
            pg.locator(".jp-Notebook .jp-Cell").first.wait_for()
        except Exception:
            pg.screenshot(path=str(tmp_path / "lab.png"))
            raise
        pg.wait_for_function("() => document.querySelector('.jp-Notebook-ExecutionIndicator')"
                             " === null || !document.title.includes('Busy')")
        time.sleep(2)                       # the kernel has started
        pg.locator(".jp-Cell .cm-content").first.click()
        pg.keyboard.press("Shift+Enter")
        pg.locator(".um-card").first.wait_for(timeout=120_000)
        shown = pg.locator(".um-card").evaluate_all("els => els.map(e => e.dataset.key)")
        assert shown[:3] == ["mapped", "synced", "errors"]
        assert pg.get_by_role("button", name="Sync Users", exact=True).is_visible()
        row = pg.locator(".um-tabpanel tbody tr").nth(20)
        row.scroll_into_view_if_needed()
        row.get_by_role("button", name="Details").click()
        panel = pg.get_by_role("dialog", name="Details")
        panel.get_by_role("heading", name="Journal").wait_for()
        b = panel.bounding_box()
        assert b["y"] >= -1 and b["y"] + b["height"] <= 901 and b["x"] + b["width"] <= 1281
        shot = Path("/work/notes/shots-tab")
        if shot.is_dir():
            pg.screenshot(path=str(shot / "40-jupyterlab-details-1280.png"))
        ctx.close()
    finally:
        runkit.stop(lab)
        log.close()
