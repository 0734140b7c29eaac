"""Record linkage in the app store: runs, suspected pairs, their evidence, officers' decisions.

A run (``python -m linkage``) is stored whole in one transaction:
``store_linkage_run(store, result)``. Pairs are unordered and always kept as
``person_id_a < person_id_b``. Decisions are keyed by the pair alone, not by a run, so a
decision made on one run holds for every later run that finds the pair again: a pair
dismissed as "different persons" stays dismissed (``suspected_pairs`` leaves it out), and
``review_queue`` offers only pairs nobody has decided yet.

Precision: officers' decisions on a run's pairs estimate how many of its pairs are right
(``precision_estimate``), per band of match probability, so that reviewing a few pairs of
each band says something about all of them.

Values are plain Python / pandas; timestamps are naive UTC. SQLAlchemy Core only;
functions take the app-store engine (data_access.app_store).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from core.i18n import N_
from core.values import python_value
from data_access.snapshots import utcnow

DECISIONS: tuple[str, ...] = ("same", "different", "unsure")
DECISION_LABELS: dict[str, str] = {
    "same": N_("same person"), "different": N_("different persons"), "unsure": N_("unsure"),
}
CHUNK_ROWS = 5000
# Bands of match probability for the precision estimate: [low, high).
BANDS: tuple[tuple[float, float], ...] = ((0.0, 0.8), (0.8, 0.95), (0.95, 0.99), (0.99, 1.01))

metadata = sa.MetaData()
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The tables of migration 0003 (data_access/migrations/versions/0003_linkage.py).
linkage_run = sa.Table(
    "linkage_run", metadata,
    sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime, nullable=False),
    sa.Column("seconds", sa.Double, nullable=False),
    sa.Column("as_of", sa.Date),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("threshold", sa.Double, nullable=False),
    sa.Column("persons", sa.Integer, nullable=False),
    sa.Column("pairs", sa.Integer, nullable=False),
    sa.Column("clusters", sa.Integer, nullable=False),
    sa.Column("records_in_clusters", sa.Integer, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
)

linkage_pair = sa.Table(
    "linkage_pair", metadata,
    sa.Column("pair_id", _BIG_ID, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("linkage_run.run_id"), nullable=False),
    sa.Column("person_id_a", sa.String(100), nullable=False),
    sa.Column("person_id_b", sa.String(100), nullable=False),
    sa.Column("match_probability", sa.Double, nullable=False),
    sa.Column("match_weight", sa.Double, nullable=False),
    sa.Column("blocked_by", sa.String(100)),
    sa.Column("cluster_id", sa.String(100), nullable=False),
    sa.Column("area_id_a", sa.String(100)),
    sa.Column("programmes_a", sa.Text),
    sa.Column("programmes_b", sa.Text),
    sa.Column("cross_programme", sa.Boolean, nullable=False),
    sa.Column("same_programme", sa.Boolean, nullable=False),
    # Migration 0008: the place in the review queue (1: ask first; NULL: decided, or an
    # older run).
    sa.Column("review_rank", sa.Integer),
)

linkage_evidence = sa.Table(
    "linkage_evidence", metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("linkage_run.run_id"), primary_key=True),
    sa.Column("person_id_a", sa.String(100), primary_key=True),
    sa.Column("person_id_b", sa.String(100), primary_key=True),
    sa.Column("comparison", sa.String(50), primary_key=True),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("match_weight", sa.Double),
)

linkage_decision = sa.Table(
    "linkage_decision", metadata,
    sa.Column("person_id_a", sa.String(100), primary_key=True),
    sa.Column("person_id_b", sa.String(100), primary_key=True),
    sa.Column("decision", sa.String(10), nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("decided_by", sa.Text, nullable=False),
    sa.Column("decided_at", sa.DateTime, nullable=False),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("linkage_run.run_id")),
    sa.Column("match_probability", sa.Double),
    sa.Column("blind", sa.Boolean, nullable=False),
)

PAIR_COLUMNS: tuple[str, ...] = (
    "run_id", "person_id_a", "person_id_b", "match_probability", "match_weight", "blocked_by",
    "cluster_id", "area_id_a", "programmes_a", "programmes_b", "cross_programme",
    "same_programme", "review_rank",
)
DECISION_COLUMNS: tuple[str, ...] = ("decision", "note", "decided_by", "decided_at")
EVIDENCE_COLUMNS: tuple[str, ...] = ("comparison", "level", "label", "match_weight")


@dataclass(frozen=True)
class LinkageRun:
    run_id: int
    started_at: dt.datetime
    finished_at: dt.datetime
    seconds: float
    as_of: dt.date | None
    seed: int
    threshold: float
    persons: int
    pairs: int
    clusters: int
    records_in_clusters: int
    model: dict[str, Any]

    @property
    def persons_registered_more_than_once(self) -> int:
        """Clusters of suspected pairs: each is one person registered two or more times."""
        return self.clusters


def ordered(person_id_a: str, person_id_b: str) -> tuple[str, str]:
    """The pair as stored: the smaller id first. Raise ValueError for a person with itself."""
    a, b = str(person_id_a), str(person_id_b)
    if a == b:
        raise ValueError(f"a pair needs two different persons, not `{a}` twice")
    return (a, b) if a < b else (b, a)


# --- storing a run -------------------------------------------------------------------------

def _records(frame: pd.DataFrame, columns: tuple[str, ...], extra: dict[str, Any]
             ) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    # A column the frame lacks (a result of an older job: no review rank) is stored NULL.
    for row in frame.reindex(columns=list(columns)).itertuples(index=False, name=None):
        record = {name: python_value(value) for name, value in zip(columns, row, strict=True)}
        record.update(extra)
        chunk.append(record)
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def store_linkage_run(store: sa.Engine, result) -> int:
    """Store a run of the job (linkage.job.LinkageResult): the run, its pairs and
    their evidence, in one transaction. Its run id."""
    pairs = result.pairs
    bad = pairs[pairs["person_id_a"] >= pairs["person_id_b"]]
    if len(bad):
        raise ValueError(f"{len(bad)} pair(s) are not ordered person_id_a < person_id_b")
    model = {
        "parameters": result.parameters,
        "options": {k: getattr(result.options, k) for k in result.options.__dataclass_fields__},
        "blocking": result.blocking.to_dict(orient="records"),
        **result.extra,
    }
    finished = utcnow()
    with store.begin() as conn:
        run_id = conn.execute(linkage_run.insert().values(
            started_at=result.started_at, finished_at=finished, seconds=float(result.seconds),
            as_of=result.as_of, seed=int(result.options.seed),
            threshold=float(result.options.threshold), persons=int(result.persons),
            pairs=len(pairs), clusters=int(result.clusters),
            records_in_clusters=int(result.records_in_clusters),
            model=json.dumps(model, sort_keys=True, default=str),
        )).inserted_primary_key[0]
        pair_columns = tuple(c for c in PAIR_COLUMNS if c != "run_id")
        for chunk in _records(pairs, pair_columns, {"run_id": run_id}):
            for record in chunk:
                record["cross_programme"] = bool(record["cross_programme"])
                record["same_programme"] = bool(record["same_programme"])
            conn.execute(linkage_pair.insert(), chunk)
        evidence_columns = ("person_id_a", "person_id_b", "comparison", "level", "label",
                            "match_weight")
        for chunk in _records(result.evidence, evidence_columns, {"run_id": run_id}):
            for record in chunk:
                record["level"] = int(record["level"])
            conn.execute(linkage_evidence.insert(), chunk)
    return int(run_id)


# --- reading runs and pairs ----------------------------------------------------------------

def _run_of(row: sa.Row) -> LinkageRun:
    return LinkageRun(
        run_id=int(row.run_id), started_at=row.started_at, finished_at=row.finished_at,
        seconds=float(row.seconds), as_of=row.as_of, seed=int(row.seed),
        threshold=float(row.threshold), persons=int(row.persons), pairs=int(row.pairs),
        clusters=int(row.clusters), records_in_clusters=int(row.records_in_clusters),
        model=json.loads(row.model))


def runs(store: sa.Engine) -> list[LinkageRun]:
    """Every run, oldest first."""
    with store.connect() as conn:
        return [_run_of(r) for r in conn.execute(
            sa.select(linkage_run).order_by(linkage_run.c.run_id))]


def get_run(store: sa.Engine, run_id: int) -> LinkageRun:
    """The run ``run_id``; KeyError when there is none."""
    with store.connect() as conn:
        row = conn.execute(sa.select(linkage_run).where(linkage_run.c.run_id == run_id)).first()
    if row is None:
        raise KeyError(f"no linkage run {run_id}")
    return _run_of(row)


def latest_run(store: sa.Engine) -> LinkageRun | None:
    """The newest run, or None before the job has ever run."""
    with store.connect() as conn:
        row = conn.execute(sa.select(linkage_run).order_by(linkage_run.c.run_id.desc())
                           .limit(1)).first()
    return None if row is None else _run_of(row)


def _resolve_run(store: sa.Engine, run_id: int | None) -> int | None:
    if run_id is not None:
        return int(run_id)
    run = latest_run(store)
    return None if run is None else run.run_id


def _pairs_query(run_id: int) -> sa.Select:
    p, d = linkage_pair, linkage_decision
    return (
        sa.select(*[p.c[c] for c in PAIR_COLUMNS], *[d.c[c] for c in DECISION_COLUMNS])
        .select_from(p.outerjoin(d, sa.and_(d.c.person_id_a == p.c.person_id_a,
                                            d.c.person_id_b == p.c.person_id_b)))
        .where(p.c.run_id == run_id)
    )


def _frame(conn: sa.Connection, query: sa.Select) -> pd.DataFrame:
    result = conn.execute(query)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()), dtype=object)
    for col in ("match_probability", "match_weight"):
        if col in frame:
            frame[col] = frame[col].astype(float)
    for col in ("cross_programme", "same_programme"):
        if col in frame:
            frame[col] = frame[col].astype(bool)
    return frame


def suspected_pairs(store: sa.Engine, run_id: int | None = None, *,
                    include_dismissed: bool = False) -> pd.DataFrame:
    """The pairs of a run (default: the newest) with any decision taken on them, most
    probable first. Pairs decided "different" are left out unless ``include_dismissed``.

    Columns: PAIR_COLUMNS, then decision, note, decided_by, decided_at (None: undecided).
    """
    run_id = _resolve_run(store, run_id)
    columns = list(PAIR_COLUMNS) + list(DECISION_COLUMNS)
    if run_id is None:
        return pd.DataFrame(columns=columns)
    query = _pairs_query(run_id)
    if not include_dismissed:
        query = query.where(sa.or_(linkage_decision.c.decision.is_(None),
                                   linkage_decision.c.decision != "different"))
    query = query.order_by(linkage_pair.c.match_probability.desc(), linkage_pair.c.person_id_a,
                           linkage_pair.c.person_id_b)
    with store.connect() as conn:
        return _frame(conn, query)


def review_queue(store: sa.Engine, run_id: int | None = None, *,
                 limit: int | None = None) -> pd.DataFrame:
    """The undecided pairs of a run (default: the newest), in the order the job ranked
    them (``review_rank``: what a decision would teach the model, uncertainty and levels
    few decisions cover), then — pairs without a rank: decided when the run was stored and
    undecided since, or an older run — the most uncertain first (match probability
    nearest one half), then by person ids."""
    run_id = _resolve_run(store, run_id)
    if run_id is None:
        return pd.DataFrame(columns=list(PAIR_COLUMNS) + list(DECISION_COLUMNS))
    p = linkage_pair
    query = (_pairs_query(run_id).where(linkage_decision.c.decision.is_(None))
             .order_by(p.c.review_rank.is_(None), p.c.review_rank,
                       sa.func.abs(p.c.match_weight), p.c.person_id_a, p.c.person_id_b))
    if limit is not None:
        query = query.limit(int(limit))
    with store.connect() as conn:
        return _frame(conn, query)


def pair_evidence(store: sa.Engine, run_id: int, person_id_a: str, person_id_b: str
                  ) -> pd.DataFrame:
    """The evidence of a pair in a run: comparison, level, label, match_weight (the order of
    the model's comparisons)."""
    a, b = ordered(person_id_a, person_id_b)
    e = linkage_evidence
    query = (sa.select(*[e.c[c] for c in EVIDENCE_COLUMNS])
             .where(e.c.run_id == run_id, e.c.person_id_a == a, e.c.person_id_b == b))
    with store.connect() as conn:
        frame = _frame(conn, query)
    order = {"first_name": 0, "birth_date": 1, "national_id": 2, "sex": 3, "household": 4}
    frame["_order"] = frame["comparison"].map(lambda c: order.get(c, 99))
    return frame.sort_values(["_order", "comparison"]).drop(columns="_order").reset_index(
        drop=True)


# --- decisions -----------------------------------------------------------------------------

def record_decision(store: sa.Engine, person_id_a: str, person_id_b: str, decision: str, *,
                    decided_by: str, note: str | None = None, run_id: int | None = None,
                    match_probability: float | None = None, blind: bool = False,
                    at: dt.datetime | None = None) -> None:
    """Record (or replace) the decision on a pair: "same", "different" or "unsure".

    ``run_id`` and ``match_probability``: the run and score the officer was looking at
    (for the precision estimate); ``blind``: the score was hidden from them.
    """
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision `{decision}` (decisions: {', '.join(DECISIONS)})")
    if not decided_by:
        raise ValueError("a decision needs the name of who took it")
    a, b = ordered(person_id_a, person_id_b)
    note = (note or "").strip() or None
    d = linkage_decision
    with store.begin() as conn:
        conn.execute(d.delete().where(d.c.person_id_a == a, d.c.person_id_b == b))
        conn.execute(d.insert().values(
            person_id_a=a, person_id_b=b, decision=decision, note=note, decided_by=decided_by,
            decided_at=at or utcnow(), run_id=run_id,
            match_probability=None if match_probability is None else float(match_probability),
            blind=bool(blind)))


def clear_decision(store: sa.Engine, person_id_a: str, person_id_b: str) -> None:
    """Forget the decision on a pair (it goes back to the review queue)."""
    a, b = ordered(person_id_a, person_id_b)
    d = linkage_decision
    with store.begin() as conn:
        conn.execute(d.delete().where(d.c.person_id_a == a, d.c.person_id_b == b))


def decisions(store: sa.Engine) -> pd.DataFrame:
    """Every decision, newest first."""
    d = linkage_decision
    with store.connect() as conn:
        return _frame(conn, sa.select(d).order_by(d.c.decided_at.desc(), d.c.person_id_a,
                                                  d.c.person_id_b))


def get_decision(store: sa.Engine, person_id_a: str, person_id_b: str) -> dict[str, Any] | None:
    """The decision on a pair as a dict, or None."""
    a, b = ordered(person_id_a, person_id_b)
    d = linkage_decision
    with store.connect() as conn:
        row = conn.execute(sa.select(d).where(d.c.person_id_a == a, d.c.person_id_b == b)).first()
    return None if row is None else dict(row._mapping)


# --- precision -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Band:
    low: float
    high: float
    pairs: int        # pairs of the run in the band
    reviewed: int     # decided same or different (unsure left out)
    same: int
    mean_probability: float | None = None  # the model's mean match probability in the band

    @property
    def precision(self) -> float | None:
        return self.same / self.reviewed if self.reviewed else None

    @property
    def label(self) -> str:
        high = min(self.high, 1.0)
        return f"{self.low:.2f}–{high:.2f}"


@dataclass(frozen=True)
class PrecisionEstimate:
    """How many of a run's pairs are right, from the officers' decisions.

    ``reviewed_precision``: the share "same person" among the reviewed pairs (unsure left
    out), with a 95 % Wilson interval. ``estimated_precision``: each band's reviewed
    precision weighted by the band's pairs (a band nobody reviewed counts at its mean match
    probability, the model's own estimate).
    """

    run_id: int | None
    pairs: int
    reviewed: int
    same: int
    unsure: int
    bands: tuple[Band, ...]
    estimated_precision: float | None
    # Decisions needed for the estimate to be within MARGIN (95 %): decisions_needed().
    needed: int | None = None

    @property
    def reviewed_precision(self) -> float | None:
        return self.same / self.reviewed if self.reviewed else None

    @property
    def interval(self) -> tuple[float, float] | None:
        if not self.reviewed:
            return None
        return wilson(self.same, self.reviewed)


# The precision estimate's wanted half-width (±2 points, 95 %), and the reviewed pairs from
# which a band's own precision stands in for the model's mean probability when counting the
# decisions needed.
MARGIN = 0.02
MIN_BAND_REVIEWED = 10


def decisions_needed(bands: tuple[Band, ...], *, margin: float = MARGIN,
                     z: float = 1.96) -> int:
    """Decisions (same or different) for the estimate over all pairs to be within
    ``margin`` at 95 %: pairs drawn at random in each band of match probability, as many
    from a band as its share of the pairs (stratified sampling, proportional allocation):
    n = z² Σ W_h p_h (1 - p_h) / margin², less for a small run (finite population). A band's
    precision p_h is its reviewed precision once MIN_BAND_REVIEWED pairs are decided,
    before that the model's mean probability."""
    total = sum(b.pairs for b in bands)
    if not total:
        return 0
    spread = 0.0
    for band in bands:
        if not band.pairs:
            continue
        if band.reviewed >= MIN_BAND_REVIEWED:
            p = band.same / band.reviewed
        else:
            p = band.mean_probability if band.mean_probability is not None else 0.5
        spread += band.pairs / total * p * (1 - p)
    first = z * z * spread / (margin * margin)
    return math.ceil(first / (1 + first / total)) if first > 0 else 0


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion."""
    if trials <= 0:
        return (0.0, 1.0)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def precision_estimate(store: sa.Engine, run_id: int | None = None) -> PrecisionEstimate:
    """Precision of a run's pairs (default: the newest run) from the decisions on them."""
    run_id = _resolve_run(store, run_id)
    empty = PrecisionEstimate(run_id, 0, 0, 0, 0, (), None)
    if run_id is None:
        return empty
    frame = suspected_pairs(store, run_id, include_dismissed=True)
    if frame.empty:
        return empty
    bands: list[Band] = []
    expected = 0.0
    for low, high in BANDS:
        in_band = frame[(frame["match_probability"] >= low) & (frame["match_probability"] < high)]
        same = int((in_band["decision"] == "same").sum())
        different = int((in_band["decision"] == "different").sum())
        mean = float(in_band["match_probability"].mean()) if len(in_band) else None
        band = Band(low, high, len(in_band), same + different, same, mean)
        bands.append(band)
        if len(in_band):
            rate = band.precision if band.precision is not None else float(
                in_band["match_probability"].mean())
            expected += rate * len(in_band)
    same = int((frame["decision"] == "same").sum())
    different = int((frame["decision"] == "different").sum())
    return PrecisionEstimate(
        run_id=run_id, pairs=len(frame), reviewed=same + different, same=same,
        unsure=int((frame["decision"] == "unsure").sum()), bands=tuple(bands),
        estimated_precision=expected / len(frame), needed=decisions_needed(tuple(bands)))


# --- for dup.suspected_pairs ---------------------------------------------------------------

def undismissed_pairs(store: sa.Engine, run_id: int | None = None) -> pd.DataFrame | None:
    """person_id_a, person_id_b, cross_programme of the run's (default: the newest) pairs not
    dismissed: what ``dup.suspected_pairs`` counts (indicators.compute's ``suspected_pairs``:
    in the area of person_id_a, among registered persons). None before the job has ever
    run: the figure is then unknown, not zero."""
    if _resolve_run(store, run_id) is None:
        return None
    frame = suspected_pairs(store, run_id)
    return frame[["person_id_a", "person_id_b", "cross_programme"]].reset_index(drop=True)
