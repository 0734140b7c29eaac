"""What an officer reads when reviewing a suspected duplicate pair, shaped without Streamlit.

review_widgets.py draws these; the data comes from data_access.linkage_store (the pairs, their
evidence, the decisions, the precision estimate) and data_access.linkage_records (the two
persons' registry fields, as the user may see them).

- ``visible_pairs``: the pairs whose two persons the user may see (and whose first person is
  in the focus area, as dup.suspected_pairs counts it);
- ``side_by_side``: the two records field by field, with whether each field is written the
  same (the data, not the model);
- ``evidence_table``: the model's reading per comparison — what it found (the level's
  label), whether the two records agree there, and, unless the review is blind, the match
  weight and what it points to; ``evidence_totals`` adds the weights up to the pair's score;
- ``explanation``: the same in one plain sentence; ``cross_programme_text``: what the pair
  means for double enrolment; ``pairs_table``: every pair for the list under the queue;
- ``precision_text``: the officers' decisions as a precision estimate with its interval;
  ``margin_text``: how many decisions would estimate it within ±2 points.

Texts are in the session's language (core.i18n): labels are marked ``N_`` and translated
here; the readings (agrees, same...) stay codes in the tables, for the page to colour them,
and are translated where they are shown.

A match weight is a log2 Bayes factor: +1 doubles the odds that the two records are one
person, −1 halves them. The pair's weight is the prior's (how rare duplicates are) plus its
comparisons'; its match probability follows from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from core.i18n import N_, format_number, format_percent, t
from core.values import is_missing
from linkage import model

# The comparisons in the officer's words, in the model's order.
COMPARISON_NAMES: dict[str, str] = {
    "first_name": N_("First name (spelling-aware; swapped with the family name)"),
    "birth_date": N_("Birth date"),
    "national_id": N_("National id"),
    "sex": N_("Sex"),
    "household": N_("Household and family (household, family name, father, area, phone)"),
}
# The same, short, inside a sentence ("They agree on first name (same name)").
COMPARISON_SHORT: dict[str, str] = {
    "first_name": N_("first name"), "birth_date": N_("birth date"),
    "national_id": N_("national id"), "sex": N_("sex"),
    "household": N_("household and family"),
}
COMPARISON_ORDER: tuple[str, ...] = tuple(COMPARISON_NAMES)

# Readings of a comparison's level (Splink numbers levels from the last: 0 = the "else"
# level, -1 = null; the highest is the closest match).
AGREES, PARTLY, DIFFERS, MISSING = N_("agrees"), N_("partly agrees"), N_("differs"), N_("missing")

FIELDS: tuple[tuple[str, str], ...] = (
    (N_("Person"), "person_id"),
    (N_("First name"), "first_name"),
    (N_("Family name"), "last_name"),
    (N_("Father's name"), "father_name"),
    (N_("Sex"), "sex"),
    (N_("Birth date"), "birth_date"),
    (N_("National id"), "national_id"),
    (N_("Phone"), "phone"),
    (N_("Household"), "household_id"),
    (N_("Area"), "area"),
    (N_("Registered on"), "registered_on"),
    (N_("Programmes received"), "programmes"),
)
SAME, NOT_SAME, NOT_RECORDED = N_("same"), N_("differs"), "—"
EMPTY = N_("not recorded")
# Fields whose sameness says nothing about the person (shown, not compared).
NOT_COMPARED: frozenset[str] = frozenset({"person_id", "registered_on"})


def _top_levels() -> dict[str, int]:
    """Each comparison's agreeing level (Splink's number: else = 0): its first level, or the
    one model.AGREEING_LEVEL names (a level placed above it is a partial agreement)."""
    out = {}
    for comp in model.comparisons():
        non_null = [lv["label_for_charts"] for lv in comp["comparison_levels"]
                    if not lv.get("is_null_level")]
        name = comp["output_column_name"]
        agreeing = non_null.index(model.AGREEING_LEVEL.get(name, non_null[0]))
        out[name] = len(non_null) - 1 - agreeing
    return out


TOP_LEVEL: dict[str, int] = _top_levels()


def _text(value: Any) -> str | None:
    if is_missing(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    text = str(value).strip()
    return text or None


def level_reading(comparison: str, level: Any) -> str:
    """What a comparison's level says about the two records: agrees (its closest level),
    partly agrees, differs (its "else" level) or missing (a value missing on either side)."""
    if is_missing(level):
        return MISSING
    level = int(level)
    if level < 0:
        return MISSING
    if level == 0:
        return DIFFERS
    return AGREES if level == TOP_LEVEL.get(comparison, level) else PARTLY


def probability_words(probability: float) -> str:
    """What a match probability says, for the reviewer (not shown in blind review)."""
    if probability >= 0.99:
        return N_("almost certainly one person by the model; check it all the same")
    if probability >= 0.8:
        return N_("probably one person, by the model")
    return N_("uncertain: the model can hardly tell")


def weight_words(weight: float | None) -> str:
    """A match weight in words (+1 doubles the odds of one person, −1 halves them)."""
    if weight is None or weight != weight:
        return "–"
    if weight >= 4:
        return N_("strongly for one person")
    if weight >= 1:
        return N_("for one person")
    if weight > -1:
        return N_("hardly either way")
    if weight > -4:
        return N_("against")
    return N_("strongly against")


# --- which pairs -------------------------------------------------------------------------

def pair_keys(pairs: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(pairs["person_id_a"].astype(str), pairs["person_id_b"].astype(str),
                    strict=True))


def visible_pairs(pairs: pd.DataFrame, records: pd.DataFrame,
                  focus: Iterable[str] | None = None) -> pd.DataFrame:
    """The pairs whose two persons are among ``records`` (those the user may see) and, when
    ``focus`` (area ids) is given, whose first person lives there. Order kept."""
    if pairs.empty:
        return pairs.reset_index(drop=True)
    seen = set(records["person_id"].astype(str))
    keep = pairs["person_id_a"].astype(str).isin(seen) & pairs["person_id_b"].astype(str).isin(seen)
    if focus is not None:
        area = dict(zip(records["person_id"].astype(str), records["area_id"], strict=True))
        wanted = set(focus)
        keep &= pairs["person_id_a"].astype(str).map(area).isin(wanted)
    return pairs[keep].reset_index(drop=True)


def in_random_order(pairs: pd.DataFrame, salt: Any) -> pd.DataFrame:
    """The pairs in an order drawn at random but fixed for ``salt`` (a run): by a hash of
    each pair, so deciding a pair leaves the order of the others as it was. For decisions
    that estimate the precision (a draw at random, as many from a band of probability as
    its share of the pairs); the job's order asks what teaches the model most."""
    import hashlib

    if pairs.empty:
        return pairs
    keys = [hashlib.sha256(f"{salt}|{a}|{b}".encode()).hexdigest()
            for a, b in zip(pairs["person_id_a"].astype(str), pairs["person_id_b"].astype(str),
                            strict=True)]
    return pairs.assign(_draw=keys).sort_values("_draw").drop(columns="_draw").reset_index(
        drop=True)


