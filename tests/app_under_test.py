"""The app under test (AppTest): a small registry written in code, and the helpers every page
test shares. The fixtures that set the app up are in conftest.py.

The registry has one province, two districts, three tehsils and four union councils (one of
them empty), households with members, programmes (two of one exclusive group), enrolments,
referrals (some overdue) and a household in an unknown area (a row left out).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from data_access.loader import write_registry
from data_access.registry import open_registry
from indicators import BY_ID, compute, default_as_of, default_period_start

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")

LABELS = [
    "Registered households", "Registered persons", "Coverage of the poor",
    "Population coverage", "Referrals overdue", "Double dipping",
    "Rows left out of the indicators",
]

AREAS = [
    # area_id, name, level, parent_id
    ("P1", "Khyber Pakhtunkhwa", 1, None),
    ("D1", "Peshawar", 2, "P1"),
    ("D2", "Swat", 2, "P1"),
    ("T1", "Peshawar City", 3, "D1"),
    ("T2", "Mingora", 3, "D2"),
    ("T3", "Babuzai", 3, "D2"),
    ("U1", "UC Hashtnagri", 4, "T1"),
    ("U2", "UC Gulbahar", 4, "T1"),
    ("U3", "UC Mingora", 4, "T2"),
    ("U4", "UC Kokarai", 4, "T3"),  # no households: the empty state
]


def registry_tables() -> dict[str, pd.DataFrame]:
    day = dt.date(2024, 6, 1)
    households, persons, enrolments, referrals = [], [], [], []
    homes = ["U1"] * 5 + ["U2"] * 3 + ["U3"] * 4 + ["ZZ"]  # ZZ: unknown area, left out
    for i, area_id in enumerate(homes):
        hh = f"H{i:02d}"
        households.append({
            "household_id": hh, "area_id": area_id, "registered_on": day + dt.timedelta(days=10 * i),
            "pmt_score": None if i == 7 else float(10 + 5 * i),
        })
        for j in range(1 + i % 3):
            persons.append({
                "person_id": f"{hh}-{j}", "household_id": hh,
                "national_id": None if j == 2 else f"{1730100000000 + 10 * i + j}",
                "first_name": f"Name{i}{j}", "sex": "FMX"[(i + j) % 3] if j else "F",
                "birth_date": dt.date(1960 + 7 * j + i, 3, 1), "disability": i % 4 == 0,
                "is_head": j == 0, "registered_on": day + dt.timedelta(days=10 * i),
            })
        if i % 2 == 0:
            enrolments.append({"enrolment_id": f"E-bisp-{hh}", "programme_id": "BISP",
                               "household_id": hh, "enrolled_on": day})
        if i % 3 == 0:
            enrolments.append({"enrolment_id": f"E-ehsaas-{hh}", "programme_id": "EHSAAS",
                               "household_id": hh, "enrolled_on": day})
        if i % 4 == 1:
            enrolments.append({"enrolment_id": f"E-sehat-{hh}", "programme_id": "SEHAT",
                               "household_id": hh, "enrolled_on": day})
        referrals.append({
            "referral_id": f"R{i:02d}", "household_id": hh, "to_programme_id": "SEHAT",
            "referred_on": dt.date(2024, 8, 1) + dt.timedelta(days=4 * i),
            "status": "completed" if i % 3 == 0 else "pending",
            "closed_on": dt.date(2024, 9, 1) if i % 3 == 0 else None,
        })
    programmes = [
        {"programme_id": "BISP", "name": "BISP Kafaalat", "benefit_type": "cash",
         "unit": "household", "pmt_max": 32.0, "disability_only": False,
         "exclusive_group": "cash"},
        {"programme_id": "EHSAAS", "name": "Ehsaas cash", "benefit_type": "cash",
         "unit": "household", "pmt_max": 40.0, "disability_only": False,
         "exclusive_group": "cash"},
        {"programme_id": "SEHAT", "name": "Sehat card", "benefit_type": "health_insurance",
         "unit": "household", "disability_only": False},
    ]
    return {
        "area": pd.DataFrame(AREAS, columns=["area_id", "name", "level", "parent_id"]).assign(
            population=1000),
        "household": pd.DataFrame(households),
        "person": pd.DataFrame(persons),
        "programme": pd.DataFrame(programmes),
        "enrolment": pd.DataFrame(enrolments),
        "referral": pd.DataFrame(referrals),
    }


def run_app(query_params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if query_params:
        at.query_params.update(query_params)
    return at.run()


def expected_values(url: str, *, level: int, area_id: str | None,
                    as_of: dt.date | None = None) -> dict[str, str]:
    """The Overview's metric values computed straight from indicators.compute."""
    engine = open_registry(url)
    try:
        as_of = as_of or default_as_of(engine)
        figures = compute(engine, as_of=as_of, level=level,
                          period_start=default_period_start(as_of, 3))
    finally:
        engine.dispose()
    plain = figures[figures["breakdown"].isna() & figures["programme_id"].isna()]

    def row(indicator_id: str, area: str | None) -> pd.Series:
        rows = plain[plain["indicator_id"] == indicator_id]
        rows = rows[rows["area_id"].isna()] if area is None else rows[rows["area_id"] == area]
        assert len(rows) == 1, (indicator_id, area)
        return rows.iloc[0]

    values = {
        "Registered households": f"{int(row('dq.unassessed_households', area_id)['denominator']):,}",
        "Registered persons": f"{int(row('cov.population', area_id)['denominator']):,}",
    }
    for indicator_id in ("cov.poor_households", "cov.population", "ref.overdue",
                         "dup.double_dipping", "dq.invalid_rows"):
        ind = BY_ID[indicator_id]
        value = row(indicator_id, None if indicator_id == "dq.invalid_rows" else area_id)["value"]
        values[ind.label] = ind.format_value(None if pd.isna(value) else float(value))
    return values


def shown_values(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


ACCESS_POINTS = [("AP1", "Hashtnagri desk", "U1"), ("AP2", "Mingora desk", "U3"),
                 ("AP3", "Mobile camp", "U2")]


def meeting_registry_tables() -> dict[str, pd.DataFrame]:
    """registry_tables(), with referrals going to the access point of their union council
    (the committee meeting's gaps and presentation need them)."""
    tables = registry_tables()
    tables["access_point"] = pd.DataFrame(
        [{"access_point_id": a, "name": n, "kind": "desk", "area_id": area, "latitude": None,
          "longitude": None} for a, n, area in ACCESS_POINTS])
    area_of = dict(zip(tables["household"]["household_id"], tables["household"]["area_id"],
                       strict=True))
    desk = {area: a for a, _, area in ACCESS_POINTS}
    tables["referral"]["access_point_id"] = tables["referral"]["household_id"].map(
        lambda h: desk.get(area_of[h]))
    return tables


def app_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 tables: Mapping[str, pd.DataFrame]) -> str:
    """A SQLite registry of ``tables`` in tmp_path and an app store beside it, which the
    app under test reads (SOCLE_DATABASE_URL, SOCLE_APP_STORE_URL); the registry's URL."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    writer = sa.create_engine(url)
    write_registry(writer, tables)
    writer.dispose()
    monkeypatch.setenv("SOCLE_DATABASE_URL", url)
    monkeypatch.setenv("SOCLE_APP_STORE_URL", f"sqlite:///{tmp_path / 'store' / 'app.db'}")
    return url
