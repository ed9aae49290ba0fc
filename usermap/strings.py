"""Arrow string columns as the object arrays of Python strings the engine works on.

``objects(column)``: one Python string per value, except that a column whose values repeat
(status, kind, role, names, a link's method and times) gets one string object per distinct
value, shared by its rows (Arrow's dictionary encoding): at a million rows each repeated value
would otherwise cost a string of its own, 50-60 MB a column, and the time to make it.

Pure: pyarrow and numpy only (the CSV reader and the store's link reader use it).
"""

from __future__ import annotations

import numpy as np

__all__ = ["objects", "by_value"]


def objects(column) -> np.ndarray:
    """An Arrow string array (or chunked array) as an object array of Python strings."""
    import pyarrow as pa
    import pyarrow.compute as pc
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    head = column.slice(0, 4096)
    if pc.count_distinct(head).as_py() * 2 > len(head) > 1024:   # ids, e-mails: all distinct
        return column.to_numpy(zero_copy_only=False)
    encoded = column.dictionary_encode()
    if len(encoded.dictionary) * 2 > len(column):   # mostly distinct after all
        return column.to_numpy(zero_copy_only=False)
    return by_value(encoded)


def by_value(column, fix=None) -> np.ndarray:
    """An object array of ``fix(value)`` (the value itself without ``fix``) for a column of
    few distinct values, one string object per distinct value (``column`` may be dictionary
    encoded already)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    values = column.dictionary.to_pylist()
    values = np.array(values if fix is None else [fix(v) for v in values], dtype=object)
    return values[column.indices.to_numpy(zero_copy_only=False)]
