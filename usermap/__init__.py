"""usermap: keeps the mapping between Aloware users and HubSpot owners correct.

The pure engine (models, normalize, reconcile, plan) takes data and returns data; sources, store,
apply, report, notify and runner are adapters; cli wires them. See DESIGN.md and README.md.
"""

__version__ = "0.1.0"
