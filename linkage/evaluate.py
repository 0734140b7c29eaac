"""Precision, recall and F1 of suspected pairs against a truth file, and blocking recall.

The truth is a CSV of pairs known to be one person registered twice, with columns
``person_id_a, person_id_b`` (the demo writes ``<registry>.truth/fuzzy_duplicates.csv``).
Pairs are unordered. A truth pair counts as found when the job suspects that very pair
(pairwise evaluation); ``cluster_pairs`` turns clusters into the pairs they imply, for the
cluster-level figures.

What the demo's truth means: each planted re-registration is one person twice (the
original and the variant record). Persons in ``shared_national_ids.csv`` planted as
"holder"/"copy" are *different* persons sharing a card: they are not duplicates, and a job
that pairs them is wrong. (Shared-id groups "fuzzy_original"/"fuzzy_duplicate" are the
re-registrations that kept their id, already in the fuzzy truth.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Scores:
    truth: int
    predicted: int
    true_positives: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.truth if self.truth else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def line(self) -> str:
        return (f"precision {self.precision:.3f}, recall {self.recall:.3f}, F1 {self.f1:.3f} "
                f"({self.true_positives:,} of {self.predicted:,} pairs right, "
                f"{self.truth:,} in the truth)")


def pair_set(a: Iterable[str], b: Iterable[str]) -> set[tuple[str, str]]:
    """Unordered pairs as (smaller id, larger id); a pair of a person with itself is dropped."""
    return {(x, y) if x < y else (y, x) for x, y in zip(a, b, strict=True) if x != y}


def read_truth(path: str | Path) -> set[tuple[str, str]]:
    """The truth pairs of a CSV with columns person_id_a, person_id_b."""
    frame = pd.read_csv(path, dtype=str)
    missing = {"person_id_a", "person_id_b"} - set(frame.columns)
    if missing:
        raise ValueError(f"the truth file `{path}` lacks the column(s) {', '.join(sorted(missing))}")
    return pair_set(frame["person_id_a"], frame["person_id_b"])


def truth_closure(truth: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Every pair implied by the truth (a = b and b = c give a = c)."""
    frame = pd.DataFrame(sorted(truth), columns=["person_id_a", "person_id_b"])
    return cluster_pairs(frame)


def cluster_pairs(pairs: pd.DataFrame) -> set[tuple[str, str]]:
    """All pairs within each connected component of ``pairs`` (person_id_a, person_id_b)."""
    from linkage.clusters import clusters

    if pairs.empty:
        return set()
    frame = pairs[["person_id_a", "person_id_b"]].copy()
    frame["cluster"] = clusters(frame)
    members = pd.concat([frame[["cluster", "person_id_a"]].rename(columns={"person_id_a": "p"}),
                         frame[["cluster", "person_id_b"]].rename(columns={"person_id_b": "p"})])
    out: set[tuple[str, str]] = set()
    for _, group in members.drop_duplicates().groupby("cluster"):
        ids = sorted(group["p"])
        out.update((x, y) for i, x in enumerate(ids) for y in ids[i + 1:])
    return out


def score_pairs(predicted: set[tuple[str, str]], truth: set[tuple[str, str]]) -> Scores:
    return Scores(truth=len(truth), predicted=len(predicted),
                  true_positives=len(predicted & truth))


def evaluate(pairs: pd.DataFrame, truth: set[tuple[str, str]], *,
             threshold: float | None = None) -> Scores:
    """Pairwise scores of the suspected ``pairs`` (match_probability ≥ threshold if given)."""
    if threshold is not None:
        pairs = pairs[pairs["match_probability"] >= threshold]
    return score_pairs(pair_set(pairs["person_id_a"], pairs["person_id_b"]), truth)


def blocking_recall(prepared, truth: set[tuple[str, str]],
                    rules: Iterable[tuple[str, str]] | None = None, *,
                    table: str = "persons") -> pd.DataFrame:
    """For each blocking rule, the share of truth pairs it finds alone and together with
    the rules before it. Rules are SQL over ``l.`` and ``r.`` (model.BLOCKING_RULES).

    ``prepared``: the model's input (job.prepare) as a DataFrame, or a DuckDB connection
    holding it as the table ``table`` (job.run_linkage computes it so, before its DuckDB
    closes).

    Columns: rule, found, recall, cumulative_recall (truth pairs whose persons are missing
    from ``prepared`` count as not found).
    """
    import duckdb
    import pyarrow as pa

    from linkage import model

    rules = list(rules if rules is not None else model.BLOCKING_RULES)
    ordered = sorted(truth)
    truth_table = pa.table({"a": pa.array([a for a, _ in ordered], type=pa.string()),
                            "b": pa.array([b for _, b in ordered], type=pa.string())})
    own = not isinstance(prepared, duckdb.DuckDBPyConnection)
    con = duckdb.connect(":memory:") if own else prepared
    persons = "linkage_recall_persons" if own else table
    try:
        if own:
            con.execute("SET threads = 1")
            con.register(persons, prepared)
        con.register("linkage_recall_truth", truth_table)
        conditions = ", ".join(f"coalesce(({sql}), false) AS r{i}"
                               for i, (_, sql) in enumerate(rules))
        hits = con.execute(
            f"SELECT {conditions} FROM linkage_recall_truth t "
            f"JOIN {persons} l ON l.unique_id = t.a JOIN {persons} r ON r.unique_id = t.b"
        ).df()
    finally:
        if own:
            con.close()
        else:
            con.unregister("linkage_recall_truth")
    total = len(ordered)
    rows = []
    cumulative = pd.Series(False, index=hits.index)
    for i, (name, _) in enumerate(rules):
        column = hits[f"r{i}"].astype(bool)
        cumulative = cumulative | column
        rows.append({"rule": name, "found": int(column.sum()),
                     "recall": column.sum() / total if total else 0.0,
                     "cumulative_recall": cumulative.sum() / total if total else 0.0})
    return pd.DataFrame(rows)
