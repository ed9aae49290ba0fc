"""Suggestions (docs/design.md §4.4): up to three likely owners for an Aloware user whom no
owner's e-mail matches, by name and e-mail similarity. Shown, never applied.

Never O(n²): candidates come only from blocks (same normalised last name, same first name and
last initial, or same e-mail local part), each block capped, and only those pairs are scored.

PURE: standard library, numpy/pandas and the engine's models and normalize.
"""

from __future__ import annotations

import difflib

import numpy as np
import pandas as pd

from .models import O_EMAIL, O_FIRST, O_ID, O_LAST, U_FIRST, U_LAST
from .normalize import email_keys

__all__ = ["suggestions", "SUGGEST_REASONS", "MAX_SUGGESTIONS"]

SUGGEST_REASONS = ("no_matching_owner", "missing_email", "invalid_email")
MAX_SUGGESTIONS = 3
MAX_CANDIDATES = 30      # per user and blocking key: keeps the scoring linear in the users
MIN_SCORE = 0.55


def _norm_name(s: pd.Series) -> pd.Series:
    return (s.fillna("").astype(str).str.normalize("NFKD").str.encode("ascii", "ignore")
            .str.decode("ascii").str.casefold().str.replace(r"[^a-z]", "", regex=True))


def _ratios(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], float]:
    """difflib's ``SequenceMatcher(None, a, b).ratio()`` of each distinct (a, b): a pair met
    again is not scored again, and one matcher per ``b`` keeps what it learnt of ``b``."""
    out = {}
    m, last = difflib.SequenceMatcher(None), None
    for a, b in sorted(set(pairs), key=lambda p: p[1]):
        if b != last:
            m.set_seq2(b)
            last = b
        m.set_seq1(a)
        out[a, b] = m.ratio()
    return out


def _suggestion_pairs(q: pd.DataFrame, cand: pd.DataFrame, key: str) -> pd.DataFrame | None:
    """Scored (q, c) pairs, best first per user, at most MAX_SUGGESTIONS each and none under
    MIN_SCORE: ``q`` and ``c`` are row positions in ``q`` and ``cand``. None when no block
    pairs anyone."""
    qf, ql = _norm_name(q[U_FIRST]), _norm_name(q[U_LAST])
    cf, cl = _norm_name(cand[O_FIRST]), _norm_name(cand[O_LAST])
    q_local = email_keys(q["email"]).str.split("@").str[0].str.replace(r"[^a-z0-9]", "",
                                                                       regex=True)
    c_local = cand[key].str.split("@").str[0].str.replace(r"[^a-z0-9]", "", regex=True)
    qdf = pd.DataFrame({"q": np.arange(len(q)), "b_last": ql.to_numpy(),
                        "b_fl": (qf + "|" + ql.str[:1]).to_numpy(),
                        "b_local": q_local.to_numpy(), "b_first": qf.to_numpy(),
                        "qname": (qf + " " + ql).to_numpy()})
    cdf = pd.DataFrame({"c": np.arange(len(cand)), "b_last": cl.to_numpy(),
                        "b_fl": (cf + "|" + cl.str[:1]).to_numpy(),
                        "b_local": c_local.to_numpy(), "b_first": cf.to_numpy(),
                        "cname": (cf + " " + cl).to_numpy(), "clocal": c_local.to_numpy()})
    pairs = []
    for b in ("b_last", "b_fl", "b_local"):
        ok_c = cdf[cdf[b].str.len() > 1]
        sizes = ok_c[b].value_counts()
        ok_c = ok_c[ok_c[b].map(sizes) <= MAX_CANDIDATES]  # a too-common block says nothing
        ok_q = qdf[qdf[b].str.len() > 1]
        pairs.append(ok_q[["q", b]].merge(ok_c[["c", b]], on=b)[["q", "c"]])
    pairs = pd.concat(pairs).drop_duplicates()
    if pairs.empty:
        return None
    pairs = pairs.merge(qdf[["q", "qname", "b_local"]], on="q").merge(
        cdf[["c", "cname", "clocal"]], on="c")
    # 0.6 x the names' ratio + 0.4 x the e-mail local parts' (the user's name, run together,
    # when the user has no local part)
    names = list(zip(pairs["qname"].tolist(), pairs["cname"].tolist()))
    locals_ = [(la if la and lb else a.replace(" ", ""), lb) for (a, _), la, lb in
               zip(names, pairs["b_local"].tolist(), pairs["clocal"].tolist())]
    r_name, r_local = _ratios(names), _ratios(locals_)
    pairs["score"] = [round(0.6 * r_name[n] + 0.4 * r_local[lo], 3)
                      for n, lo in zip(names, locals_)]
    pairs = pairs[pairs["score"] >= MIN_SCORE].sort_values(["q", "score", "c"],
                                                            ascending=[True, False, True])
    return pairs.groupby("q").head(MAX_SUGGESTIONS)


def suggestions(q: pd.DataFrame, cand: pd.DataFrame, *, key: str) -> dict[int, list]:
    """Row position in ``q`` -> its suggestions (owner id, name, e-mail, score), best first,
    from the owners ``cand`` (whose e-mail key column is ``key``)."""
    pairs = _suggestion_pairs(q, cand, key)
    if pairs is None:
        return {}
    c_id, c_email = cand[O_ID].to_numpy(object), cand[O_EMAIL].to_numpy(object)
    c_name = (cand[O_FIRST].fillna("") + " " + cand[O_LAST].fillna("")).str.strip().to_numpy(
        object)
    per_q: dict[int, list] = {}
    for qi, ci, sc in zip(pairs["q"], pairs["c"], pairs["score"]):
        per_q.setdefault(qi, []).append({"hubspot_owner_id": c_id[ci], "name": c_name[ci],
                                         "email": c_email[ci], "score": float(sc)})
    return per_q
