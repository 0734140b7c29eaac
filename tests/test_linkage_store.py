"""The linkage tables of the app store, on SQLite and PostgreSQL: runs, pairs, evidence,
decisions that outlive runs, the review queue and the precision estimate."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
import sqlalchemy as sa

from data_access.app_store import app_store_revision, head_revision
from data_access.linkage_store import (
    Band,
    clear_decision,
    decisions,
    decisions_needed,
    get_decision,
    get_run,
    latest_run,
    ordered,
    pair_evidence,
    precision_estimate,
    record_decision,
    review_queue,
    runs,
    store_linkage_run,
    suspected_pairs,
    undismissed_pairs,
    wilson,
)
from linkage.job import EVIDENCE_COLUMNS, PAIR_COLUMNS, LinkageResult
from linkage.model import ModelOptions

COMPARISONS = ("first_name", "birth_date", "national_id", "sex", "household")


def result(probabilities: dict[tuple[str, str], float], seed: int = 1) -> LinkageResult:
    """A run's result made by hand: the given pairs, each with five evidence rows."""
    rows = []
    for (a, b), p in sorted(probabilities.items()):
        weight = float(pd.Series([p]).pipe(lambda s: (s / (1 - s)).apply(
            lambda x: __import__("math").log2(x)))[0])
        rows.append({"person_id_a": a, "person_id_b": b, "match_probability": p,
                     "match_weight": weight, "blocked_by": "phone", "cluster_id": a,
                     "area_id_a": "UC-1", "programmes_a": "cash", "programmes_b": "food",
                     "cross_programme": True, "same_programme": False})
    pairs = pd.DataFrame(rows, columns=list(PAIR_COLUMNS))
    evidence = pd.DataFrame(
        [{"person_id_a": r["person_id_a"], "person_id_b": r["person_id_b"], "comparison": c,
          "level": 3, "label": f"{c} agrees", "match_weight": 1.5} for r in rows
         for c in COMPARISONS], columns=list(EVIDENCE_COLUMNS))
    return LinkageResult(
        started_at=dt.datetime(2026, 11, 30, 8), seconds=1.5, persons=100,
        options=ModelOptions(seed=seed), pairs=pairs, evidence=evidence,
        blocking=pd.DataFrame({"rule": ["phone"], "comparisons": [10]}),
        parameters={"probability_two_random_records_match": 1e-4}, clusters=len(rows),
        records_in_clusters=2 * len(rows), as_of=dt.date(2026, 10, 31))


FIRST = {("P1", "P2"): 0.99, ("P3", "P4"): 0.55, ("P5", "P6"): 0.7, ("P7", "P8"): 0.97}


def test_the_store_is_at_the_linkage_revision(store):
    assert head_revision() >= "0003"
    assert app_store_revision(store) == head_revision()
    tables = set(sa.inspect(store).get_table_names())
    assert {"linkage_run", "linkage_pair", "linkage_evidence", "linkage_decision"} <= tables


def test_a_run_is_stored_whole(store):
    assert latest_run(store) is None
    assert suspected_pairs(store).empty
    assert undismissed_pairs(store) is None  # no run yet: dup.suspected_pairs is unknown
    run_id = store_linkage_run(store, result(FIRST, seed=5))
    run = get_run(store, run_id)
    assert (run.persons, run.pairs, run.clusters, run.seed) == (100, 4, 4, 5)
    assert run.persons_registered_more_than_once == 4
    assert run.as_of == dt.date(2026, 10, 31)
    assert run.model["blocking"] == [{"rule": "phone", "comparisons": 10}]
    assert run.model["options"]["seed"] == 5
    assert [r.run_id for r in runs(store)] == [run_id]
    pairs = suspected_pairs(store)
    assert list(pairs["match_probability"]) == [0.99, 0.97, 0.7, 0.55]
    assert pairs["decision"].isna().all()
    assert pairs["cross_programme"].all()
    evidence = pair_evidence(store, run_id, "P2", "P1")  # either order
    assert list(evidence["comparison"]) == list(COMPARISONS)
    assert set(evidence["label"]) == {f"{c} agrees" for c in COMPARISONS}
    with pytest.raises(KeyError):
        get_run(store, run_id + 100)


def test_an_unordered_pair_is_refused(store):
    bad = result({("P1", "P2"): 0.9})
    bad.pairs.loc[0, ["person_id_a", "person_id_b"]] = ["P2", "P1"]
    with pytest.raises(ValueError, match="not ordered"):
        store_linkage_run(store, bad)
    assert latest_run(store) is None  # nothing half-stored


def test_the_queue_offers_the_uncertain_pairs_first_and_decisions_leave_it(store):
    run_id = store_linkage_run(store, result(FIRST))
    queue = review_queue(store)
    assert list(zip(queue["person_id_a"], queue["person_id_b"], strict=True)) == [
        ("P3", "P4"), ("P5", "P6"), ("P7", "P8"), ("P1", "P2")]
    record_decision(store, "P4", "P3", "same", decided_by="amina", note=" same CNIC photo ",
                    run_id=run_id, match_probability=0.55, blind=True)
    assert list(review_queue(store)["person_id_a"]) == ["P5", "P7", "P1"]
    assert len(review_queue(store, limit=1)) == 1
    decision = get_decision(store, "P3", "P4")
    assert decision["decision"] == "same" and decision["note"] == "same CNIC photo"
    assert decision["blind"] is True and decision["decided_by"] == "amina"
    # Deciding again replaces the decision; clearing puts the pair back in the queue.
    record_decision(store, "P3", "P4", "unsure", decided_by="bilal")
    assert len(decisions(store)) == 1
    assert get_decision(store, "P3", "P4")["decision"] == "unsure"
    clear_decision(store, "P3", "P4")
    assert get_decision(store, "P3", "P4") is None
    assert len(review_queue(store)) == 4


