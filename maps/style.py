"""How a choropleth is coloured: classes, palettes and the legend.

Classes
    :func:`classify` cuts the values of the mapped areas into at most ``k`` classes. A
    :class:`Classification` holds the ascending *upper* bounds of its classes (``breaks``) and
    the smallest value (``lower``). Class ``i`` holds the values ``v`` with
    ``breaks[i-1] < v <= breaks[i]`` (class 0: ``lower <= v <= breaks[0]``): a value equal to
    a break belongs to the class below it, the last class holds the largest value. A value
    outside the range falls in the first or last class. A missing value (None, NaN) is class
    ``-1``: no data. Methods:

    - ``quantiles``: about as many areas in every class (``mapclassify.Quantiles``). Breaks
      are moved down onto the largest observed value they cover, so a legend shows values
      that exist, and ties never leave an empty class.
    - ``natural_breaks``: ``mapclassify.FisherJenks``, the exact (dynamic-programming)
      optimum of Fisher's grouping, so the same values always give the same classes.
      ``mapclassify.NaturalBreaks`` is k-means from random starting points (scikit-learn,
      no seed): two runs can disagree, and a map must not change colours on a rerun.
      FisherJenks costs O(k·n²) in pure Python: ~0.2 s for 300 areas, ~1.4 s for 1,000.
    - ``fixed``: for percent units, ``k`` equal bands over 0–100 % whatever the data (the
      same colours mean the same figures on every map); for other units, ``k`` equal
      intervals between the smallest and the largest value.

    With at most ``k`` distinct values, quantiles and natural breaks give each value its own
    class; fixed intervals use as many intervals as there are distinct values (fixed percent
    bands keep their ``k`` bands). Two breaks are never equal. With no value at all there is
    no class (``breaks == ()``) and every area is "No data".

Colours
    ColorBrewer sequential ramps (colour-blind safe), see :data:`RAMPS`. The darkest colour
    marks the areas that need attention:

    - ``higher_is_better=True`` (coverage): YlOrRd reversed, the LOWEST class is darkest;
    - ``higher_is_better=False`` (exclusion error, overdue referrals): YlOrRd, the HIGHEST
      class is darkest;
    - ``higher_is_better=None`` (a volume such as referrals made): Blues, neutral, the
      highest class is darkest.

    ``class_colours(k, ...)[0]`` is always the colour of the LOWEST class. No data is a mid
    grey (:data:`NO_DATA_COLOUR`), drawn with less opacity, and named "No data" in the legend
    and the tooltip.

Legend
    :func:`legend` lists the classes from the lowest values to the highest (the order of the
    breaks, whatever the direction of the indicator; the colours tell which end is bad),
    then "No data" when an area has none. Labels always tell classes apart: a bound close to
    its neighbour gets more decimals than the indicator's usual ones (``1.78% – 1.82%``, not
    ``1.8%`` twice), bounds far apart keep them. :func:`legend_html` renders it for
    ``st.markdown(..., unsafe_allow_html=True)``.

No Streamlit here: the page imports this module, never the reverse.
"""

from __future__ import annotations

import html
import math
import re
import warnings
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import mapclassify
import numpy as np

from core.i18n import N_, format_number, t

RGB = tuple[int, int, int]

# id, English label (the page translates it with t()).
METHODS: tuple[tuple[str, str], ...] = (
    ("quantiles", N_("Quantiles (same number of areas per class)")),
    ("natural_breaks", N_("Natural breaks (Fisher–Jenks)")),
    ("fixed", N_("Fixed bands")),
)
METHOD_IDS = frozenset(m for m, _ in METHODS)
MIN_CLASSES, MAX_CLASSES = 3, 7  # what the picker offers; classify() accepts 1..MAX_CLASSES
DEFAULT_CLASSES = 5

# ColorBrewer 2.0 sequential schemes, colorbrewer2.org (Cynthia Brewer, Mark Harrower, The
# Pennsylvania State University; Apache-2.0), as packaged in d3's colorbrewer.js. Both are
# marked colour-blind safe there. Lightest first.
RAMPS: dict[str, dict[int, tuple[str, ...]]] = {
    "YlOrRd": {
        3: ("#ffeda0", "#feb24c", "#f03b20"),
        4: ("#ffffb2", "#fecc5c", "#fd8d3c", "#e31a1c"),
        5: ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"),
        6: ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026"),
        7: ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026"),
    },
    "Blues": {
        3: ("#deebf7", "#9ecae1", "#3182bd"),
        4: ("#eff3ff", "#bdd7e7", "#6baed6", "#2171b5"),
        5: ("#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"),
        6: ("#eff3ff", "#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c"),
        7: ("#eff3ff", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#084594"),
    },
}
ATTENTION_RAMP = "YlOrRd"  # indicators with a direction
NEUTRAL_RAMP = "Blues"  # volumes (higher_is_better None)

# Mid grey: CIE76 ΔE > 15 from every colour of RAMPS (the tests check it), achromatic where
# every ramp colour is tinted.
NO_DATA_COLOUR: RGB = (160, 160, 160)
FILL_ALPHA = 225  # areas with a figure
NO_DATA_ALPHA = 150  # areas without: paler, and "No data" in legend and tooltip
NO_DATA_LABEL = N_("No data")


def hex_to_rgb(colour: str) -> RGB:
    value = colour.lstrip("#")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def rgb_to_hex(rgb: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgb[:3]))


