"""The catalogue, the spec and the docs agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from indicators.catalogue import BEYOND_SPEC_IDS, BY_ID, CATALOGUE, SPEC_IDS_NOT_YET_COMPUTED
from indicators.docs import render

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT.parent / "shared" / "spec" / "indicators.md"


def spec_ids() -> set[str]:
    if not SPEC.is_file():
        pytest.skip(f"the spec is not beside the repo ({SPEC})")
    return set(re.findall(r"^\| `([a-z]+\.[a-z_]+)` \|", SPEC.read_text(), flags=re.M))


def test_every_spec_indicator_is_in_the_catalogue() -> None:
    ids = spec_ids()
    assert len(ids) >= 20
    assert ids - SPEC_IDS_NOT_YET_COMPUTED == set(BY_ID) - BEYOND_SPEC_IDS
    assert not BEYOND_SPEC_IDS & ids


def test_docs_are_generated_from_the_catalogue() -> None:
    written = (ROOT / "docs" / "indicators.md").read_text()
    assert written == render(), "run: python -m indicators.docs > docs/indicators.md"
    for ind in CATALOGUE:
        assert f"`{ind.id}`" in written
    for missing in spec_ids():
        assert f"`{missing}`" in written


def test_every_indicator_declares_what_pages_and_exports_need() -> None:
    for ind in CATALOGUE:
        assert ind.label and ind.numerator and ind.unit
        assert ind.family in {"coverage", "packages", "referrals", "duplicates", "data_quality"}
        assert ind.format_value(None) == "–"
        assert ind.number_format


def test_readme_documents_every_setting() -> None:
    from core.settings import SETTINGS

    readme = (ROOT / "README.md").read_text()
    for setting in SETTINGS:
        assert f"`{setting.name}`" in readme, setting.name
        assert setting.env_name in readme, setting.env_name


def test_readme_starts_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text()[:1500]
    assert "bash scripts/run_demo.sh" in head and "bash scripts/test.sh" in head
    for script in ("scripts/run_demo.sh", "scripts/test.sh", ".ci/run"):
        assert (ROOT / script).is_file()


def test_each_indicator_is_computed_by_the_one_family_that_declares_it():
    from indicators.families import FAMILIES

    declared = {i: name for name, family in FAMILIES.items() for i in family.emits}
    assert sum(len(f.emits) for f in FAMILIES.values()) == len(declared)  # no row twice
    assert declared == {i.id: i.computed_by for i in CATALOGUE}
