"""The one area tree: what lies below an area, for the engine, a user's scope, the lists and
the pages alike (data_access.areas)."""

from __future__ import annotations

import fixture_registry as fx
import pandas as pd
import pytest

from data_access.areas import AreaTree, UnknownAreaError, read_area_tree
from data_access.context import UserContext
from data_access.scope import scope_areas, scope_of, visible_area_ids
from indicators.figures import Parameters, long_form
from indicators.lists import ListPermissionError, area_scope, list_rows


def test_below_follows_the_engine_roll_up_rule():
    areas = AreaTree.from_frame(pd.DataFrame(fx.AREAS, columns=fx.AREA_COLUMNS))
    assert areas.below("P1") == {"P1", "D1", "D2", "U11", "U12", "U21"}
    assert areas.below("D1") == {"D1", "U11", "U12"}
    assert areas.below("U31") == {"U31"}
    # A level that skips: X (level 3) whose parent is P2 (level 1) is below no district and
    # not below P2 either (two hops up from X reach nothing).
    odd = AreaTree.from_frame(pd.concat([
        pd.DataFrame(fx.AREAS, columns=fx.AREA_COLUMNS),
        pd.DataFrame([("X", "Odd", 3, "P2", None)], columns=fx.AREA_COLUMNS)]))
    assert "X" not in odd.below("P2")
    assert odd.above("X") == ()
    assert areas.above("U11") == ("D1", "P1")
    with pytest.raises(UnknownAreaError):
        areas.below("nowhere")


def test_below_survives_a_parent_cycle():
    cyclic = pd.DataFrame([("A", "A", 2, "B"), ("B", "B", 3, "A")],
                          columns=["area_id", "name", "level", "parent_id"])
    assert AreaTree.from_frame(cyclic).below("A") == {"A", "B"}


def test_the_table_is_what_the_pages_show():
    frame = pd.DataFrame([("B", None, 2, "A", None), ("A", "Top", 1, None, 10),
                          ("A", "Again", 1, None, 10), ("L", "No level", None, None, None),
                          (None, "No id", 1, None, None)], columns=fx.AREA_COLUMNS)
    table = AreaTree.from_frame(frame).table
    assert list(table["area_id"]) == ["A", "B"]  # by level; no level or no id: not shown
    assert list(table["name"]) == ["Top", "B"]  # the first row of an id; a missing name: the id
    assert list(table["parent_id"]) == [None, "A"]


# A union council whose parent is the province itself (the district level skipped), with a
# registered household and an overdue referral.
SKIPPED_AREA = ("U13", "Union Thirteen", 3, "P1", 500)


def _skipping_tables() -> dict[str, pd.DataFrame]:
    tables = fx.fixture_tables()
    tables["area"] = pd.concat([tables["area"], pd.DataFrame([SKIPPED_AREA],
                                                             columns=fx.AREA_COLUMNS)],
                               ignore_index=True).astype(object)
    household = dict(zip(fx.HOUSEHOLD_COLUMNS, ("HS", "U13", fx.D("2025-02-01"), 12.0, None),
                         strict=True))
    tables["household"] = pd.concat([tables["household"], pd.DataFrame([household])],
                                    ignore_index=True).astype(object)
    person = {c: None for c in fx.PERSON_COLUMNS}
    person.update(person_id="PS1", household_id="HS", sex="F", birth_date=fx.D("1970-01-01"),
                  disability=False, is_head=True, registered_on=fx.D("2025-02-01"))
    tables["person"] = pd.concat([tables["person"], pd.DataFrame([person])],
                                 ignore_index=True).astype(object)
    referral = {c: None for c in tables["referral"].columns}
    referral.update(referral_id="RS1", household_id="HS", to_programme_id="PH1",
                    access_point_id="AP1", referred_on=fx.D("2025-12-15"), status="pending")
    tables["referral"] = pd.concat([tables["referral"], pd.DataFrame([referral])],
                                   ignore_index=True).astype(object)
    return tables


def _overdue_ids(engine, tree, context: UserContext, area_id: str | None) -> set[str]:
    chunks = list_rows(engine, "overdue_referrals", context=context, area_id=area_id,
                       areas=tree, as_of=fx.AS_OF, period_start=fx.PERIOD_START)
    return {r for chunk in chunks for r in chunk["referral_id"]}


def _figure(frame: pd.DataFrame, indicator_id: str, area_id: str | None) -> int:
    rows = frame[(frame["indicator_id"] == indicator_id) & frame["programme_id"].isna()
                 & frame["breakdown"].isna()
                 & (frame["area_id"].isna() if area_id is None else frame["area_id"] == area_id)]
    return int(rows["numerator"].iloc[0])


def test_a_level_skipping_parent_is_judged_alike_by_scope_lists_and_figures(make_registry):
    engine = make_registry(_skipping_tables())
    tree = read_area_tree(engine)
    assert tree.above("U13") == () and "U13" not in tree.below("P1")
    options = dict(as_of=fx.AS_OF, period_start=fx.PERIOD_START, parameters=Parameters())

    # The whole registry's admin sees the union council, its figures and its list rows; they
    # count in the whole registry but in no district or province (spec choice 20).
    admin = UserContext("admin")
    at_level_3 = long_form(engine, admin, tree, level=3, **options)
    assert _figure(at_level_3, "ref.made", "U13") == 1
    assert "RS1" in _overdue_ids(engine, tree, admin, "U13")
    assert "RS1" not in _overdue_ids(engine, tree, admin, "P1")
    by_province = long_form(engine, admin, tree, level=1, **options)
    assert (sum(_figure(by_province, "ref.made", p) for p in ("P1", "P2")) + 1
            == _figure(by_province, "ref.made", None))

    # A user of the province or of a district: scope, sidebar, lists and figures agree that
    # the union council is not theirs.
    for areas in (("P1",), ("D1",)):
        user = UserContext("officer", areas)
        visible = visible_area_ids(tree, user)
        assert "U13" not in visible
        assert area_scope(tree, None, user).area_ids == visible
        assert set(scope_areas(tree, user)["area_id"]) == visible
        assert scope_of(user, tree).area_ids == visible
        shown = long_form(engine, user, tree, level=3, **options)
        assert set(shown["area_id"]) == {a for a in visible if tree.level_of(a) == 3}
        assert "RS1" not in _overdue_ids(engine, tree, user, None)
        with pytest.raises(ListPermissionError):
            area_scope(tree, "U13", user)


def test_the_tree_is_read_once_per_registry_on_both_backends(make_registry):
    engine = make_registry(fx.fixture_tables())
    tree = read_area_tree(engine)
    assert tree.lowest_level == 3 and tree.levels == [1, 2, 3]
    assert tree.population(None) == 6000 and tree.name("D2") == "District Two"
    assert tree.areas_at(2) == ["D1", "D2", "D3"]
