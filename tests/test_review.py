"""The review of suspected duplicate pairs on the Duplicates page (review_queue.py), its
shaping (indicators/linkage/review.py) and the records behind it
(data_access/linkage_records.py).

The page tests run on a small demo registry (800 households, seed 3) with the linkage job
run once, in-process, for the module; each test starts from a copy of that app store.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
from app_under_test import assert_clean, run_app

from data_access import linkage_store
from data_access.app_store import open_app_store
from data_access.areas import read_areas
from data_access.audit import audit_rows
from data_access.context import UserContext
from data_access.linkage_records import person_records
from data_access.registry import open_registry
from demo.generator import Options, generate
from indicators import BY_ID, compute
from indicators.lists import ListPermissionError
from linkage import review
from linkage.job import LinkageResult, run_linkage
from linkage.model import ModelOptions

pytestmark = pytest.mark.usefixtures("clean_environment",
                                     "navigation_as_in_a_running_server")

DUPLICATES = "pages/duplicates.py"
OPTIONS = ModelOptions(u_max_pairs=2e5)  # small registry: fewer random pairs for u
PRECISION = "Precision of reviewed pairs"
SUSPECTED = BY_ID["dup.suspected_pairs"].label


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def linked(tmp_path_factory) -> tuple[Path, Path, LinkageResult]:
    """(registry, app store with one stored run, the run's result)."""
    folder = tmp_path_factory.mktemp("review")
    registry = folder / "registry.db"
    generate(Options(out=registry, households=800, seed=3))
    engine = open_registry(f"sqlite:///{registry}")
    try:
        result = run_linkage(engine, OPTIONS)
    finally:
        engine.dispose()
    store_file = folder / "app.db"
    store = open_app_store(f"sqlite:///{store_file}")
    linkage_store.store_linkage_run(store, result)
    store.dispose()
    assert len(result.pairs) >= 10
    return registry, store_file, result


@pytest.fixture
def demo(linked, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The demo's registry and a fresh copy of its app store; the store's URL."""
    registry, store_file, _ = linked
    copy = tmp_path / "app.db"
    shutil.copy(store_file, copy)
    monkeypatch.setenv("SOCLE_DATABASE_URL", f"sqlite:///{registry}")
    monkeypatch.setenv("SOCLE_APP_STORE_URL", f"sqlite:///{copy}")
    return f"sqlite:///{copy}"


def open_page(query: dict[str, str] | None = None):
    at = run_app(query)
    at.switch_page(DUPLICATES).run()
    assert_clean(at)
    return at


def queue_title(at) -> str:
    titles = [s.value for s in at.subheader if s.value.startswith("Pair 1 of")]
    assert len(titles) == 1, [s.value for s in at.subheader]
    return titles[0]


def left(at) -> int:
    return int(queue_title(at).split(" of ")[1].split(" ")[0].replace(",", ""))


def shown_pair(at) -> tuple[str, str]:
    _, pair = queue_title(at).split(": ")
    a, b = pair.split(" and ")
    return a, b


def frame(at, first_column: str) -> pd.DataFrame | None:
    found = [d.value for d in at.dataframe if list(d.value.columns)[:1] == [first_column]]
    assert len(found) <= 1
    return found[0] if found else None


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def expected_suspected(registry: Path, store_url: str) -> str:
    """dup.suspected_pairs of the whole registry as the engine computes it."""
    store = open_app_store(store_url)
    engine = open_registry(f"sqlite:///{registry}")
    try:
        pairs = linkage_store.undismissed_pairs(store)
        figures = compute(engine, level=2, indicator_ids=["dup.suspected_pairs"],
                          suspected_pairs=pairs)
    finally:
        engine.dispose()
        store.dispose()
    whole = figures[figures["area_id"].isna()].iloc[0]
    return BY_ID["dup.suspected_pairs"].format_value(float(whole["value"]))


def decide(at, decision: str, note: str = ""):
    at.radio(key="review_decision").set_value(decision)
    if note:
        at.text_area(key="review_note").input(note)
    at.button(key="review_record").click().run()
    assert_clean(at)
    return at


# --- the page ---------------------------------------------------------------------------------

def test_deciding_a_pair_shrinks_the_queue_and_changes_the_estimate(demo, linked,
                                                                    monkeypatch):
    monkeypatch.setenv("SOCLE_APP_DEFAULT_ROLE", "officer")
    registry, _, result = linked
    at = open_page()
    total = len(result.pairs)
    assert left(at) == total
    assert metrics(at)[PRECISION] == "–"
    assert metrics(at)[SUSPECTED] == expected_suspected(registry, demo)
    # The most uncertain pair first: the store's queue order.
    store = open_app_store(demo)
    first = linkage_store.review_queue(store).iloc[0]
    a, b = shown_pair(at)
    assert (a, b) == (first["person_id_a"], first["person_id_b"])
    # Side by side, and the evidence per comparison with its weight.
    records = frame(at, "Field").set_index("Field")
    assert records.loc["Person", "Record A"] == a and records.loc["Person", "Record B"] == b
    assert {"First name", "Birth date", "National id", "Household", "Area",
            "Programmes received"} <= set(records.index)
    evidence = frame(at, "Compared")
    assert len(evidence) == 5 and {"Found", "Reading", "Weight"} <= set(evidence.columns)
    assert any(c.value.startswith("Score: starting point") for c in at.caption)

    decide(at, "different", "two sisters, same birthday")
    assert left(at) == total - 1
    assert shown_pair(at) != (a, b)
    assert any("Recorded for" in s.value for s in at.success)
    assert metrics(at)[PRECISION] == "0%"
    assert any("0 of the 1 pairs reviewed" in c.value for c in at.caption)
    # Dismissed: the figure counts one pair less, as the engine does.
    assert metrics(at)[SUSPECTED] == expected_suspected(registry, demo)
    saved = linkage_store.get_decision(store, a, b)
    assert saved["decision"] == "different" and saved["note"] == "two sisters, same birthday"
    assert saved["decided_by"] == "officer" and not saved["blind"]
    assert saved["match_probability"] == pytest.approx(float(first["match_probability"]))
    log = audit_rows(store, context=UserContext("admin"), action="pair_decision")
    assert len(log) == 1 and log["filters"][0]["person_id_a"] == a
    assert log["role"][0] == "officer"

    decide(at, "same")
    assert left(at) == total - 2
    assert metrics(at)[PRECISION] == "50%"
    store.dispose()


def test_the_page_says_how_many_decisions_would_estimate_precision_within_two_points(
        demo, linked, monkeypatch):
    monkeypatch.setenv("SOCLE_APP_DEFAULT_ROLE", "officer")
    at = open_page()
    store = open_app_store(demo)
    estimate = linkage_store.precision_estimate(store)
    store.dispose()
    assert estimate.needed and estimate.needed > 0
    text = next(c.value for c in at.caption if "within ±2 points" in c.value)
    assert text.startswith(f"About {estimate.needed:,} decisions would estimate the precision")
    assert f"{estimate.reviewed:,} taken so far" in text


def test_random_order_draws_the_pairs_for_the_precision_estimate(demo, linked, monkeypatch):
    monkeypatch.setenv("SOCLE_APP_DEFAULT_ROLE", "officer")
    at = open_page()
    store = open_app_store(demo)
    queue = linkage_store.review_queue(store)
    run_id = linkage_store.latest_run(store).run_id
    store.dispose()
    # The job's order first (what teaches the model most) ...
    assert shown_pair(at) == (queue["person_id_a"].iloc[0], queue["person_id_b"].iloc[0])
    assert any("teaches the model most" in c.value for c in at.caption)
    # ... or an order drawn at random, fixed for the run, deciding a pair leaving the others'.
    at.toggle(key="review_random").set_value(True).run()
    drawn = review.in_random_order(queue, run_id)
    first = (drawn["person_id_a"].iloc[0], drawn["person_id_b"].iloc[0])
    assert shown_pair(at) == first
    assert any("drawn at random" in c.value for c in at.caption)
    decide(at, "same")
    assert shown_pair(at) == (drawn["person_id_a"].iloc[1], drawn["person_id_b"].iloc[1])
    assert sorted(review.pair_keys(drawn)) == sorted(review.pair_keys(queue))


def test_a_slip_is_undone_and_the_pair_comes_back(demo, linked):
    at = open_page()
    total = left(at)
    a, b = shown_pair(at)
    decide(at, "same")
    assert left(at) == total - 1
    at.button(key="review_undo").click().run()
    assert_clean(at)
    assert left(at) == total and shown_pair(at) == (a, b)
    store = open_app_store(demo)
    assert linkage_store.get_decision(store, a, b) is None
    store.dispose()


def test_recording_without_a_choice_asks_for_one(demo):
    at = open_page()
    total = left(at)
    at.button(key="review_record").click().run()
    assert left(at) == total
    assert any("Choose same person" in w.value for w in at.warning)


def test_blind_mode_hides_the_score(demo):
    at = open_page()
    at.toggle(key="review_blind").set_value(True).run()
    assert_clean(at)
    evidence = frame(at, "Compared")
    assert list(evidence.columns) == ["Compared", "Found", "Reading"]
    assert "match_probability" not in frame(at, "person_id_a").columns
    texts = [c.value for c in at.caption] + [m.value for m in at.markdown]
    assert not any("Match probability" in x or "Score:" in x for x in texts)
    assert any("Blind review" in c.value for c in at.caption)
    a, b = shown_pair(at)
    decide(at, "unsure")
    store = open_app_store(demo)
    assert bool(linkage_store.get_decision(store, a, b)["blind"]) is True
    store.dispose()


def _donor_review() -> None:
    """The review section drawn for a donor (AppTest.from_function runs this alone)."""
    import datetime as dt

    from core.settings import load_settings
    from data_access.context import UserContext
    from ui import review_queue, widgets

    review_queue.review_queue(widgets.View(
        settings=load_settings(), context=UserContext("donor"), level=2, level_name="District",
        area_id=None, area_name="All areas", as_of=dt.date(2026, 10, 31),
        period_start=dt.date(2026, 8, 1)))


def test_a_donor_sees_no_queue(demo, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SOCLE_APP_DEFAULT_ROLE", "donor")
    at = run_app()
    if any(p.endswith(DUPLICATES) for p in _page_paths(at)):
        at.switch_page(DUPLICATES).run()
        assert_clean(at)
        assert frame(at, "Field") is None and frame(at, "Compared") is None
        assert not at.radio and frame(at, "person_id_a") is None
    # The section itself refuses a donor, whichever page draws it.
    alone = AppTest.from_function(_donor_review, default_timeout=30).run()
    assert_clean(alone)
    assert any("Suspected duplicate pairs are reviewed by officers" in i.value
               for i in alone.info)
    assert not alone.dataframe and not alone.radio and not alone.button


def _page_paths(at) -> list[str]:
    """The script paths of the pages the navigation offers in this session."""
    try:
        at.switch_page(DUPLICATES)
    except ValueError as exc:  # "Known pages: [...]"
        return [p.strip(" '[]") for p in str(exc).split("Known pages:")[1].split(",")]
    return [DUPLICATES]


def test_an_officer_of_one_district_reviews_its_pairs_only(demo, linked, monkeypatch):
    registry, _, result = linked
    engine = open_registry(f"sqlite:///{registry}")
    areas = read_areas(engine)
    everyone = person_records(engine, set(result.pairs["person_id_a"])
                              | set(result.pairs["person_id_b"]),
                              context=UserContext("admin"), areas=areas)
    engine.dispose()
    # The district with the most pairs, by its first person's area.
    parents = dict(zip(areas["area_id"], areas["parent_id"], strict=True))
    level = dict(zip(areas["area_id"], areas["level"], strict=True))

    def district(area_id):
        while area_id is not None and level.get(area_id, 0) > 2:
            area_id = parents.get(area_id)
        return area_id

    area_of = dict(zip(everyone["person_id"], everyone["area_id"], strict=True))
    firsts = result.pairs["person_id_a"].map(lambda p: district(area_of.get(p)))
    chosen = firsts.value_counts().index[0]
    inside = result.pairs[result.pairs["person_id_a"].map(lambda p: district(area_of[p]))
                          .eq(chosen)
                          & result.pairs["person_id_b"].map(lambda p: district(area_of[p]))
                          .eq(chosen)]
    assert 0 < len(inside) < len(result.pairs)
    monkeypatch.setenv("SOCLE_APP_DEFAULT_ROLE", "officer")
    monkeypatch.setenv("SOCLE_APP_DEFAULT_AREAS", chosen)
    at = open_page()
    listed = frame(at, "person_id_a")
    assert set(zip(listed["person_id_a"], listed["person_id_b"], strict=True)) == set(
        zip(inside["person_id_a"], inside["person_id_b"], strict=True))
    assert left(at) == len(inside)


def test_decisions_survive_a_rerun_of_the_job(demo, linked):
    registry, _, _ = linked
    at = open_page()
    total = left(at)
    a, b = shown_pair(at)
    decide(at, "different", "cousins")
    # The job runs again (same seed: the same pairs) and stores a new run.
    engine = open_registry(f"sqlite:///{registry}")
    again = run_linkage(engine, OPTIONS)
    engine.dispose()
    store = open_app_store(demo)
    run_2 = linkage_store.store_linkage_run(store, again)
    store.dispose()
    at = open_page()
    assert any(f"run {run_2} " in c.value for c in at.caption)
    assert left(at) == total - 1
    listed = frame(at, "person_id_a").set_index(["person_id_a", "person_id_b"])
    assert listed.loc[(a, b), "decision"] == "different persons"
    assert listed.loc[(a, b), "note"] == "cousins"


def test_when_every_pair_is_decided_the_page_says_so(demo, linked):
    _, _, result = linked
    store = open_app_store(demo)
    for pair in result.pairs.itertuples():
        linkage_store.record_decision(store, pair.person_id_a, pair.person_id_b, "same",
                                      decided_by="test")
    store.dispose()
    at = open_page()
    assert any("No pairs left to review" in s.value for s in at.success)
    assert metrics(at)[PRECISION] == "100%"


def test_without_a_linkage_run_the_page_gives_the_command(linked, tmp_path, monkeypatch):
    registry, _, _ = linked
    monkeypatch.setenv("SOCLE_DATABASE_URL", f"sqlite:///{registry}")
    monkeypatch.setenv("SOCLE_APP_STORE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    at = open_page()
    assert any("has not run yet" in i.value for i in at.info)
    assert any("python -m linkage" in c.value for c in at.code)
    assert SUSPECTED not in metrics(at)


# --- the records behind the pairs ---------------------------------------------------------------

def test_records_are_scoped_to_the_context(linked):
    registry, _, result = linked
    engine = open_registry(f"sqlite:///{registry}")
    try:
        areas = read_areas(engine)
        ids = set(result.pairs["person_id_a"]) | set(result.pairs["person_id_b"])
        everyone = person_records(engine, ids, context=UserContext("admin"), areas=areas)
        assert set(everyone["person_id"]) == ids
        assert {"first_name", "national_id", "birth_date"} <= set(everyone.columns)
        district = sorted(areas.loc[areas["level"] == 2, "area_id"])[0]
        scoped = person_records(engine, ids, context=UserContext("officer", (district,)),
                                areas=areas)
        below = set(areas.loc[areas["area_id"].str.startswith(district), "area_id"])
        assert set(scoped["area_id"]) <= below | {district}
        assert len(scoped) < len(everyone)
        with pytest.raises(ListPermissionError):
            person_records(engine, ids, context=UserContext("donor"), areas=areas)
    finally:
        engine.dispose()


# --- the shaping ----------------------------------------------------------------------------------

RECORDS = pd.DataFrame([
    {"person_id": "P1", "household_id": "H1", "area_id": "U1", "first_name": "Muhammad Ali",
     "last_name": "Khan", "father_name": "Akbar Khan", "sex": "M",
     "birth_date": dt.date(1980, 3, 7), "national_id": "1730112345671", "phone": None,
     "registered_on": dt.date(2024, 1, 5)},
    {"person_id": "P2", "household_id": "H2", "area_id": "U2", "first_name": "mohd ali",
     "last_name": "KHAN", "father_name": "Akbar", "sex": "M", "birth_date": dt.date(1980, 7, 3),
     "national_id": None, "phone": "03001234567", "registered_on": dt.date(2025, 6, 1)},
    {"person_id": "P3", "household_id": "H3", "area_id": "U9", "first_name": "Sana",
     "last_name": None, "father_name": None, "sex": "F", "birth_date": None,
     "national_id": None, "phone": None, "registered_on": dt.date(2025, 6, 1)},
])
PAIR = {"person_id_a": "P1", "person_id_b": "P2", "match_probability": 0.75,
        "match_weight": 1.585, "programmes_a": "cash", "programmes_b": "food,health",
        "cross_programme": True, "same_programme": False}
EVIDENCE = pd.DataFrame([
    {"comparison": "household", "level": 4, "label": "same family and father, other area",
     "match_weight": 3.0},
    {"comparison": "first_name", "level": 4, "label": "same name but for Muhammad",
     "match_weight": 6.0},
    {"comparison": "birth_date", "level": 5, "label": "day and month swapped",
     "match_weight": 5.5},
    {"comparison": "national_id", "level": -1, "label": "missing", "match_weight": 0.0},
    {"comparison": "sex", "level": 1, "label": "same sex", "match_weight": 0.9},
])


def test_side_by_side_shows_both_records_and_what_is_written_the_same():
    table = review.side_by_side(PAIR, RECORDS, area_names={"U1": "Union One"},
                                programme_names={"cash": "Cash", "food": "Food"})
    rows = table.set_index("Field")
    assert list(table.columns) == ["Field", "Record A", "Record B", "Same"]
    assert rows.loc["First name"].tolist() == ["Muhammad Ali", "mohd ali", "differs"]
    assert rows.loc["Family name", "Same"] == "same"  # case and spaces do not count
    assert rows.loc["Birth date"].tolist() == ["1980-03-07", "1980-07-03", "differs"]
    assert rows.loc["National id"].tolist() == ["1730112345671", "not recorded", "—"]
    assert rows.loc["Area", "Record A"] == "Union One (U1)" and rows.loc["Area", "Record B"] == "U2"
    assert rows.loc["Programmes received"].tolist() == ["Cash", "Food, health", "differs"]
    assert rows.loc["Person", "Same"] == "" and rows.loc["Registered on", "Same"] == ""
    # Without the personal columns, no names, dates or ids.
    plain = RECORDS.drop(columns=["first_name", "last_name", "father_name", "birth_date",
                                  "national_id", "phone"])
    fields = set(review.side_by_side(PAIR, plain)["Field"])
    assert not fields & {"First name", "Family name", "Father's name", "Birth date",
                         "National id", "Phone"}
    with pytest.raises(KeyError):
        review.side_by_side({**PAIR, "person_id_b": "P404"}, RECORDS)


def test_the_evidence_reads_each_comparison_in_the_models_order():
    table = review.evidence_table(EVIDENCE)
    assert list(table["Compared"].str.split(" ").str[0]) == [
        "First", "Birth", "National", "Sex", "Household"]
    assert list(table["Reading"]) == ["partly agrees", "partly agrees", "missing", "agrees",
                                      "partly agrees"]
    assert list(table["Weight"]) == [6.0, 5.5, 0.0, 0.9, 3.0]
    assert list(table["Points to"]) == ["strongly for one person", "strongly for one person",
                                        "hardly either way", "hardly either way",
                                        "for one person"]
    blind = review.evidence_table(EVIDENCE, blind=True)
    assert list(blind.columns) == ["Compared", "Found", "Reading"]
    totals = review.evidence_totals(PAIR, EVIDENCE)
    assert totals["fields"] == pytest.approx(15.4)
    assert totals["prior"] == pytest.approx(1.585 - 15.4)
    assert totals["probability"] == 0.75
    text = review.explanation(EVIDENCE)
    assert text.startswith("They agree on sex (same sex); partly agree on first name")
    assert "cannot be compared on national id (missing)" in text


@pytest.mark.parametrize(("comparison", "level", "reading"), [
    ("first_name", 7, "agrees"), ("first_name", 6, "partly agrees"),
    ("first_name", 0, "differs"), ("first_name", -1, "missing"),
    ("national_id", 2, "agrees"), ("national_id", 1, "partly agrees"),
    ("household", 11, "agrees"), ("household", 12, "partly agrees"),
    ("household", 1, "partly agrees"), ("sex", None, "missing"),
])
def test_level_readings(comparison, level, reading):
    assert review.level_reading(comparison, level) == reading


def test_visible_pairs_need_both_persons_and_a_first_person_in_focus():
    pairs = pd.DataFrame({"person_id_a": ["P1", "P1", "P2"], "person_id_b": ["P2", "P4", "P3"]})
    assert len(review.visible_pairs(pairs, RECORDS)) == 2  # P4 is not visible
    kept = review.visible_pairs(pairs, RECORDS, focus={"U2"})
    assert kept[["person_id_a", "person_id_b"]].values.tolist() == [["P2", "P3"]]


def test_pairs_table_flags_cross_programme_and_hides_the_score_when_blind():
    pairs = pd.DataFrame([{**PAIR, "cluster_id": "P1", "decision": "different", "note": "x"},
                          {**PAIR, "person_id_b": "P3", "cross_programme": False,
                           "cluster_id": "P1", "decision": None, "note": None}])
    table = review.pairs_table(pairs, RECORDS, programme_names={"cash": "Cash"},
                               decision_labels=linkage_store.DECISION_LABELS)
    assert table["cross_programme"].tolist() == [True, False]
    assert table["decision"].tolist() == ["different persons", None]
    assert table["name_a"][0] == "Muhammad Ali Khan" and table["programmes_a"][0] == "Cash"
    assert "match_probability" not in review.pairs_table(pairs, RECORDS, blind=True).columns
    assert review.cross_programme_text(PAIR, {}).startswith("Cross-programme double enrolment")
    assert review.cross_programme_text({**PAIR, "cross_programme": False}, {}) is None


def test_precision_text():
    empty = linkage_store.PrecisionEstimate(1, 10, 0, 0, 0, (), 0.9)
    assert "No pair of the 10 has been decided yet" in review.precision_text(empty)
    some = linkage_store.PrecisionEstimate(1, 10, 4, 3, 1, (), 0.85)
    text = review.precision_text(some)
    assert "3 of the 4 pairs reviewed" in text and "precision 75%" in text
    assert "95 % interval" in text and "1 marked unsure" in text and "about 85%" in text


def test_what_the_model_learned_in_words():
    assert review.learned_text(None) is None
    assert review.learned_text({"decisions": 0, "same": 0, "different": 0}) is None
    text = review.learned_text({"decisions": 300, "same": 171, "different": 129})
    assert text.startswith("The model of this run learned from 300 officers' decisions")
    assert "171 same person, 129 different persons" in text


def test_probability_and_weight_words():
    assert review.probability_words(0.995).startswith("almost certainly")
    assert review.probability_words(0.9).startswith("probably")
    assert review.probability_words(0.55).startswith("uncertain")
    assert review.weight_words(None) == "–"
    assert review.weight_words(-5) == "strongly against"
    assert review.weight_words(-2) == "against"


# --- dup.suspected_pairs outside the Duplicates page -------------------------------------------

def _suspected_rows(figures: pd.DataFrame) -> pd.DataFrame:
    rows = figures[(figures["indicator_id"] == "dup.suspected_pairs")
                   & figures["breakdown"].isna()]
    return rows.set_index(rows["area_id"].fillna("(all)"))


def test_the_exported_workbook_counts_the_suspected_pairs(demo, linked, tmp_path):
    """`python -m exports` reads the pairs from the app store: the Indicators sheet's
    dup.suspected_pairs equals the engine's with those pairs, area by area (not empty)."""
    import openpyxl

    from exports.__main__ import main as export_main
    from indicators import LONG_FORM_COLUMNS

    registry, _, _ = linked
    out = tmp_path / "book.xlsx"
    assert export_main(["--level", "2", "--out", str(out)]) == 0
    book = openpyxl.load_workbook(out, read_only=True)
    rows = list(book["Indicators"].iter_rows(values_only=True))
    book.close()
    width = len(LONG_FORM_COLUMNS)  # read-only sheets drop trailing empty cells
    sheet = _suspected_rows(pd.DataFrame([tuple(r) + (None,) * (width - len(r)) for r in rows[1:]],
                                         columns=list(LONG_FORM_COLUMNS)))
    store = open_app_store(demo)
    engine = open_registry(f"sqlite:///{registry}")
    try:
        as_of = dt.date.fromisoformat(str(sheet["period_end"].iloc[0])[:10])
        expected = _suspected_rows(compute(
            engine, as_of=as_of, level=2, indicator_ids=["dup.suspected_pairs"],
            suspected_pairs=linkage_store.undismissed_pairs(store)))
    finally:
        engine.dispose()
        store.dispose()
    assert sheet["numerator"].notna().all()
    assert int(sheet.loc["(all)", "numerator"]) > 0
    assert sheet["numerator"].astype(int).to_dict() == \
        expected["numerator"].astype(int).to_dict()


def test_donors_get_the_suspected_pairs_suppressed_not_missing(demo, linked):
    """The donors' long form (every level suppressed together) carries dup.suspected_pairs:
    the whole registry's count is shown, small counts are hidden as suppressed."""
    from indicators.figures import Parameters, donor_long_form

    registry, _, result = linked
    store = open_app_store(demo)
    engine = open_registry(f"sqlite:///{registry}")
    try:
        pairs = linkage_store.undismissed_pairs(store)
        published = donor_long_form(engine, read_areas(engine), as_of=result.as_of,
                                    period_start=result.as_of - dt.timedelta(days=90),
                                    parameters=Parameters(), suspected_pairs=pairs)
        without = donor_long_form(engine, read_areas(engine), as_of=result.as_of,
                                  period_start=result.as_of - dt.timedelta(days=90),
                                  parameters=Parameters())
    finally:
        engine.dispose()
        store.dispose()
    rows = published[published["indicator_id"] == "dup.suspected_pairs"]
    whole = rows[rows["area_id"].isna() & rows["breakdown"].isna()]
    assert int(whole["numerator"].dropna().iloc[0]) > 0
    shown = rows["numerator"].dropna().astype(int)
    assert not shown.between(1, Parameters().threshold - 1).any()
    assert rows["suppressed"].astype(bool).any()
    assert rows.loc[rows["suppressed"].astype(bool), "value"].isna().all()
    empty = without[without["indicator_id"] == "dup.suspected_pairs"]
    assert empty["numerator"].isna().all()
