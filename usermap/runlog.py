"""The run's log (``run.log``): one line a record, secrets redacted, API text kept on its line
(the notebooks' printed output keeps its own line feeds), attached to the ``usermap`` and
``papermill`` loggers for the time of a run."""

from __future__ import annotations

import logging
from pathlib import Path

from .files import shown
from .redact import bounded
from .visible import visible

__all__ = ["open_log", "close_log", "RedactingFormatter"]


class RedactingFormatter(logging.Formatter):
    def format(self, record):    # one line a record; the notebooks' printed output keeps its LFs
        keep = "\n" if record.name.startswith("papermill") else ""
        return visible(shown(bounded(super().format(record), 20_000)), keep=keep)


def open_log(path: Path) -> logging.Handler:
    h = logging.FileHandler(path, encoding="utf-8")
    h.setFormatter(RedactingFormatter("%(asctime)s %(name)s %(levelname)s %(message)s",
                                       "%Y-%m-%dT%H:%M:%S"))
    h.setLevel(logging.INFO)
    for name in ("usermap", "papermill"):
        lg = logging.getLogger(name)
        lg.addHandler(h)
        if lg.getEffectiveLevel() > logging.INFO or lg.level == logging.NOTSET:
            lg.setLevel(logging.INFO)
    return h


def close_log(h: logging.Handler) -> None:
    for name in ("usermap", "papermill"):
        logging.getLogger(name).removeHandler(h)
    h.close()
