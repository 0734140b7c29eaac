"""Classes, palettes and legends of the choropleth (maps/style.py)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from indicators.catalogue import indicator
from maps import style
from maps.style import Classification, classify


def lab(rgb):
    """CIE L*a*b* (D65) of an sRGB colour."""
    def linear(c):
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb[:3])
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(v):
        return v ** (1 / 3) if v > 0.008856 else 7.787 * v + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def delta_e(a, b) -> float:
    return math.dist(lab(a), lab(b))


def luminance(rgb) -> float:
    return lab(rgb)[0]


# Classification -------------------------------------------------------------------------

def test_fixed_percent_bands_are_exact_fifths() -> None:
    c = classify([0.05, 0.5, 0.93], method="fixed", k=5, unit="percent")
    assert c.breaks == (0.2, 0.4, 0.6, 0.8, 1.0)
    assert c.lower == 0.0
    assert [c.class_of(v) for v in (0.0, 0.2, 0.2000001, 0.4, 0.59, 0.8, 1.0)] == \
        [0, 0, 1, 1, 2, 3, 4]


def test_fixed_percent_keeps_its_bands_whatever_the_data() -> None:
    c = classify([0.5, 0.5], method="fixed", k=4, unit="percent")
    assert c.breaks == (0.25, 0.5, 0.75, 1.0)


def test_fixed_other_units_are_equal_intervals_between_min_and_max() -> None:
    c = classify([10, 20, 50, 110], method="fixed", k=4, unit="count")
    assert c.lower == 10
    assert c.breaks == pytest.approx((35, 60, 85, 110))
    assert c.breaks[-1] == 110  # exactly: the largest value is in the last class


def test_quantiles_hold_about_equal_counts() -> None:
    values = list(range(1, 101))
    c = classify(values, method="quantiles", k=5, unit="count")
    counts = style.count_classes(c, values)
    assert c.k == 5
    assert [counts[i] for i in range(5)] == [20] * 5
    assert counts[-1] == 0


def test_quantile_breaks_are_observed_values() -> None:
    values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    c = classify(values, method="quantiles", k=5, unit="count")
    assert set(c.breaks) <= set(values)
    assert c.breaks[-1] == 10


def test_natural_breaks_separate_two_obvious_clusters() -> None:
    low = [1.0, 1.2, 1.1, 0.9, 1.3]
    high = [50.0, 52.0, 51.0, 49.5]
    c = classify(low + high, method="natural_breaks", k=2, unit="mean")
    assert c.k == 2
    assert {c.class_of(v) for v in low} == {0}
    assert {c.class_of(v) for v in high} == {1}
    assert c.breaks[0] == 1.3  # the largest value of the low cluster


def test_natural_breaks_are_deterministic() -> None:
    values = [(i * 37) % 101 / 7 for i in range(200)]
    first = classify(values, method="natural_breaks", k=6, unit="mean")
    assert all(classify(values, method="natural_breaks", k=6, unit="mean") == first
               for _ in range(3))


@pytest.mark.parametrize("method", ["quantiles", "natural_breaks", "fixed"])
def test_class_of_bounds(method: str) -> None:
    values = [3, 8, 1, 14, 9, 27, 5, 2, 20, 11]
    c = classify(values, method=method, k=4, unit="count")
    assert c.class_of(min(values)) == 0
    assert c.class_of(max(values)) == c.k - 1
    for i, b in enumerate(c.breaks):
        assert c.class_of(b) == i  # a value equal to a break goes to the class below it
    assert list(c.breaks) == sorted(set(c.breaks))


@pytest.mark.parametrize("missing", [None, float("nan"), math.nan])
def test_missing_values_are_no_data(missing) -> None:
    c = classify([1, 2, missing, 3], method="quantiles", k=3, unit="count")
    assert c.class_of(missing) == -1
    assert c.k == 3  # the missing value is not a class


def test_pandas_na_is_no_data() -> None:
    pd = pytest.importorskip("pandas")
    c = classify(pd.Series([1, 2, None, 3], dtype="Int64"), method="fixed", k=3, unit="count")
    assert c.k == 3
    assert c.class_of(pd.NA) == -1


@pytest.mark.parametrize("method", ["quantiles", "natural_breaks", "fixed"])
@pytest.mark.parametrize("unit", ["percent", "count"])
def test_all_missing_gives_no_class(method: str, unit: str) -> None:
    c = classify([None, float("nan")], method=method, k=5, unit=unit)
    assert c.breaks == ()
    assert c.k == 0
    assert c.class_of(0.5) == -1
    assert c.class_of(None) == -1
    assert style.count_classes(c, [None, 1.0]) == {-1: 2}


@pytest.mark.parametrize("method", ["quantiles", "natural_breaks", "fixed"])
def test_single_distinct_value_is_one_class(method: str) -> None:
    c = classify([7, 7, 7], method=method, k=5, unit="count")
    assert c.breaks == (7.0,)
    assert c.lower == 7.0
    assert c.class_of(7) == 0


@pytest.mark.parametrize("method", ["quantiles", "natural_breaks", "fixed"])
def test_fewer_distinct_values_than_classes(method: str) -> None:
    values = [1, 1, 2, 2, 2]
    c = classify(values, method=method, k=5, unit="count")
    assert c.k == 2
    assert len(set(c.breaks)) == len(c.breaks)
    counts = style.count_classes(c, values)
    assert counts[0] == 2 and counts[1] == 3


def test_quantile_ties_leave_no_empty_class() -> None:
    values = [0, 0, 0, 0, 0, 0, 3, 10]
    c = classify(values, method="quantiles", k=5, unit="count")
    counts = style.count_classes(c, values)
    assert all(counts[i] > 0 for i in range(c.k))


@pytest.mark.parametrize("method", ["quantiles", "natural_breaks", "fixed"])
def test_negative_and_large_counts(method: str) -> None:
    values = [-500, -20, 0, 3, 40, 1_000_000, 2_500_000_000]
    c = classify(values, method=method, k=4, unit="count")
    assert c.lower == -500
    assert c.breaks[-1] == 2_500_000_000
    assert c.class_of(-500) == 0
    assert c.class_of(2_500_000_000) == c.k - 1


def test_values_outside_the_range_fall_in_the_end_classes() -> None:
    c = classify([0.2, 0.6], method="fixed", k=5, unit="percent")
    assert c.class_of(-0.1) == 0
    assert c.class_of(1.5) == 4


def test_share_above_one_extends_the_last_band() -> None:
    c = classify([0.5, 1.2], method="fixed", k=5, unit="percent")
    assert c.breaks[-1] == 1.2
    assert c.class_of(1.2) == 4


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="method"):
        classify([1], method="jenks", k=5, unit="count")
    with pytest.raises(ValueError, match="classes"):
        classify([1], method="fixed", k=9, unit="count")


def test_methods_and_defaults() -> None:
    assert [m for m, _ in style.METHODS] == ["quantiles", "natural_breaks", "fixed"]
    assert all(label for _, label in style.METHODS)
    assert style.default_method("percent") == "quantiles"
    assert style.default_method("count") == "quantiles"
    assert style.default_method("days") == "quantiles"


# Palettes -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["YlOrRd", "Blues"])
def test_colorbrewer_ramps_for_three_to_seven_classes(name: str) -> None:
    ramp = style.RAMPS[name]
    assert sorted(ramp) == [3, 4, 5, 6, 7]
    for k, colours in ramp.items():
        assert len(colours) == k
        assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in colours)
        lum = [luminance(style.hex_to_rgb(c)) for c in colours]
        assert lum == sorted(lum, reverse=True), f"{name} {k} is not lightest first"


@pytest.mark.parametrize("k", range(1, 8))
def test_palette_direction(k: int) -> None:
    good_high = style.class_colours(k, True)
    bad_high = style.class_colours(k, False)
    neutral = style.class_colours(k, None)
    assert len(good_high) == len(bad_high) == len(neutral) == k
    if k > 1:
        # higher is better: the lowest class is darkest; lower is better: the highest
        assert luminance(good_high[0]) < luminance(good_high[-1])
        assert luminance(bad_high[-1]) < luminance(bad_high[0])
        assert luminance(neutral[-1]) < luminance(neutral[0])
        assert good_high == bad_high[::-1]
        assert neutral[0] != bad_high[0]  # the neutral ramp is another hue


def test_palette_for_no_class_is_empty_and_too_many_refused() -> None:
    assert style.class_colours(0, True) == []
    with pytest.raises(ValueError):
        style.class_colours(8, True)


def test_no_data_colour_stands_apart_from_every_palette_colour() -> None:
    grey = style.NO_DATA_COLOUR
    assert grey[0] == grey[1] == grey[2]
    for ramp in style.RAMPS.values():
        for colours in ramp.values():
            for colour in colours:
                assert delta_e(grey, style.hex_to_rgb(colour)) > 15, colour


def test_fill_colour_uses_paler_grey_for_no_data() -> None:
    colours = style.class_colours(3, False)
    assert style.fill_colour(1, colours) == [*colours[1], style.FILL_ALPHA]
    assert style.fill_colour(-1, colours) == [*style.NO_DATA_COLOUR, style.NO_DATA_ALPHA]
    assert style.NO_DATA_ALPHA < style.FILL_ALPHA


# Legend ---------------------------------------------------------------------------------

def percent0(value: float) -> str:
    return f"{value * 100:.0f} %"


def test_legend_labels_lowest_first_and_no_data_last() -> None:
    c = classify([0.1, 0.3, None], method="fixed", k=5, unit="percent")
    colours = style.class_colours(c.k, True)
    entries = style.legend(c, colours, percent0, {0: 1, 1: 1, -1: 1})
    assert [e.label for e in entries] == [
        "0 % – 20 %", "20 % – 40 %", "40 % – 60 %", "60 % – 80 %", "80 % – 100 %", "No data"]
    assert [e.count for e in entries] == [1, 1, 0, 0, 0, 1]
    assert entries[0].colour_hex == style.rgb_to_hex(colours[0])
    assert entries[-1].colour_hex == style.NO_DATA_HEX


def test_legend_without_missing_areas_has_no_no_data_entry() -> None:
    c = classify([1, 2, 3], method="quantiles", k=3, unit="count")
    entries = style.legend(c, style.class_colours(c.k, None), str, {0: 1, 1: 1, 2: 1})
    assert len(entries) == 3
    assert "No data" not in [e.label for e in entries]


def test_legend_with_one_value_shows_it_once_and_uses_the_indicator_format() -> None:
    ref = indicator("ref.made")
    c = classify([1234, 1234], method="quantiles", k=5, unit=ref.unit)
    entries = style.legend(c, style.class_colours(c.k, ref.higher_is_better),
                           ref.format_value, {0: 2})
    assert [e.label for e in entries] == ["1,234"]


def test_legend_of_all_missing_is_no_data_only() -> None:
    c = classify([None, None], method="fixed", k=5, unit="percent")
    entries = style.legend(c, style.class_colours(c.k, True), percent0, {-1: 2})
    assert [(e.label, e.count) for e in entries] == [("No data", 2)]


def test_legend_refuses_too_few_colours() -> None:
    c = classify([1, 2, 3, 4], method="quantiles", k=4, unit="count")
    with pytest.raises(ValueError):
        style.legend(c, style.class_colours(2, True), str, {})


def test_legend_html_escapes_and_is_self_contained() -> None:
    entries = [style.LegendEntry("#ffffb2", "<script>alert(1)</script> & co", 3),
               style.LegendEntry(style.NO_DATA_HEX, "No data", 1_234)]
    out = style.legend_html(entries, 'Coverage "poor" <b>')
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "&amp; co" in out
    assert "&lt;b&gt;" in out
    assert "#ffffb2" in out and "(1,234)" in out
    assert "http" not in out and "url(" not in out and "<img" not in out
    assert "\n" not in out  # Markdown would read indented lines as code


def test_legend_html_refuses_a_colour_that_is_not_hex() -> None:
    with pytest.raises(ValueError):
        style.legend_html([style.LegendEntry("red;background:url(x)", "x", 1)], "t")


def test_classification_is_frozen() -> None:
    c = Classification("fixed", (1.0,), 0.0)
    with pytest.raises(AttributeError):
        c.breaks = (2.0,)  # type: ignore[misc]


def test_narrow_classes_get_the_decimals_that_tell_them_apart() -> None:
    """The demo's duplicates map read "1.8% (1)" twice: two classes whose bounds round alike."""
    ind = indicator("dup.double_dipping")
    values = [0.0178, 0.0182, 0.05, 0.1, 0.2]
    c = classify(values, method="quantiles", k=5, unit=ind.unit)
    colours = style.class_colours(c.k, ind.higher_is_better)
    counts = style.count_classes(c, values)
    plain = [e.label for e in style.legend(c, colours, ind.format_value, counts)]
    assert plain[:2] == ["1.8%", "1.8%"]  # the indicator's own decimal cannot tell them apart
    labels = [e.label for e in style.legend(c, colours, ind.format_value, counts,
                                            more_decimals=ind.format_value)]
    assert len(set(labels)) == len(labels) == c.k
    assert labels[:2] == ["1.78%", "1.78% – 1.82%"]
    # Classes far apart keep the usual decimal: 5.0%, not 5.00%.
    assert labels[-1] == "10.0% – 20.0%"


def test_every_class_label_differs_on_random_narrow_values() -> None:
    rng = np.random.default_rng(4)
    ind = indicator("cov.poor_households")
    for _ in range(200):
        values = list(np.round(rng.uniform(0.5, 0.51, rng.integers(3, 40)), 5))
        for method in ("quantiles", "natural_breaks", "fixed"):
            c = classify(values, method=method, k=5, unit=ind.unit)
            entries = style.legend(c, style.class_colours(c.k, True), ind.format_value,
                                   style.count_classes(c, values), more_decimals=ind.format_value)
            labels = [e.label for e in entries]
            if method != "fixed":  # fixed percent bands are 0–20 %… whatever the values
                assert len(set(labels)) == len(labels), labels
