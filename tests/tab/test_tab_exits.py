"""`usermap tab` refuses at start (docs/design.md §9, issue 20): a missing store or a port in use
is exit 2, naming it, before any server or kernel starts."""

from __future__ import annotations

import socket
import time

from runkit import cli


def test_a_missing_store_is_exit_2_naming_it_and_no_server(tmp_path):
    cfg = tmp_path / "usermap.toml"
    cfg.write_text('[store]\npath = "nowhere.db"\n', encoding="utf-8")
    t0 = time.perf_counter()
    p, _ = cli(["tab", "--config", str(cfg), "--port", "0"], cwd=tmp_path, timeout=60)
    assert p.returncode == 2, p.stdout + p.stderr
    assert str(tmp_path / "nowhere.db") in p.stderr and "store not found" in p.stderr
    assert "http://" not in p.stdout + p.stderr                 # no server, no URL
    assert not (tmp_path / "nowhere.db").exists()
    assert time.perf_counter() - t0 < 30


def test_a_port_in_use_is_exit_2_naming_the_port(tmp_path):
    from usermap.store.store import Store
    Store.open(tmp_path / "usermap.db", create=True).close()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p, _ = cli(["tab", "--port", str(port)], cwd=tmp_path, timeout=60)
    assert p.returncode == 2, p.stdout + p.stderr
    assert f"port {port}" in p.stderr and "in use" in p.stderr
    assert "http://" not in p.stdout + p.stderr
