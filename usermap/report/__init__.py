"""The report of a run (docs/design.md §8): one self-contained HTML page, and the plain-text and
HTML bodies of the e-mail. Model, build and render are separate steps, each in its own module:

- ``model.py``: the frozen dataclasses (``Report``, ``Overview``, ...) and ``Notification``, the
  contract ``usermap.notify`` takes; ``table.py`` (``Table``, ``Column``), ``failure.py``
  (``FailureReport``, ``build_failure_report``), ``text.py`` (small text helpers);
- ``build.py``: PURE, data -> model (``build_report``), with ``activity.py``, ``cells.py``,
  ``chart.py``;
- ``render.py``: the one Jinja environment and the templates;
- ``compose.py``: the only I/O: the activities CSV, atomic writes.

Import each name from its own module; this package file exports nothing.
"""
