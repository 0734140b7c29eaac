"""Small helpers shared by the demo registry generator: random streams, day numbers, columns.

The generator works on integer row indices and day numbers (days since 1970-01-01) held in
numpy arrays; text ids and ISO dates are only made when the tables are written.
"""

from __future__ import annotations

import datetime as dt
import zlib

import numpy as np

# A null date among day numbers: far outside any real date, and it sorts first.
NULL_DAY = np.iinfo(np.int32).min

# A table under construction: column name -> one numpy array per column, all the same length.
Columns = dict[str, np.ndarray]


def rng_for(seed: int, part: str) -> np.random.Generator:
    """An independent random stream for one part of the generator.

    Each part draws from its own stream, so changing how one part draws does not shift
    the numbers every later part sees.
    """
    return np.random.default_rng([seed, zlib.crc32(part.encode())])


def day_number(day: dt.date) -> int:
    return int(np.datetime64(day, "D").astype(np.int64))


def iso_dates(days: np.ndarray) -> np.ndarray:
    """ISO 'YYYY-MM-DD' text (object array, None for NULL_DAY) for day numbers."""
    days = np.asarray(days, dtype=np.int64)
    out = np.full(len(days), None, dtype=object)
    known = days != NULL_DAY
    if not known.any():
        return out
    low, high = int(days[known].min()), int(days[known].max())
    # One string per distinct calendar day, shared by every row on that day: fast and small.
    table = np.arange(low, high + 1).astype("datetime64[D]").astype(str).astype(object)
    out[known] = table[days[known] - low]
    return out


def calendar_parts(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month (1-12) and day of month (1-31) of day numbers (NULL_DAY gives 1970-01-01)."""
    days = np.asarray(days, dtype=np.int64)
    known = days != NULL_DAY
    low = int(days[known].min()) if known.any() else 0
    high = int(days[known].max()) if known.any() else 0
    # One lookup per distinct calendar day: numpy's datetime conversions are slow per row.
    span = np.arange(low, high + 1).astype("datetime64[D]")
    months = span.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (span - months.astype("datetime64[D]")).astype(np.int64) + 1
    index = np.where(known, days - low, 0)
    return year[index], month[index], day[index]


def days_from_parts(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Day numbers of calendar dates; a day past the month's end is clamped to its last day."""
    first_of_month = (
        (np.asarray(year) - 1970) * 12 + np.asarray(month) - 1
    ).astype("datetime64[M]")
    next_month = first_of_month + np.timedelta64(1, "M")
    first_day = first_of_month.astype("datetime64[D]").astype(np.int64)
    month_length = next_month.astype("datetime64[D]").astype(np.int64) - first_day
    return first_day + np.minimum(np.asarray(day), month_length) - 1


def age_on(birth_days: np.ndarray, on_day: int) -> np.ndarray:
    """Whole years from birth to ``on_day``, as the indicator spec counts them; -1 if unknown."""
    by, bm, bd = calendar_parts(birth_days)
    ey, em, ed = calendar_parts(np.array([on_day]))
    before_birthday = (em[0] < bm) | ((em[0] == bm) & (ed[0] < bd))
    age = ey[0] - by - before_birthday.astype(np.int64)
    return np.where(np.asarray(birth_days) == NULL_DAY, -1, age)


def split_whole(total: int, weights: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Split ``total`` into whole parts proportional to ``weights`` (largest remainders).

    Every part gets at least ``minimum``; the parts always sum to ``total``.
    """
    weights = np.asarray(weights, dtype=float)
    count = len(weights)
    if total < minimum * count:
        raise ValueError(f"cannot give {count} parts at least {minimum} each out of {total}")
    spare = total - minimum * count
    share = weights / weights.sum() * spare
    parts = np.floor(share).astype(np.int64)
    leftover = spare - int(parts.sum())
    # Stable order so that ties resolve the same way every run.
    order = np.argsort(-(share - parts), kind="stable")
    parts[order[:leftover]] += 1
    return parts + minimum


def pick(rng: np.random.Generator, mask: np.ndarray, count: int) -> np.ndarray:
    """Up to ``count`` distinct indices where ``mask`` is true, in increasing order."""
    candidates = np.flatnonzero(mask)
    count = min(count, len(candidates))
    return np.sort(rng.choice(candidates, size=count, replace=False))


def planted_count(rows: int, share: float, minimum: int = 2) -> int:
    """How many rows to plant: a share of the table, but a few even in tiny registries."""
    if share <= 0 or rows == 0:
        return 0
    return max(minimum, int(round(rows * share)))


def text_ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """Ids like 'HH-00000042' (object array) for row numbers."""
    return np.array([f"{prefix}{n:0{width}d}" for n in np.asarray(numbers).tolist()], dtype=object)


def group_starts(sizes: np.ndarray) -> np.ndarray:
    """Index of the first row of each group when groups of ``sizes`` rows are laid end to end."""
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