def test_the_queue_follows_the_jobs_review_ranks(store):
    """The job ranks the pairs by what a decision would teach; pairs without a rank (an
    older run's) come after, the most uncertain first."""
    ranked = result(FIRST)  # rows: P1-P2, P3-P4, P5-P6, P7-P8
    ranked.pairs["review_rank"] = pd.array([2, None, 1, 3], dtype="Int64")
    store_linkage_run(store, ranked)
    queue = review_queue(store)
    assert list(queue["person_id_a"]) == ["P5", "P1", "P7", "P3"]
    assert list(queue["review_rank"])[:3] == [1, 2, 3]


def test_a_dismissed_pair_stays_dismissed_in_a_new_run(store):
    store_linkage_run(store, result(FIRST))
    record_decision(store, "P1", "P2", "different", decided_by="amina", note="twins")
    record_decision(store, "P5", "P6", "same", decided_by="amina")
    # The job runs again: it finds P1-P2 again (a higher score), and a new pair.
    second = dict(FIRST)
    second[("P1", "P2")] = 0.999
    second[("P9", "Q1")] = 0.8
    run_2 = store_linkage_run(store, result(second))
    assert latest_run(store).run_id == run_2
    kept = suspected_pairs(store)
    assert ("P1", "P2") not in set(zip(kept["person_id_a"], kept["person_id_b"], strict=True))
    assert len(kept) == 4
    everything = suspected_pairs(store, include_dismissed=True)
    decided = everything.set_index("person_id_a")["decision"]
    assert decided["P1"] == "different" and decided["P5"] == "same"
    assert set(review_queue(store)["person_id_a"]) == {"P3", "P7", "P9"}
    assert set(undismissed_pairs(store)["person_id_a"]) == {"P3", "P5", "P7", "P9"}


def test_the_precision_estimate_follows_the_decisions(store):
    run_id = store_linkage_run(store, result(FIRST))
    before = precision_estimate(store)
    assert before.reviewed == 0 and before.reviewed_precision is None
    # Unreviewed: the model's own mean probability.
    assert before.estimated_precision == pytest.approx(sum(FIRST.values()) / 4)
    record_decision(store, "P3", "P4", "different", decided_by="amina", run_id=run_id)
    record_decision(store, "P5", "P6", "same", decided_by="amina", run_id=run_id)
    record_decision(store, "P7", "P8", "unsure", decided_by="amina", run_id=run_id)
    after = precision_estimate(store, run_id)
    assert (after.pairs, after.reviewed, after.same, after.unsure) == (4, 2, 1, 1)
    assert after.reviewed_precision == 0.5
    low, high = after.interval
    assert 0 < low < 0.5 < high < 1
    band = next(b for b in after.bands if b.low == 0.0)
    assert (band.pairs, band.reviewed, band.same, band.precision) == (2, 2, 1, 0.5)
    # Band 0-0.8 at its reviewed 0.5, the others at their mean probability.
    assert after.estimated_precision == pytest.approx((2 * 0.5 + 0.97 + 0.99) / 4)


def test_decisions_needed_for_two_points_of_precision():
    # One band of a million pairs the model puts at 0.9: z² p(1-p) / 0.02² = 864.4 -> 864
    # (a million pairs hardly shrink it).
    big = (Band(0.8, 0.95, 1_000_000, 0, 0, 0.9),)
    assert decisions_needed(big) == 864
    # A run of 100 pairs needs fewer: the finite population (864 / (1 + 864 / 100)).
    small = (Band(0.8, 0.95, 100, 0, 0, 0.9),)
    assert decisions_needed(small) == math.ceil(864.36 / (1 + 864.36 / 100))
    # Once 10 pairs of a band are decided, its own precision stands in (here 1: no spread
    # left in that band); bands weigh as their share of the pairs.
    mixed = (Band(0.0, 0.8, 500, 10, 5, 0.6), Band(0.99, 1.01, 500, 10, 10, 0.995))
    first = 1.96 ** 2 * 0.5 * 0.25 / 0.02 ** 2
    assert decisions_needed(mixed) == math.ceil(first / (1 + first / 1000))
    assert decisions_needed(()) == 0


def test_decisions_are_checked(store):
    with pytest.raises(ValueError, match="unknown decision"):
        record_decision(store, "P1", "P2", "maybe", decided_by="amina")
    with pytest.raises(ValueError, match="who took it"):
        record_decision(store, "P1", "P2", "same", decided_by="")
    with pytest.raises(ValueError, match="two different persons"):
        ordered("P1", "P1")
    assert ordered("B", "A") == ("A", "B")


def test_wilson_interval():
    low, high = wilson(9, 10)
    assert low == pytest.approx(0.596, abs=1e-3) and high == pytest.approx(0.982, abs=1e-3)
    assert wilson(0, 0) == (0.0, 1.0)