NO_DATA_HEX = rgb_to_hex(NO_DATA_COLOUR)


# Classes --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Classification:
    """Classes of a map: ascending upper bounds (one per class) and the smallest value."""

    method: str
    breaks: tuple[float, ...]
    lower: float  # NaN when there is no class

    @property
    def k(self) -> int:
        return len(self.breaks)

    def class_of(self, value: object) -> int:
        """0..k-1, or -1 for a missing value (None, NaN, pd.NA) or when there is no class."""
        number = _number(value)
        if number is None or not self.breaks:
            return -1
        return min(bisect_left(self.breaks, number), len(self.breaks) - 1)

    def bounds(self, index: int) -> tuple[float, float]:
        """(low, high) of class ``index``: low is the break below it (``lower`` for class 0)."""
        if not 0 <= index < len(self.breaks):
            raise IndexError(f"class {index} of {len(self.breaks)}")
        low = self.lower if index == 0 else self.breaks[index - 1]
        return (low, self.breaks[index])


def _number(value: object) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):  # pd.NA, text
        return None
    return None if math.isnan(number) else number


def default_method(unit: str) -> str:
    """Quantiles: every colour is used, so the areas left behind stand out even when all
    rates are high (fixed bands, comparable between maps, are one click away)."""
    return "quantiles"


def classify(values: Iterable[float | None], *, method: str, k: int, unit: str) -> Classification:
    """Cut ``values`` (missing ones ignored) into at most ``k`` classes; see the module doc."""
    if method not in METHOD_IDS:
        raise ValueError(f"unknown classification method `{method}`; "
                         f"expected one of {', '.join(sorted(METHOD_IDS))}")
    if not 1 <= k <= MAX_CLASSES:
        raise ValueError(f"the number of classes must be between 1 and {MAX_CLASSES}, not {k}")
    numbers = [n for n in (_number(v) for v in values) if n is not None and math.isfinite(n)]
    if method == "fixed" and unit == "percent":
        return _percent_bands(numbers, k)
    if not numbers:
        return Classification(method, (), math.nan)
    y = np.asarray(numbers, dtype=float)
    distinct = np.unique(y)  # sorted
    low, high = float(distinct[0]), float(distinct[-1])
    if len(distinct) == 1:
        return Classification(method, (high,), low)
    if method != "fixed" and len(distinct) <= k:  # a class for every value
        return Classification(method, tuple(float(d) for d in distinct), low)
    k = min(k, len(distinct))
    if method == "fixed":
        step = (high - low) / k
        breaks = [low + step * i for i in range(1, k)] + [high]
    else:
        with warnings.catch_warnings():  # "Numba not installed", "not enough unique values"
            warnings.simplefilter("ignore")
            if method == "quantiles":
                bins = mapclassify.Quantiles(y, k=k).bins
            else:
                bins = mapclassify.FisherJenks(y, k=k).bins
        # Each break down onto the largest value it covers: same classes, no empty class.
        breaks = [float(distinct[np.searchsorted(distinct, b, side="right") - 1]) for b in bins]
        breaks[-1] = high
    return Classification(method, _strictly_ascending(breaks), low)


def _percent_bands(numbers: list[float], k: int) -> Classification:
    if not numbers:
        return Classification("fixed", (), math.nan)
    breaks = [i / k for i in range(1, k + 1)]
    breaks[-1] = max(1.0, max(numbers))  # a share above 100 % is a data error; still drawn
    return Classification("fixed", tuple(breaks), min(0.0, min(numbers)))


def _strictly_ascending(breaks: Iterable[float]) -> tuple[float, ...]:
    kept: list[float] = []
    for b in breaks:
        if not kept or b > kept[-1]:
            kept.append(float(b))
    return tuple(kept)


def count_classes(classification: Classification, values: Iterable[object]) -> dict[int, int]:
    """{class: number of values}, every class present (0 when empty), -1 for no data."""
    counts = dict.fromkeys(range(-1, classification.k), 0)
    for value in values:
        counts[classification.class_of(value)] += 1
    return counts


# Colours --------------------------------------------------------------------------------

def class_colours(k: int, higher_is_better: bool | None) -> list[RGB]:
    """Colours of ``k`` classes, index 0 = the lowest class; the darkest marks attention.

    1 and 2 classes use the 3-class ramp (middle colour; lightest and darkest).
    """
    if k <= 0:
        return []
    if k > MAX_CLASSES:
        raise ValueError(f"at most {MAX_CLASSES} classes have colours, not {k}")
    ramp = RAMPS[NEUTRAL_RAMP if higher_is_better is None else ATTENTION_RAMP]
    if k == 1:
        hexes: Sequence[str] = (ramp[3][1],)
    elif k == 2:
        hexes = (ramp[3][0], ramp[3][2])
    else:
        hexes = ramp[k]
    colours = [hex_to_rgb(h) for h in hexes]  # lightest first = darkest for the highest
    return colours[::-1] if higher_is_better is True else colours


