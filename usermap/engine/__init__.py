"""The pure core: data in, data out (models, normalize, reconcile, plan, changes).

Imports only the standard library, the dataframe libraries, itself and the exception tree
(``usermap.errors``): no files, no network, no SQLite, no clock, no environment.
"""
