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
- **The first view at once**: the template writes the widget's first view (static HTML in the
  cell's output under ``usermap.tab.firstview.MIME``) at the top of the page, with the widget's
  CSS inline in the head and Voilà's render-blocking head (style bundle, JupyterLab's CSS) moved
  to the end of the body; the live widget replaces it when it has drawn.
- **A pre-heated kernel**: Voilà's kernel pool (one kernel) runs the notebook before anyone
  asks, so a page shows the overview at once; each page takes the heated kernel and the pool
  heats the next ``FILL_DELAY`` seconds later, once that page has started. **Idle kernels of
  closed pages are culled**: a kernel that had a page and has had none for ``CULL_SECONDS`` is
  shut down (the pool's kernel, never connected, stays).
- **View report**: ``/usermap/report/<run id>`` serves a run's report.html behind the same
  token (jupyter_server's authentication); the kernels learn the prefix from
  ``USERMAP_TAB_REPORT_URL``.
- **Refusals at start** (exit 2, no server): a missing store (named), a port in use (named).
- **One URL and no warnings** in the terminal: Voilà's own log says only errors.
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

__all__ = ["serve", "prepare", "check_start", "TEMPLATE", "KERNEL", "HOST", "CULL_SECONDS",
           "REPORT_PATH"]

HOST = "127.0.0.1"
TEMPLATE = "usermap"            # the Voilà template written into the private folder
KERNEL = "usermap-tab"          # the private kernelspec: this interpreter
NOTEBOOK = "mapping.ipynb"
CULL_SECONDS = 45               # a kernel whose page closed this long ago is shut down
WS_PING_MS = 15_000             # the kernel websockets' ping interval and pong timeout
CULL_EVERY = 10                 # seconds between looks at the kernels
# seconds before the pool heats the next kernel once a page took one: heating (fetch and audit)
# would otherwise share the CPU with that page's own start
FILL_DELAY = 10
REPORT_PATH = "/usermap/report/"
UNUSED_EXTENSIONS = ("jupyterlab_pygments", "@jupyter-widgets/jupyterlab-manager")
_SOCKET_DIR_MAX = 40            # + "/voila_xxxxxxxx/kernel-<uuid>-ipc-4" stays under 108 bytes
_RUN_ID = r"(\d{8}T\d{6}Z-[0-9a-f]{2,16})"
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; "
       "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
       "connect-src 'self' ws://{host}:{port}; object-src 'none'; base-uri 'none'; "
       "form-action 'self'")
_EXTERNAL = re.compile(r"""<link[^>]+href=["']https?://[^>]*>\s*""")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def check_start(config, port: int) -> None:
    """Refuse to start (InputError, exit 2) when the store is missing or the port is taken."""
    store = (Path.cwd() / config.resolve(config.store.path)).absolute()
    if not store.is_file():
        raise InputError(f"store not found: {store}; create it with `usermap init --store "
                         f"{store}` (or point [store] path at yours); no server was started",
                         file=str(store))
    if port:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((HOST, int(port)))
            except OSError as e:
                raise InputError(f"port {port} on {HOST} is in use ({e.strerror}); choose "
                                 f"another with --port, or 0 for a free one; no server was "
                                 f"started") from None


def _voila_class(runs_dir: Path):
    """Voilà with the report handler and the culler of closed pages' kernels."""
    from jupyter_server.base.handlers import JupyterHandler
    from tornado import web
    from tornado.ioloop import PeriodicCallback
    from voila.app import Voila

    class ReportHandler(JupyterHandler):
        """A run's report.html, to a browser that holds the tab's token."""

        @web.authenticated
        def get(self, run_id: str) -> None:
            path = runs_dir / run_id / "report.html"
            if not path.is_file():
                raise web.HTTPError(404)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.set_header("Cache-Control", "no-store")
            self.finish(path.read_bytes())

    class TabVoila(Voila):
        def init_handlers(self):
            return [(REPORT_PATH + _RUN_ID, ReportHandler)] + super().init_handlers()

        def listen(self):
            self._seen: dict[str, float] = {}
            PeriodicCallback(self._cull, CULL_EVERY * 1000).start()
            super().listen()

        async def _cull(self) -> None:
            km, now = self.kernel_manager, time.monotonic()
            for kid in list(km.list_kernel_ids()):
                try:
                    connections = km.kernel_model(kid).get("connections", 0)
                except KeyError:
                    continue
                if connections:
                    self._seen[kid] = now            # a page holds it
                elif kid in self._seen and now - self._seen[kid] >= CULL_SECONDS:
                    self._seen.pop(kid, None)
                    await km.shutdown_kernel(kid)
            for kid in set(self._seen) - set(km.list_kernel_ids()):
                self._seen.pop(kid, None)

    return TabVoila


# Voilà's page is hidden behind a spinner until its front end has booted; ``usermap tab``'s page
# shows the widget's first view (``usermap.tab.firstview``, in the cell's output under its own
# type) at once instead: written where the output is, then moved to the top of the page, over
# the place where the live widget will draw itself (the offsets of Voilà's lab layout: 10 px of
# panel, 5 px of cell, 5 px above the output), in place of the spinner, and removed by the
# widget when it has drawn.
_FIRST_VIEW = """
{%- if output and output.data and output.data[FIRST_MIME] -%}
{{ output.data[FIRST_MIME] }}
<script>(function (s) { var f = s.previousElementSibling, l = document.getElementById("loading");
  if (f && f.classList.contains("um-first")) { document.body.prepend(f); if (l) l.remove(); }
})(document.currentScript);
</script>
{%- endif -%}
"""
_DATA_PRIORITY = "{% block data_priority scoped %}"
_FIRST_VIEW_CSS = (".um-first { position: absolute; top: 20px; left: 15px; right: 15px; "
                   "z-index: 20; background: #fff; pointer-events: none; cursor: progress; }\n"
                   ".um-first .um-first-search { color: #667085; }\n")
# what Voilà's lab template loads in the head (its style bundle, JupyterLab's CSS: half a
# megabyte, render-blocking there) goes to the end of the body, before Voilà's own script; with
# the rules of nbconvert's lab head that concern outputs (the collapser takes no room)
_LAB_CSS = """
{% if frontend == "voila" %}{{ resources.include_js("static/voila-style.js") }}{% endif %}
{{ resources.include_css("static/index.css") }}
{% if resources.theme == 'dark' %}{{ resources.include_css("static/theme-dark.css") }}
{% elif resources.theme == 'light' %}{{ resources.include_css("static/theme-light.css") }}
{% else %}{{ resources.include_lab_theme(resources.theme) }}{% endif %}
<style>
.jp-mod-noOutputs.jp-mod-noInput, a.anchor-link, .jp-Collapser { display: none; }
.jp-OutputArea-output pre { line-height: inherit; font-family: inherit; }
.jp-RenderedText pre { color: var(--jp-content-font-color1); font-size: var(--jp-code-font-size); }
</style>
"""


def _template_text(port: int) -> str:
    """Voilà's installed ``lab`` index template, without anything it loads from elsewhere, with
    the first view shown at once and the heavy head moved to the end of the body."""
    from voila.paths import collect_template_paths

    from .tab.firstview import MIME as FIRST_MIME
    from .tab.firstview import css as first_view_css
    for d in collect_template_paths(["voila"], "lab"):
        src = Path(d) / "index.html.j2"
        if src.is_file() and "voila" in str(d):
            break
    else:  # pragma: no cover - a broken Voilà install
        raise InputError("Voilà's lab template was not found")
    text = _EXTERNAL.sub("", src.read_text(encoding="utf-8"))
    if re.search(r"""(src|href)=["']https?://""", text):  # pragma: no cover - a new Voilà
        raise InputError("Voilà's lab template loads something from the network", file=str(src))
    head = re.search(r"\{%-? block notebook_css -?%\}.*?\{%-? endblock notebook_css -?%\}", text,
                     re.S)
    foot = re.search(r"\{\{ voila_setup_labextensions\(", text)
    if not head or not foot or _DATA_PRIORITY not in text:  # pragma: no cover - a new Voilà
        raise InputError("Voilà's lab template has changed", file=str(src))
    text = (text[:head.start()] + "{% block notebook_css %}{{ spinner.css() }}<style>{% raw %}"
            + first_view_css() + _FIRST_VIEW_CSS
            + "{% endraw %}</style>{% endblock notebook_css %}"
            + text[head.end():foot.start()] + _LAB_CSS + text[foot.start():])
    text = text.replace(_DATA_PRIORITY, _DATA_PRIORITY + _FIRST_VIEW.replace(
        "FIRST_MIME", json.dumps(FIRST_MIME)), 1)
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


def _voila_argv(nb: Path, *, port: int, token: str, sockets: Path) -> list[str]:
    """Voilà's command line: this notebook, 127.0.0.1, the token, the template, one heated
    kernel in the pool, kernels over IPC in ``sockets``, errors only in the log."""
    return [str(nb), f"--port={port}", f"--Voila.ip={HOST}", "--no-browser",
            f"--token={token}", f"--template={TEMPLATE}", "--Voila.port_retries=0",
            f"--Voila.root_dir={nb.parent}", "--theme=light",
            f"--Voila.connection_dir_root={sockets}",
            "--VoilaConfiguration.show_tracebacks=False",
            "--preheat_kernel=True", "--pool_size=1",
            f"--VoilaKernelManager.fill_delay={FILL_DELAY}",
            "--KernelManager.transport=ipc", "--Voila.log_level=ERROR"]


def serve(config, *, port: int = 0, snapshot: str = "", say=print) -> int:
    """Serve the tab until SIGTERM or SIGINT; returns the exit code (143, 130, or 0)."""
    check_start(config, port)
    from tornado.ioloop import IOLoop
    token = secrets.token_urlsafe(32)
    port = int(port) or free_port()
    runs_dir = (Path.cwd() / config.resolve(config.runs.dir)).absolute()
    private = Path(tempfile.mkdtemp(prefix="usermap-tab-"))
    # the kernels talk over Unix sockets (IPC: nothing on a TCP port another local user could
    # reach), whose paths must stay under ~100 bytes: a short private folder when TMPDIR is deep
    sockets = private if len(str(private)) <= _SOCKET_DIR_MAX else Path(
        tempfile.mkdtemp(prefix="umtab-", dir="/tmp"))
    old = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "USERMAP_TAB_REPORT_URL")}
    got: list[int] = []
    try:
        nb = prepare(private, config, port=port, snapshot=snapshot)
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            [str(private / "jupyter")] + ([old["JUPYTER_PATH"]] if old["JUPYTER_PATH"] else []))
        os.environ["USERMAP_TAB_REPORT_URL"] = REPORT_PATH    # read by the kernels (tab.app)
        app = _voila_class(runs_dir)()
        app.initialize(_voila_argv(nb, port=port, token=token, sockets=sockets))
        # front-end extensions the page does not use (Voilà's own widget manager and anywidget
        # draw the tab): less JavaScript to load before the overview shows
        app.voila_configuration.extension_denylist = list(UNUSED_EXTENSIONS)
        # jupyter_server's default pong timeout (3 pings) is longer than the ping interval,
        # which tornado warns about; a page that stops answering is let go after one ping
        app.tornado_settings = {**app.tornado_settings, "ws_ping_interval": WS_PING_MS,
                                "ws_ping_timeout": WS_PING_MS}
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
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(sockets, ignore_errors=True)
    if not got:
        return 0
    return 130 if got[-1] == signal.SIGINT else 143
