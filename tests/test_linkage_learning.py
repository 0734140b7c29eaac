"""Learning from officers' decisions (linkage.learning) and which pairs to ask about.

- the calibration moves each level's weight the way the decisions on it point, more with
  more decisions, and converges to its posterior's maximum;
- the review order prefers uncertain pairs whose levels few decisions cover, and spreads
  the first pairs across levels;
- through the job and the app store: decisions change the trained parameters in the
  expected direction and survive re-runs (a dismissed pair stays dismissed and joins no
  cluster, a confirmed pair stays whatever its score), the evidence still adds up.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_access.linkage_store import (
    decisions,
    pair_evidence,
    record_decision,
    review_queue,
    store_linkage_run,
    suspected_pairs,
)
from data_access.registry import open_registry
from demo.generator import Options, generate
from linkage import learning
from linkage.clusters import clusters
from linkage.job import CONFIRMED, run_linkage
from linkage.model import ModelOptions, comparisons

LEVELS = learning.comparison_levels(comparisons())
# Splink's level numbers of two household levels (else = 0, counted from the last).
HOUSEHOLD = [lv["label_for_charts"] for lv in comparisons()[4]["comparison_levels"]
             if not lv.get("is_null_level")]


def gamma(label: str) -> int:
    return len(HOUSEHOLD) - 1 - HOUSEHOLD.index(label)


OTHER_AREA = gamma("same family and father, other area")
SAME_AREA = gamma("same family and father, same area")


def pairs_at(household: int, n: int, weight: float, start: int = 0) -> pd.DataFrame:
    """``n`` scored pairs whose household comparison is at ``household``, every other
    comparison at the same levels, of unsupervised weight ``weight`` bits."""
    frame = pd.DataFrame({f"gamma_{name}": 0 for name in dict.fromkeys(c for c, _ in LEVELS)},
                         index=range(n))
    frame["gamma_first_name"] = 7
    frame["gamma_household"] = household
    frame["match_weight"] = weight
    frame["person_id_a"] = [f"A{start + i:04d}" for i in range(n)]
    frame["person_id_b"] = [f"B{start + i:04d}" for i in range(n)]
    return frame


def correction(learned: learning.Learned, name: str, level: int) -> float:
    return learned.correction(name)[level]


def test_decisions_move_each_level_the_way_they_point():
    # Officers dismiss pairs the model found likely ("other area": +2 bits) and confirm
    # pairs it doubted ("same area": -1 bit).
    frame = pd.concat([pairs_at(OTHER_AREA, 40, 2.0), pairs_at(SAME_AREA, 40, -1.0, 40)],
                      ignore_index=True)
    outcomes = np.array([0] * 40 + [1] * 40)
    learned = learning.fit(frame, outcomes, LEVELS, prior_sd=1.0)
    assert correction(learned, "household", OTHER_AREA) < -1.0
    assert correction(learned, "household", SAME_AREA) > 1.0
    assert learned.labels == 80 and learned.same == 40
    # More decisions move a level further (the prior holds back a few).
    few = learning.fit(frame.iloc[[0, 1, 2, 40, 41, 42]], outcomes[[0, 1, 2, 40, 41, 42]],
                       LEVELS, prior_sd=1.0)
    assert correction(learned, "household", OTHER_AREA) < correction(
        few, "household", OTHER_AREA) < 0
    # Levels no decision reached are left where the unsupervised model put them.
    assert correction(learned, "national_id", 2) == pytest.approx(0.0, abs=1e-9)
    # Applied, the corrections move the pairs' scores the same way.
    scored = learned.apply(frame.copy())
    assert (scored["match_weight"].iloc[:40] < 2.0).all()
    assert (scored["match_weight"].iloc[40:] > -1.0).all()
    assert scored["match_probability"].iloc[0] == pytest.approx(
        1 / (1 + 2 ** -scored["match_weight"].iloc[0]))


def test_the_fit_reaches_the_posterior_maximum_even_from_far():
    """Decided pairs the unsupervised model scored far off (confirmed at -25 bits, dismissed
    at +25) once made full Newton steps diverge to corrections of twenty bits."""
    frame = pd.concat([pairs_at(OTHER_AREA, 30, -25.0), pairs_at(SAME_AREA, 30, 25.0, 30),
                       pairs_at(gamma("same area"), 30, 0.5, 60)], ignore_index=True)
    outcomes = np.array([1] * 30 + [0] * 30 + [1, 0] * 15)
    learned = learning.fit(frame, outcomes, LEVELS, prior_sd=1.0)
    beta = np.array([learned.prior_bits, *learned.level_bits]) * math.log(2)
    x = learning.design(frame, LEVELS)
    offset = np.clip(frame["match_weight"].to_numpy(), -learning.WEIGHT_CLIP,
                     learning.WEIGHT_CLIP) * math.log(2)
    p = 1 / (1 + np.exp(-(offset + x @ beta)))
    gradient = x.T @ (outcomes - p) - beta  # the log posterior's slope: zero at its maximum
    assert np.abs(gradient).max() < 1e-6


def test_the_queue_asks_first_what_would_teach_most():
    # Known: many decisions on "same family and father, same area" pairs.
    known = learning.fit(pairs_at(SAME_AREA, 200, 0.0), np.array([1, 0] * 100), LEVELS, 1.0)
    candidates = pd.concat([
        pairs_at(SAME_AREA, 5, 0.0),                        # uncertain, levels well known
        pairs_at(OTHER_AREA, 5, 0.0, 5),                    # uncertain, levels never decided
        pairs_at(gamma("same phone, other household"), 5, 8.0, 10),  # novel but certain
    ], ignore_index=True)
    candidates["match_probability"] = 1 / (1 + 2 ** -candidates["match_weight"])
    ranks = learning.review_ranks(candidates, LEVELS, known.precision)
    assert sorted(ranks) == list(range(1, 16))
    assert ranks[5:10].min() == 1                           # the novel uncertain pair first
    assert ranks[5:10].min() < ranks[0:5].min()
    assert ranks[10:15].min() > ranks[5:10].min()           # certain pairs teach little
    # Deterministic.
    assert (learning.review_ranks(candidates, LEVELS, known.precision) == ranks).all()


def test_the_first_pairs_asked_spread_across_levels():
    """Before any decision, three patterns of levels, five equally uncertain pairs each:
    once a pair is asked about, its pattern is known a little, so the next pair asked is
    of another pattern."""
    candidates = pd.concat([pairs_at(level, 5, 0.0, 5 * i) for i, level in enumerate(
        (SAME_AREA, OTHER_AREA, gamma("same area")))], ignore_index=True)
    candidates["match_probability"] = 0.5
    ranks = learning.review_ranks(candidates, LEVELS,
                                  learning.prior_information(LEVELS, 1.0))
    first_three = candidates.iloc[np.argsort(ranks)[:3]]
    assert first_three["gamma_household"].nunique() == 3


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> str:
    """A demo registry of ~5,000 persons with planted re-registrations."""
    out = tmp_path_factory.mktemp("learning") / "registry.db"
    generate(Options(out=out, households=800, seed=5))
    return f"sqlite:///{out}"


OPTIONS = ModelOptions(seed=3, u_max_pairs=2e5)


def _weights(evidence: pd.DataFrame, comparison: str) -> dict[tuple[str, str], float]:
    part = evidence[evidence["comparison"] == comparison]
    return dict(zip(zip(part["person_id_a"], part["person_id_b"], strict=True),
                    part["match_weight"], strict=True))


@pytest.fixture(scope="module")
def runs(planted: str) -> dict:
    """The job run, then officers' decisions (up to 12 pairs of the commonest household
    level dismissed, two persons the run did not suspect confirmed), then the job run twice
    with them."""
    engine = open_registry(planted)
    try:
        first = run_linkage(engine, OPTIONS)
        household = first.evidence[first.evidence["comparison"] == "household"]
        level = int(household["level"].value_counts().index[0])
        at_level = household[household["level"] == level]
        dismissed = list(zip(at_level["person_id_a"], at_level["person_id_b"],
                             strict=True))[:12]
        pairs = first.pairs
        suspected = set(zip(pairs["person_id_a"], pairs["person_id_b"], strict=True))
        people = sorted(set(pairs["person_id_a"]) | set(pairs["person_id_b"]))
        confirmed = next((a, b) for a in people[:20] for b in people[-20:]
                         if a < b and (a, b) not in suspected)
        taken = pd.DataFrame(
            [(a, b, "different") for a, b in dismissed] + [(*confirmed, "same")],
            columns=["person_id_a", "person_id_b", "decision"])
        second = run_linkage(engine, OPTIONS, decisions=taken)
        third = run_linkage(engine, OPTIONS, decisions=taken)
    finally:
        engine.dispose()
    return {"first": first, "second": second, "third": third, "level": level,
            "dismissed": dismissed, "confirmed": confirmed, "decisions": taken}


def test_decisions_change_the_trained_parameters_as_expected(runs):
    first, second, level = runs["first"], runs["second"], runs["level"]
    assert "learned" not in first.parameters
    assert first.pairs["review_rank"].notna().all()
    assert sorted(first.pairs["review_rank"]) == list(range(1, len(first.pairs) + 1))
    # The dismissed level weighs less, in the parameters and in the evidence of the pairs
    # at that level.
    learned = second.parameters["learned"]
    dismissed = len(runs["dismissed"])
    assert dismissed >= 8
    assert learned["decisions"] == dismissed + 1 and learned["different"] == dismissed
    bits = {lv["level"]: lv["bits"] for lv in learned["comparisons"]["household"]}
    assert bits[level] < -0.5
    household = first.evidence[(first.evidence["comparison"] == "household")
                               & (first.evidence["level"] == level)]
    before = _weights(household, "household")
    after = _weights(second.evidence, "household")
    common = [key for key in before if key in after]
    assert common and all(after[k] < before[k] for k in common)
    # The evidence still adds up to each pair's score with one (corrected) prior.
    fields = second.evidence.groupby(["person_id_a", "person_id_b"])["match_weight"].sum()
    scores = second.pairs.set_index(["person_id_a", "person_id_b"])["match_weight"]
    assert (scores - fields.reindex(scores.index)).round(4).nunique() == 1
    # The same decisions teach the same: deterministic.
    pd.testing.assert_frame_equal(second.pairs, runs["third"].pairs)
    assert learned == runs["third"].parameters["learned"]


def test_decisions_survive_reruns(runs, store):
    dismissed, confirmed = runs["dismissed"], runs["confirmed"]
    run1 = store_linkage_run(store, runs["first"])
    for a, b, decision in runs["decisions"].itertuples(index=False, name=None):
        record_decision(store, a, b, decision, decided_by="officer", run_id=run1)
    # What the command line reads from the store is what the runs learned from.
    pd.testing.assert_frame_equal(learning.labelled_pairs(decisions(store)),
                                  learning.labelled_pairs(runs["decisions"]))
    second = runs["second"]
    run2 = store_linkage_run(store, second)
    kept = suspected_pairs(store, run2)
    keys = set(zip(kept["person_id_a"], kept["person_id_b"], strict=True))
    # Dismissed stays dismissed; confirmed stays, whatever its score now.
    assert not keys & set(dismissed)
    assert confirmed in keys
    row = kept.set_index(["person_id_a", "person_id_b"]).loc[confirmed]
    assert row["decision"] == "same"
    assert row["blocked_by"] == CONFIRMED or row["match_probability"] >= 0.5
    assert len(pair_evidence(store, run2, *confirmed)) == 5
    # Nothing decided is asked again; the queue follows the job's ranks.
    queue = review_queue(store, run2)
    asked = set(zip(queue["person_id_a"], queue["person_id_b"], strict=True))
    assert not asked & (set(dismissed) | {confirmed})
    assert len(queue) == len(second.pairs) - len(set(dismissed) & set(
        zip(second.pairs["person_id_a"], second.pairs["person_id_b"], strict=True))) - 1
    assert queue["review_rank"].is_monotonic_increasing
    # A dismissed pair joins no cluster: the clusters are those of the other pairs.
    everything = suspected_pairs(store, run2, include_dismissed=True)
    joined = everything[everything["decision"] != "different"]
    expected = clusters(joined.reset_index(drop=True))
    assert list(joined["cluster_id"]) == list(expected)


def test_no_decisions_no_learning(tmp_path: Path):
    assert learning.labelled_pairs(None).empty
    frame = pd.DataFrame({"person_id_a": ["B", "A", "C"], "person_id_b": ["A", "B", "D"],
                          "decision": ["same", "different", "unsure"]})
    labelled = learning.labelled_pairs(frame)
    # One pair a pair (the store keeps one decision a pair; here the first), unsure left out.
    assert list(labelled.itertuples(index=False, name=None)) == [("A", "B", 1)]
