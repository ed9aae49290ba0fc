"""The world a scenario builds (``World``) and the builder that collects its rows.

``Builder`` holds rows of users, owners and links addressed by their position before the rows
are shuffled; ``usermap.sandbox.showcase`` and ``usermap.sandbox.bulk`` add rows to it and
``usermap.sandbox.scenarios.generate`` assembles the World. See scenarios.py for the whole story.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..engine import models as m

__all__ = ["World", "Builder", "email_key"]


@dataclass(frozen=True)
class World:
    users: pd.DataFrame    # id, first_name, last_name, email, status, kind, role (all str)
    owners: list[dict]     # Owners API objects (camelCase), active and archived together
    links: pd.DataFrame    # aloware_user_id, hubspot_owner_id, aloware_email, hubspot_email,
    #                        method ("email" | "manual"), mapped_at (ISO 8601 "Z")


def email_key(value) -> str:
    """A casefolded e-mail key: stricter than usermap.engine.normalize (strip, NFC, lower), so the local
    parts reserved for the showcase cover every spelling that could collide."""
    if value is None:
        return ""
    return unicodedata.normalize("NFC", str(value).strip()).casefold()



def _col(v, k: int, dtype=object) -> np.ndarray:
    if isinstance(v, np.ndarray):
        if len(v) != k:
            raise ValueError(f"column of length {len(v)}, expected {k}")
        return v if v.dtype == dtype else v.astype(dtype)
    if isinstance(v, (list, tuple, pd.Series)):
        return _col(np.asarray(list(v), dtype=dtype), k, dtype)
    out = np.empty(k, dtype=dtype)
    out[:] = v
    return out


class Builder:
    """Rows of users, owners and links, addressed by their position before shuffling."""

    def __init__(self) -> None:
        self.u: dict[str, list] = defaultdict(list)
        self.o: dict[str, list] = defaultdict(list)
        self.l: dict[str, list] = defaultdict(list)
        self.nu = self.no = 0

    def users(self, first, last, email, status="active", kind="user", role=None,
              ghost=False) -> np.ndarray:
        k = len(email)
        for name, v in (("first", first), ("last", last), ("email", email), ("status", status),
                        ("kind", kind), ("role", role)):
            self.u[name].append(_col(v, k))
        self.u["ghost"].append(_col(ghost, k, bool))
        idx = np.arange(self.nu, self.nu + k)
        self.nu += k
        return idx

    def owners(self, first, last, email, type="PERSON", archived=False, deact=False,
               ghost=False) -> np.ndarray:
        k = len(email)
        for name, v in (("first", first), ("last", last), ("email", email), ("type", type)):
            self.o[name].append(_col(v, k))
        for name, v in (("archived", archived), ("deact", deact), ("ghost", ghost)):
            self.o[name].append(_col(v, k, bool))
        idx = np.arange(self.no, self.no + k)
        self.no += k
        return idx

    def links(self, u, o, a_email, h_email, method=m.METHOD_EMAIL) -> None:
        k = len(u)
        self.l["u"].append(np.asarray(u, dtype=np.int64))
        self.l["o"].append(np.asarray(o, dtype=np.int64))
        self.l["a"].append(_col(a_email, k))
        self.l["h"].append(_col(h_email, k))
        self.l["method"].append(_col(method, k))

    @staticmethod
    def _cat(parts: dict[str, list]) -> dict[str, np.ndarray]:
        return {name: np.concatenate(v) for name, v in parts.items()}
