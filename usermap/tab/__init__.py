"""The User Mapping tab (docs/design.md §9): ``MappingTab``, an ipywidgets application over
``usermap.workflow`` (``app.py``), and what it shows as text and HTML (``views.py``).

``usermap.notebook.tab(config=…)`` shows it in JupyterLab; ``usermap tab`` serves
``notebooks/mapping.ipynb`` with Voilà (``usermap.tabserver``). Adapter: must not be imported
by workflow, cli (except inside ``_cmd_tab``), runner or the pure core.
"""

from .app import SEARCH_PLACEHOLDER, MappingTab, PagedList

__all__ = ["MappingTab", "PagedList", "SEARCH_PLACEHOLDER"]