# --- one pair ------------------------------------------------------------------------------

def programme_text(ids: Any, names: Mapping[str, str]) -> str | None:
    """Programme ids as stored with a pair ("cash,food") in their names."""
    text = _text(ids)
    if text is None:
        return None
    return ", ".join(names.get(p, p) for p in text.split(",") if p)


def _record_values(record: Mapping[str, Any], programmes: Any,
                   area_names: Mapping[str, str], programme_names: Mapping[str, str]
                   ) -> dict[str, str | None]:
    area_id = _text(record.get("area_id"))
    return {
        "person_id": _text(record.get("person_id")),
        "first_name": _text(record.get("first_name")),
        "last_name": _text(record.get("last_name")),
        "father_name": _text(record.get("father_name")),
        "sex": _text(record.get("sex")),
        "birth_date": _text(record.get("birth_date")),
        "national_id": _text(record.get("national_id")),
        "phone": _text(record.get("phone")),
        "household_id": _text(record.get("household_id")),
        "area": None if area_id is None else
        (f"{area_names[area_id]} ({area_id})" if area_id in area_names else area_id),
        "registered_on": _text(record.get("registered_on")),
        "programmes": programme_text(programmes, programme_names) or t("none"),
    }


def _same(a: str | None, b: str | None) -> str:
    if a is None or b is None:
        return NOT_RECORDED
    return SAME if " ".join(a.casefold().split()) == " ".join(b.casefold().split()) else NOT_SAME


