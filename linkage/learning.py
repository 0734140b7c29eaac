"""Learning from officers' decisions, and which pairs to ask them about.

Every decision on a pair is a label, and labels are what unsupervised training lacks. When
the app store holds decided pairs (same person / different persons; "unsure" teaches
nothing), the job scores them with the unsupervised model and fits a small calibration on
them, the unsupervised model as its prior:

    log-odds(one person) = unsupervised match weight × ln 2 + b + Σ c[comparison, level]

``b`` (the prior's correction) and each ``c`` (one per level of each comparison, its
"missing" level too) start at 0 with a normal prior (standard deviation
``ModelOptions.learning_prior_sd``, in log-odds): a few decisions nudge the model, many
decisions on a level move it. The fit is the posterior's maximum (a penalised logistic
regression, by Newton's method: deterministic).

Why not count m probabilities among the pairs decided "same" (Splink's
``estimate_m_from_pairwise_labels``)? The queue chooses the pairs to ask about by their
comparison levels — the uncertain ones — so the decided pairs are not a sample of the
duplicates: m counted from them would lean toward the levels of doubtful pairs. A model of
P(one person | levels) is not biased by a choice made on the levels.

The corrections, in bits, are added to the comparisons' weights: the evidence an officer
reads is the weight each level was scored with, and the weights still add up, with the
prior (corrected by ``b``), to the pair's score.

Which pairs to ask about (``review_ranks``): the decision that would teach the fit the
most. A label on a pair of probability p and levels x adds p(1 - p) x xᵀ to what is known
(the fit's information matrix A, the prior's I / sd² plus the decided pairs'); the gain is
largest for a pair both uncertain (p near ½) and unlike the pairs decided so far (xᵀ A⁻¹ x:
levels few decisions have covered). The queue is ranked greedily — each pair chosen is
counted as known before the next is chosen, so the first pairs spread across levels —
for the first ``GREEDY_RANKS`` pairs, the rest by their gain.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

LN2 = math.log(2.0)
DECIDED: dict[str, int] = {"same": 1, "different": 0}  # "unsure" teaches nothing
GREEDY_RANKS = 2000
# A pair's unsupervised weight is clipped to this many bits in the fit: a pair at -40 bits
# is as hopeless as one at -15, and a decision contradicting either pulls its levels'
# corrections no harder.
WEIGHT_CLIP = 15.0


def comparison_levels(comparisons: Sequence[dict[str, Any]]) -> list[tuple[str, int]]:
    """Every (comparison, Splink level number) of the model: non-null levels numbered from
    the last (else = 0), the null level -1."""
    out: list[tuple[str, int]] = []
    for comp in comparisons:
        levels = comp["comparison_levels"]
        non_null = [lv for lv in levels if not lv.get("is_null_level")]
        out += [(comp["output_column_name"], len(non_null) - 1 - i) for i in range(len(non_null))]
        if any(lv.get("is_null_level") for lv in levels):
            out.append((comp["output_column_name"], -1))
    return out


def design(frame: pd.DataFrame, levels: Sequence[tuple[str, int]]) -> np.ndarray:
    """One row a pair: 1 (the prior's correction), then one indicator per level."""
    x = np.zeros((len(frame), len(levels) + 1))
    x[:, 0] = 1.0
    for j, (name, gamma) in enumerate(levels, start=1):
        x[:, j] = (frame[f"gamma_{name}"].astype(int).to_numpy() == gamma)
    return x


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


@dataclass(frozen=True)
class Learned:
    """Corrections learned from decided pairs, in bits (log2 odds, as Splink's weights)."""

    levels: tuple[tuple[str, int], ...]
    prior_bits: float
    level_bits: tuple[float, ...]           # one per ``levels``
    labels: int
    same: int
    prior_sd: float
    precision: np.ndarray = field(repr=False, compare=False)  # A: the fit's information

    @property
    def different(self) -> int:
        return self.labels - self.same

    def correction(self, name: str) -> dict[int, float]:
        """A comparison's correction per level number, in bits."""
        return {gamma: bits for (comp, gamma), bits in zip(self.levels, self.level_bits,
                                                          strict=True) if comp == name}

    def max_gain(self) -> float:
        """The most the corrections can add to a pair's weight, in bits."""
        gain = self.prior_bits
        for name in dict.fromkeys(comp for comp, _ in self.levels):
            gain += max(max(self.correction(name).values()), 0.0)
        return gain

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Splink's predictions with the corrections: ``mw_learned_<comparison>`` (bits),
        match_weight and match_probability corrected (in place; the frame returned)."""
        if frame.empty:
            return frame
        total = np.full(len(frame), self.prior_bits)
        for name in dict.fromkeys(comp for comp, _ in self.levels):
            table = self.correction(name)
            gamma = frame[f"gamma_{name}"].astype(int)
            bits = gamma.map(table).fillna(0.0).astype(float).to_numpy()
            frame[f"mw_learned_{name}"] = bits
            total += bits
        frame["match_weight"] = frame["match_weight"].astype(float) + total
        frame["match_probability"] = _sigmoid(frame["match_weight"].to_numpy() * LN2)
        return frame

    def parameters(self) -> dict[str, Any]:
        """The corrections as stored with the run's model."""
        comparisons: dict[str, list[dict[str, Any]]] = {}
        for (name, gamma), bits in zip(self.levels, self.level_bits, strict=True):
            comparisons.setdefault(name, []).append({"level": gamma, "bits": round(bits, 9)})
        return {"decisions": self.labels, "same": self.same, "different": self.different,
                "prior_sd": self.prior_sd, "prior_bits": round(self.prior_bits, 9),
                "comparisons": comparisons}


def fit(scored: pd.DataFrame, outcomes: np.ndarray, levels: Sequence[tuple[str, int]],
        prior_sd: float, *, iterations: int = 50) -> Learned:
    """The corrections' posterior maximum on the decided pairs ``scored`` (Splink's
    predictions: gamma_ columns and the unsupervised match_weight), ``outcomes`` 1 for one
    person, 0 for two."""
    x = design(scored, levels)
    offset = np.clip(scored["match_weight"].astype(float).to_numpy(), -WEIGHT_CLIP,
                     WEIGHT_CLIP) * LN2
    y = np.asarray(outcomes, dtype=float)
    prior = np.eye(x.shape[1]) / prior_sd ** 2

    def objective(beta: np.ndarray) -> float:
        """The log posterior (up to a constant): concave, so Newton steps halved until
        it rises converge to its one maximum."""
        eta = offset + x @ beta
        return float(np.sum(y * eta - np.logaddexp(0.0, eta)) - 0.5 * beta @ prior @ beta)

    beta = np.zeros(x.shape[1])
    current = objective(beta)
    for _ in range(iterations):
        p = _sigmoid(offset + x @ beta)
        gradient = x.T @ (y - p) - prior @ beta
        hessian = (x * (p * (1 - p))[:, None]).T @ x + prior
        step = np.linalg.solve(hessian, gradient)
        size = 1.0
        while size > 1e-6 and objective(beta + size * step) < current:
            size /= 2
        beta = beta + size * step
        current = objective(beta)
        if np.max(np.abs(size * step)) < 1e-10:
            break
    p = _sigmoid(offset + x @ beta)
    information = (x * (p * (1 - p))[:, None]).T @ x + prior
    bits = beta / LN2
    return Learned(levels=tuple(levels), prior_bits=float(bits[0]),
                   level_bits=tuple(float(b) for b in bits[1:]), labels=len(y),
                   same=int(y.sum()), prior_sd=prior_sd, precision=information)


def labelled_pairs(decisions: pd.DataFrame | None) -> pd.DataFrame:
    """The decided pairs (same or different) as person_id_a < person_id_b, outcome 1/0,
    sorted; the latest decision of a pair counts (the store keeps one a pair)."""
    columns = ["person_id_a", "person_id_b", "outcome"]
    if decisions is None or decisions.empty:
        return pd.DataFrame(columns=columns)
    kept = decisions[decisions["decision"].isin(list(DECIDED))]
    a = kept["person_id_a"].astype(str)
    b = kept["person_id_b"].astype(str)
    out = pd.DataFrame({"person_id_a": np.where(a < b, a, b), "person_id_b": np.where(a < b, b, a),
                        "outcome": kept["decision"].map(DECIDED).astype(int)})
    out = out[out["person_id_a"] != out["person_id_b"]]
    return (out.drop_duplicates(["person_id_a", "person_id_b"], keep="first")
            .sort_values(["person_id_a", "person_id_b"]).reset_index(drop=True))


def score_pairs(backend, persons: str, model: dict[str, Any], pairs: pd.DataFrame
                ) -> pd.DataFrame:
    """Splink's predictions (no threshold) for the given pairs (person_id_a, person_id_b)
    of the prepared table ``persons``, with the trained ``model`` (settings dict), on the
    job's ``backend`` (linkage.backends): whatever the blocking, the pairs as they are.
    Pairs whose persons are gone are left out."""
    import logging

    from splink import Linker

    if pairs.empty:
        return pd.DataFrame()
    api = backend.new_api()  # its own cache: the job's blocked pairs stay
    table = backend.register(persons, "persons_decided", api)
    linker = Linker(table, model, log_level=logging.ERROR)
    blocked = api.register(backend.text_table({
        "match_key": ["0"] * len(pairs),
        "join_key_l": pairs["person_id_a"].astype(str).tolist(),
        "join_key_r": pairs["person_id_b"].astype(str).tolist(),
    }), table_name="decided_pairs")
    linker.table_management.register_blocked_pairs_for_predict(blocked)
    frame = linker.inference.predict(warning_mode="never").as_pandas_dataframe()
    api.delete_tables_created_by_splink_from_db()
    backend.unregister("decided_pairs")
    return frame


# --- which pairs to ask about ------------------------------------------------------------

def review_ranks(frame: pd.DataFrame, levels: Sequence[tuple[str, int]],
                 information: np.ndarray, *, greedy: int = GREEDY_RANKS) -> np.ndarray:
    """A rank (1 = ask first) for each pair of ``frame`` (gamma_ columns,
    match_probability; person_id_a, person_id_b for ties), by what its decision would
    teach given ``information`` (the fit's information matrix: what is known)."""
    n = len(frame)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    x = design(frame, levels)
    p = frame["match_probability"].astype(float).to_numpy()
    weight = p * (1 - p)
    ids = list(zip(frame["person_id_a"].astype(str), frame["person_id_b"].astype(str),
                   strict=True))
    inverse = np.linalg.inv(information)
    # Pairs of one pattern of levels teach alike: within a pattern, the most uncertain first.
    patterns: dict[bytes, list[int]] = {}
    for i in sorted(range(n), key=lambda i: (-weight[i], ids[i])):
        patterns.setdefault(x[i].tobytes(), []).append(i)
    keys = sorted(patterns, key=lambda k: ids[patterns[k][0]])
    heads = np.array([patterns[k][0] for k in keys])
    positions = [0] * len(keys)
    rows = x[heads]
    quadratic = np.einsum("ij,jk,ik->i", rows, inverse, rows)
    ranks = np.zeros(n, dtype=np.int64)
    rank = 0
    alive = np.ones(len(keys), dtype=bool)
    head_weight = weight[heads].astype(float)
    while rank < min(greedy, n):
        gain = np.where(alive, head_weight * quadratic, -1.0)
        best = int(np.argmax(gain))  # ties: the first pattern, in the order of its ids
        chosen = patterns[keys[best]][positions[best]]
        rank += 1
        ranks[chosen] = rank
        # The chosen pair counts as decided: A += w x xᵀ (Sherman–Morrison on A⁻¹).
        v = x[chosen]
        w = weight[chosen]
        av = inverse @ v
        denominator = 1.0 + w * (v @ av)
        inverse = inverse - w * np.outer(av, av) / denominator
        projected = rows @ av
        quadratic = quadratic - w * projected ** 2 / denominator
        positions[best] += 1
        if positions[best] < len(patterns[keys[best]]):
            head_weight[best] = weight[patterns[keys[best]][positions[best]]]
        else:
            alive[best] = False
    rest = [i for i in range(n) if ranks[i] == 0]
    if rest:
        gains = weight[rest] * np.einsum("ij,jk,ik->i", x[rest], inverse, x[rest])
        order = sorted(range(len(rest)), key=lambda j: (-round(float(gains[j]), 12), ids[rest[j]]))
        for offset, j in enumerate(order, start=rank + 1):
            ranks[rest[j]] = offset
    return ranks


def prior_information(levels: Sequence[tuple[str, int]], prior_sd: float) -> np.ndarray:
    """What is known before any decision: the prior's information."""
    return np.eye(len(levels) + 1) / prior_sd ** 2
