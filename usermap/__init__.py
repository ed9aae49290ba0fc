"""usermap: keeps the mapping between Aloware users and HubSpot owners correct.

The pure engine (models, normalize, reconcile, plan) takes data and returns data; sources, store,
apply, report, notify and runner are adapters; cli wires them. See docs/design.md and README.md.
"""

__version__ = "0.1.0"   # the one place the version is written (pyproject.toml reads it)


def version() -> str:
    """The installed distribution's version (package metadata), else ``__version__`` (a checkout
    on sys.path with no install)."""
    try:
        from importlib.metadata import PackageNotFoundError, version as dist_version
        return dist_version("usermap")
    except (ImportError, PackageNotFoundError):
        return __version__