def side_by_side(pair: Mapping[str, Any], records: pd.DataFrame, *,
                 area_names: Mapping[str, str] | None = None,
                 programme_names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The two records field by field: Field, Record A, Record B, Same (written the same,
    differs, or — when either is not recorded; blank for the person id and registration
    date). Fields the user may not see are left out.
    KeyError when a person of the pair is not among ``records``."""
    by_id = {str(r["person_id"]): r for r in records.to_dict("records")}
    a = by_id[str(pair["person_id_a"])]
    b = by_id[str(pair["person_id_b"])]
    area_names = area_names or {}
    programme_names = programme_names or {}
    values_a = _record_values(a, pair.get("programmes_a"), area_names, programme_names)
    values_b = _record_values(b, pair.get("programmes_b"), area_names, programme_names)
    hidden = {key for key in ("first_name", "last_name", "father_name", "birth_date",
                              "national_id", "phone") if key not in records.columns}
    rows = []
    for label, key in FIELDS:
        if key in hidden:
            continue
        same = "" if key in NOT_COMPARED else _same(values_a[key], values_b[key])
        rows.append({"Field": t(label), "Record A": values_a[key] or t(EMPTY),
                     "Record B": values_b[key] or t(EMPTY), "Same": same})
    return pd.DataFrame(rows, columns=["Field", "Record A", "Record B", "Same"])


def evidence_table(evidence: pd.DataFrame, *, blind: bool = False) -> pd.DataFrame:
    """The model's reading per comparison: Compared, Found, Reading (agrees / partly agrees /
    differs / missing), and unless ``blind`` the match Weight and what it Points to."""
    rows = []
    order = {c: i for i, c in enumerate(COMPARISON_ORDER)}
    for item in sorted(evidence.to_dict("records"),
                       key=lambda r: (order.get(r["comparison"], 99), r["comparison"])):
        weight = None if is_missing(item.get("match_weight")) else float(item["match_weight"])
        row = {"Compared": t(COMPARISON_NAMES.get(item["comparison"], item["comparison"])),
               "Found": t(item["label"]),
               "Reading": level_reading(item["comparison"], item["level"])}
        if not blind:
            row["Weight"] = None if weight is None else round(weight, 2)
            row["Points to"] = t(weight_words(weight))
        rows.append(row)
    columns = ["Compared", "Found", "Reading"] + ([] if blind else ["Weight", "Points to"])
    return pd.DataFrame(rows, columns=columns)


def evidence_totals(pair: Mapping[str, Any], evidence: pd.DataFrame) -> dict[str, float]:
    """prior (the starting weight: how rare duplicates are), fields (the comparisons' sum),
    total (the pair's match weight) and probability."""
    fields = float(pd.to_numeric(evidence["match_weight"], errors="coerce").fillna(0).sum())
    total = float(pair["match_weight"])
    return {"prior": total - fields, "fields": fields, "total": total,
            "probability": float(pair["match_probability"])}


def learned_text(learned: Mapping[str, Any] | None) -> str | None:
    """What the run's model learned from officers' decisions (its parameters' ``learned``,
    linkage.learning.Learned.parameters), in a sentence; None when it learned nothing."""
    if not learned or not learned.get("decisions"):
        return None
    return t("The model of this run learned from {decisions} officers' decisions ({same} same "
             "person, {different} different persons): the weights above include what they "
             "taught, level by level, and the starting point too.",
             decisions=format_number(learned["decisions"]), same=format_number(learned["same"]),
             different=format_number(learned["different"]))


def explanation(evidence: pd.DataFrame) -> str:
    """One plain sentence: where the two records agree, partly agree, differ, are missing."""
    order = {c: i for i, c in enumerate(COMPARISON_ORDER)}
    found = [(item["comparison"], level_reading(item["comparison"], item["level"]),
              t(item["label"]))
             for item in sorted(evidence.to_dict("records"),
                                key=lambda r: (order.get(r["comparison"], 99), r["comparison"]))]
    parts = []
    for reading, words in ((AGREES, N_("They agree on {items}")),
                           (PARTLY, N_("partly agree on {items}")),
                           (DIFFERS, N_("differ on {items}")),
                           (MISSING, N_("cannot be compared on {items}"))):
        items = [t("{field} ({found})", field=t(COMPARISON_SHORT.get(name, name)), found=label)
                 for name, read, label in found if read == reading]
        if items:
            parts.append(t(words, items=", ".join(items)))
    if not parts:
        return ""
    text = "; ".join(parts)
    return t("{sentence}.", sentence=text[0].upper() + text[1:])


def cross_programme_text(pair: Mapping[str, Any], programme_names: Mapping[str, str]
                         ) -> str | None:
    """What the pair means for enrolment when its two records are one person."""
    a = programme_text(pair.get("programmes_a"), programme_names) or t("nothing")
    b = programme_text(pair.get("programmes_b"), programme_names) or t("nothing")
    if bool(pair.get("cross_programme")):
        return t("Cross-programme double enrolment if they are one person: record A receives "
                 "{a}, record B receives {b}.", a=a, b=b)
    if bool(pair.get("same_programme")):
        return t("Enrolled twice in one programme if they are one person: record A receives "
                 "{a}, record B receives {b}.", a=a, b=b)
    return None


# --- every pair, and the estimate ------------------------------------------------------------

PAIRS_TABLE_COLUMNS: tuple[str, ...] = (
    "person_id_a", "name_a", "person_id_b", "name_b", "area", "match_probability",
    "programmes_a", "programmes_b", "cross_programme", "cluster_id", "decision", "note",
)


def pairs_table(pairs: pd.DataFrame, records: pd.DataFrame, *,
                area_names: Mapping[str, str] | None = None,
                programme_names: Mapping[str, str] | None = None,
                decision_labels: Mapping[str, str] | None = None,
                blind: bool = False) -> pd.DataFrame:
    """Every pair for the list: both persons, the first person's area, the probability
    (not when ``blind``), the programmes and the cross-programme flag, the decision."""
    area_names = area_names or {}
    programme_names = programme_names or {}
    decision_labels = decision_labels or {}
    columns = [c for c in PAIRS_TABLE_COLUMNS if not (blind and c == "match_probability")]
    if pairs.empty:
        return pd.DataFrame(columns=columns)
    by_id = records.set_index(records["person_id"].astype(str))

    def name(pid: str) -> str | None:
        if "first_name" not in by_id.columns or pid not in by_id.index:
            return None
        row = by_id.loc[pid]
        return " ".join(x for x in (_text(row["first_name"]), _text(row["last_name"])) if x)

    def area(pid: str) -> str | None:
        if pid not in by_id.index:
            return None
        area_id = _text(by_id.loc[pid, "area_id"])
        return None if area_id is None else area_names.get(area_id, area_id)

    out = pd.DataFrame({
        "person_id_a": pairs["person_id_a"].astype(str),
        "name_a": [name(p) for p in pairs["person_id_a"].astype(str)],
        "person_id_b": pairs["person_id_b"].astype(str),
        "name_b": [name(p) for p in pairs["person_id_b"].astype(str)],
        "area": [area(p) for p in pairs["person_id_a"].astype(str)],
        "match_probability": pairs["match_probability"].astype(float).round(3),
        "programmes_a": [programme_text(v, programme_names) for v in pairs["programmes_a"]],
        "programmes_b": [programme_text(v, programme_names) for v in pairs["programmes_b"]],
        "cross_programme": pairs["cross_programme"].astype(bool),
        "cluster_id": pairs["cluster_id"].astype(str),
        "decision": [None if is_missing(d) else t(decision_labels.get(d, d))
                     for d in pairs["decision"]],
        "note": [_text(n) for n in pairs["note"]],
    })
    for column in ("name_a", "name_b", "area", "programmes_a", "programmes_b", "decision",
                   "note"):
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out[columns]


def margin_text(estimate: Any) -> str | None:
    """How many decisions would estimate the precision within ±2 points (95 %), and how
    many are taken (data_access.linkage_store's PrecisionEstimate.needed); None without
    pairs."""
    if not estimate.pairs or estimate.needed is None:
        return None
    shares = ", ".join(t("{share} at {band}", share=format_percent(band.pairs / estimate.pairs, 0),
                         band=band.label)
                       for band in estimate.bands if band.pairs)
    text = t("About {needed} decisions would estimate the precision within ±2 points (95 %), "
             "drawn at random in each band of match probability as the pairs are ({shares}); "
             "{reviewed} taken so far.", needed=format_number(estimate.needed), shares=shares,
             reviewed=format_number(estimate.reviewed))
    if estimate.reviewed >= estimate.needed:
        text += " " + t("Enough: the estimate above is that close, if the pairs decided are "
                        "typical of their band.")
    return text


def precision_text(estimate: Any) -> str:
    """The officers' decisions as a precision estimate (data_access.linkage_store's
    PrecisionEstimate), in one or two sentences."""
    if not estimate.pairs:
        return t("No suspected pairs in this run.")
    if not estimate.reviewed:
        text = (t("No pair of the {pairs} has been decided yet (pairs marked unsure do not "
                  "count).", pairs=format_number(estimate.pairs)) if not estimate.unsure else
                t("{unsure} pair(s) marked unsure; none decided same or different yet.",
                  unsure=format_number(estimate.unsure)))
        return text + " " + t("Decide a few pairs to estimate how many of the suspected pairs "
                              "are right.")
    low, high = estimate.interval
    text = t("{same} of the {reviewed} pairs reviewed are the same person: precision "
             "{precision} (95 % interval {low}–{high}).", same=format_number(estimate.same),
             reviewed=format_number(estimate.reviewed),
             precision=format_percent(estimate.reviewed_precision, 0),
             low=format_percent(low, 0), high=format_percent(high, 0))
    if estimate.unsure:
        text += " " + t("{unsure} marked unsure are left out.",
                        unsure=format_number(estimate.unsure))
    if estimate.estimated_precision is not None:
        text += " " + t("Over all {pairs} suspected pairs, weighting each band of match "
                        "probability by its pairs: about {precision} right.",
                        pairs=format_number(estimate.pairs),
                        precision=format_percent(estimate.estimated_precision, 0))
    return text
