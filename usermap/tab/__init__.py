"""The User Mapping tab (docs/design.md §9): ``app.py`` (``MappingTab``) and what it shows
(``views.py``). Import each name from its own module; this package file exports nothing.
"""