def fill_colour(class_index: int, colours: Sequence[Sequence[int]]) -> list[int]:
    """[r, g, b, a] of an area of class ``class_index`` (-1: the paler no-data grey)."""
    if class_index < 0 or class_index >= len(colours):
        return [*NO_DATA_COLOUR, NO_DATA_ALPHA]
    return [*(int(c) for c in colours[class_index][:3]), FILL_ALPHA]


# Legend ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class LegendEntry:
    colour_hex: str
    label: str
    count: int  # areas in the class


def class_label(classification: Classification, index: int,
                format_value: Callable[[float], str]) -> str:
    low, high = classification.bounds(index)
    low_text, high_text = format_value(low), format_value(high)
    return high_text if low_text == high_text else f"{low_text} – {high_text}"


MAX_EXTRA_DECIMALS = 4  # at most this many decimals more than the indicator's own


def bound_texts(values: Sequence[float], more_decimals: Callable[[float, int], str]
                ) -> dict[float, str]:
    """Each distinct bound written with the fewest extra decimals that tell it from its
    neighbours: two bounds 0.0178 and 0.0182 of a percent read "1.78%" and "1.82%", not
    "1.8%" twice, while bounds far apart keep the indicator's usual decimals.

    ``more_decimals(value, extra)`` formats a value with ``extra`` decimals more than usual.
    Rounding is monotone, so bounds that differ from both neighbours differ from all.
    """
    distinct = sorted(set(values))
    needed = [0] * len(distinct)  # extra decimals of each bound
    for i in range(len(distinct) - 1):
        low, high = distinct[i], distinct[i + 1]
        extra = next((d for d in range(MAX_EXTRA_DECIMALS + 1)
                      if more_decimals(low, d) != more_decimals(high, d)), MAX_EXTRA_DECIMALS)
        needed[i] = max(needed[i], extra)
        needed[i + 1] = max(needed[i + 1], extra)
    return {value: more_decimals(value, extra)
            for value, extra in zip(distinct, needed, strict=True)}


def legend(classification: Classification, colours: Sequence[Sequence[int]],
           format_value: Callable[[float], str], counts: Mapping[int, int], *,
           more_decimals: Callable[[float, int], str] | None = None) -> list[LegendEntry]:
    """One entry per class, lowest values first, then "No data" if ``counts[-1]`` > 0.

    ``counts`` maps a class (-1 for no data) to its number of areas; missing classes count 0.
    ``more_decimals(value, extra)`` (e.g. ``Indicator.format_value``): the labels give narrow
    classes as many more decimals as it takes to tell every class apart (``bound_texts``);
    without it every bound is written with ``format_value``.
    """
    if len(colours) < classification.k:
        raise ValueError(f"{classification.k} classes need {classification.k} colours, "
                         f"got {len(colours)}")
    if more_decimals is not None and classification.k:
        texts = bound_texts([classification.lower, *classification.breaks], more_decimals)
        format_value = texts.__getitem__
    entries = [
        LegendEntry(rgb_to_hex(colours[i]), class_label(classification, i, format_value),
                    int(counts.get(i, 0)))
        for i in range(classification.k)
    ]
    missing = int(counts.get(-1, 0))
    if missing:
        entries.append(LegendEntry(NO_DATA_HEX, t(NO_DATA_LABEL), missing))
    return entries


_HEX = re.compile(r"#[0-9a-fA-F]{6}")


def legend_html(entries: Sequence[LegendEntry], title: str) -> str:
    """A self-contained legend (inline styles, no external resource), on one line.

    One line because Markdown would read indented lines as code. Labels and title are
    escaped; a colour that is not ``#rrggbb`` is refused.
    """
    parts = ['<div class="socle-legend" style="font-size:0.85rem;line-height:1.45;'
             'margin:0.25rem 0">',
             f'<div style="font-weight:600;margin-bottom:0.3rem">{html.escape(title)}</div>']
    for entry in entries:
        if not _HEX.fullmatch(entry.colour_hex):
            raise ValueError(f"not a #rrggbb colour: {entry.colour_hex!r}")
        no_data = entry.colour_hex.lower() == NO_DATA_HEX
        swatch = (f"display:inline-block;width:1.4em;height:0.95em;margin-inline-end:0.45em;"
                  f"vertical-align:-0.1em;background:{entry.colour_hex};"
                  + (f"opacity:{NO_DATA_ALPHA / 255:.2f};border:1px dashed #555"
                     if no_data else "border:1px solid rgba(0,0,0,0.25)"))
        parts.append(
            '<div style="white-space:nowrap">'
            f'<span style="{swatch}"></span>'
            f"<span>{html.escape(entry.label)}</span>"
            '<span style="color:#6b6b6b;margin-inline-start:0.4em">'
            f"({format_number(entry.count)})</span>"
            "</div>")
    parts.append("</div>")
    return "".join(parts)
