"""``usermap tab``: the User Mapping tab as a web page, ``notebooks/mapping.ipynb`` served by
Voilà (docs/design.md §9).

- **127.0.0.1 only**, on ``--port`` (0: a free port), behind a random access token in the URL
  it prints (``Voila.token``: jupyter_server's identity provider). A request without the token
  gets the login page: no notebook, no kernel.
- **The command fixes what the kernel sees**: a private folder (0700, removed at the end) holds
  a copy of the notebook whose ``parameters`` cell carries the absolute config path (a
  generated one with absolute store and runs paths when there is no config file) and the
  snapshot folder; the kernel starts in that folder, with a private kernelspec that runs this
  very interpreter. The page cannot choose any of it: Voilà serves that one notebook and no
  query string reaches a parameter.
- **Nothing from the network**: a ``usermap`` Voilà template, made from the installed ``lab``
  template with its CDN links (Font Awesome) and the Mermaid loader removed, and a
  Content-Security-Policy that allows only this server.
- **SIGTERM / SIGINT** stop the server cleanly: Voilà shuts every kernel down, the private
  folder is removed; exit 143 / 130.

Adapter (processes, files, network on 127.0.0.1). The tab itself is ``usermap.tab``; this
module only serves it. Voilà is imported inside ``serve``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

from .errors import InputError
from .resources import notebooks_dir

__all__ = ["serve", "prepare", "TEMPLATE", "KERNEL", "HOST"]

HOST = "127.0.0.1"
TEMPLATE = "usermap"            # the Voilà template written into the private folder
KERNEL = "usermap-tab"          # the private kernelspec: this interpreter
NOTEBOOK = "mapping.ipynb"
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
       "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
       "connect-src 'self' ws://{host}:{port}; object-src 'none'; base-uri 'none'; "
       "form-action 'self'")
_EXTERNAL = re.compile(r"""<link[^>]+href=["']https?://[^>]*>\s*""")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _template_text(port: int) -> str:
    """Voilà's installed ``lab`` index template, without anything it loads from elsewhere."""
    from voila.paths import collect_template_paths
    for d in collect_template_paths(["voila"], "lab"):
        src = Path(d) / "index.html.j2"
        if src.is_file() and "voila" in str(d):
            break
    else:  # pragma: no cover - a broken Voilà install
        raise InputError("Voilà's lab template was not found")
    text = _EXTERNAL.sub("", src.read_text(encoding="utf-8"))
    if re.search(r"""(src|href)=["']https?://""", text):  # pragma: no cover - a new Voilà
        raise InputError("Voilà's lab template loads something from the network", file=str(src))
    meta = (f'<meta http-equiv="Content-Security-Policy" '
            f'content="{CSP.format(host=HOST, port=port)}">')
    extra = ("\n{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}\n"
             "{% block extra_css %}" + meta + "{% endblock extra_css %}\n")
    first, _, rest = text.partition("\n")          # keep the {% extends %} line first
    return first + "\n" + extra + rest


def prepare(private: Path, config, *, port: int, snapshot: str = "") -> Path:
    """Write the notebook copy, the template and the kernelspec into ``private``; returns the
    notebook's path. ``config``: a loaded Config (its ``path`` may be empty: defaults)."""
    import nbformat
    cwd = Path.cwd()
    if config.path:
        cfg_path = str(Path(config.path).absolute())
    else:   # defaults: store and runs where the command was started, as other commands would
        cfg_path = str(private / "usermap.toml")
        Path(cfg_path).write_text(
            f"[store]\npath = {json.dumps(str((cwd / config.store.path).absolute()))}\n\n"
            f"[runs]\ndir = {json.dumps(str((cwd / config.runs.dir).absolute()))}\n",
            encoding="utf-8")
    snap = str(Path(snapshot).absolute()) if snapshot else ""
    if snap and not Path(snap).is_dir():
        raise InputError("snapshot folder not found", file=snap)
    app = private / "app"
    app.mkdir(mode=0o700)
    src = notebooks_dir() / NOTEBOOK
    if not src.is_file():
        raise InputError("the tab's notebook is missing", file=str(src))
    nb = nbformat.read(src, as_version=4)
    cell = next((c for c in nb.cells if "parameters" in c.metadata.get("tags", [])), None)
    if cell is None:
        raise InputError("the notebook has no parameters cell", file=str(notebooks_dir() /
                                                                         NOTEBOOK))
    cell.source = (f"# set by `usermap tab`\nconfig = {json.dumps(cfg_path)}\n"
                   f"snapshot = {json.dumps(snap)}\n")
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "usermap (tab)",
                                 "language": "python"}
    path = app / NOTEBOOK
    nbformat.write(nb, str(path))
    jp = private / "jupyter"
    tdir = jp / "voila" / "templates" / TEMPLATE
    tdir.mkdir(parents=True)
    (tdir / "index.html.j2").write_text(_template_text(port), encoding="utf-8")
    (tdir / "conf.json").write_text(json.dumps({"base_template": "lab"}), encoding="utf-8")
    kdir = jp / "kernels" / KERNEL
    kdir.mkdir(parents=True)
    (kdir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "usermap (tab)", "language": "python"}), encoding="utf-8")
    return path


def serve(config, *, port: int = 0, snapshot: str = "", say=print) -> int:
    """Serve the tab until SIGTERM or SIGINT; returns the exit code (143, 130, or 0)."""
    # jsonschema (through jupyter_server's event logger) builds rfc3987-syntax's IRI grammar at
    # import when that package is installed: seconds of start-up for a format check of the
    # server's own event schemas that the tab never needs. Without it jsonschema skips that
    # one format.
    sys.modules.setdefault("rfc3987_syntax", None)
    from tornado.ioloop import IOLoop
    from voila.app import Voila
    token = secrets.token_urlsafe(32)
    port = int(port) or free_port()
    private = Path(tempfile.mkdtemp(prefix="usermap-tab-"))
    old_path = os.environ.get("JUPYTER_PATH")
    got: list[int] = []
    try:
        nb = prepare(private, config, port=port, snapshot=snapshot)
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            [str(private / "jupyter")] + ([old_path] if old_path else []))
        app = Voila()
        app.initialize([str(nb), f"--port={port}", f"--Voila.ip={HOST}", "--no-browser",
                        f"--token={token}", f"--template={TEMPLATE}", "--Voila.port_retries=0",
                        f"--Voila.root_dir={nb.parent}", "--theme=light",
                        f"--Voila.connection_dir_root={private}",
                        "--VoilaConfiguration.show_tracebacks=False"])
        loop = IOLoop.current()

        def stop(signum, _frame):
            got.append(signum)
            loop.add_callback_from_signal(loop.stop)
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        url = f"http://{HOST}:{port}/?token={token}"
        t0 = time.perf_counter()
        loop.add_callback(lambda: say(f"usermap tab: serving the User Mapping tab at\n    {url}\n"
                                      f"(127.0.0.1 only; ready in {time.perf_counter() - t0:.1f} s;"
                                      f" Ctrl-C or SIGTERM stops it)", flush=True))
        app.start()        # returns once the loop stops; Voilà then shuts every kernel down
    finally:
        if old_path is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old_path
        shutil.rmtree(private, ignore_errors=True)
    if not got:
        return 0
    return 130 if got[-1] == signal.SIGINT else 143
