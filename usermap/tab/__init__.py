"""The User Mapping tab (docs/design.md §9): ``app.MappingTab``, one anywidget over
``usermap.workflow``; ``widget.js`` and ``widget.css`` are its page (shipped in the package,
nothing from a CDN); ``rows`` turns the audit into what the page shows, ``words`` says what
happened in sentences, ``firstview`` draws the first view as static HTML for ``usermap tab``'s
page (shown until the widget has drawn itself).

``usermap.notebook.tab(config=…)`` shows it in JupyterLab; ``usermap tab`` serves
``notebooks/mapping.ipynb`` with Voilà (``usermap.tabserver``). Adapter: must not be imported
by workflow, cli (except inside ``_cmd_tab``), runner or the pure core.
"""
