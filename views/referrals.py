"""What the Referrals, Duplicates and Data-quality pages show, shaped without Streamlit.

- **Referral counts** (:func:`count_referral_stages`, :func:`count_monthly_referrals`) are
  counted in the database with SQLAlchemy Core over the engine's building blocks (the same
  valid referrals and the same rules as ``ref.made``, ``ref.completed``, ``ref.rejected`` and
  ``ref.overdue``), grouped by the household's own area, the programme referred to and the
  access point. They are small and additive: the pages keep the areas of their focus and sum
  (:func:`within`, :func:`pipeline`, :func:`by_programme`, :func:`by_access_point`,
  :func:`monthly_trend`).
- **Pipeline stages** of the referrals made in the period, at its end: pending, accepted (not
  yet completed), completed, rejected, and closed after the period's end (completed or
  rejected after it, so open at its end). They add up to ``ref.made``; completed and rejected
  are the numerators of ``ref.completed`` and ``ref.rejected``. The registry keeps a
  referral's current status only, so a referral still open is counted under the status it
  has now.
- **Monthly trend**: calendar months ending with the as-of date's month (that month cut at the
  as-of date); each month is a period of its own: referrals made in it, completed by its end,
  open and overdue at its end. One grouped query for all the months (a join on a small
  table of months), not one indicator computation per month.
- **Lists**: :func:`scan_list` reads a list's chunks once, keeps the rows a filter allows
  (a programme, data-quality rules), the first ``limit`` of them for the screen, their
  number and counts by a column; :func:`write_csv` writes the filtered list as CSV.
- **Figures by area** (:func:`figures_by_area`): several indicators side by side for the
  areas a page shows.

Column names here are stable ids; the pages give them translated labels.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from core.i18n import N_
from core.text import inert_csv
from data_access.registry import connection
from indicators.blocks import CLOSED_STATUSES, Parameters, building_blocks, shift_months
from indicators.catalogue import BY_ID
from indicators.lists import DQ_RULES, DqRule

STAGES: tuple[str, ...] = ("pending", "accepted", "completed", "rejected", "closed_later")
STAGE_LABELS: dict[str, str] = {
    "pending": N_("Pending"),
    "accepted": N_("Accepted"),
    "completed": N_("Completed"),
    "rejected": N_("Rejected"),
    "closed_later": N_("Closed later"),
}
STAGE_DEFINITIONS: dict[str, str] = {
    "pending": N_("made in the period and still pending"),
    "accepted": N_("made in the period, accepted by the programme and not yet completed"),
    "completed": N_("made in the period and completed by its end (the numerator of “Referrals "
                    "completed”)"),
    "rejected": N_("made in the period and rejected by its end (the numerator of “Referrals "
                   "rejected”)"),
    "closed_later": N_("made in the period, completed or rejected after its end: open at its end"),
}
COUNT_COLUMNS: tuple[str, ...] = ("made", *STAGES, "open", "overdue")
TREND_COLUMNS: tuple[str, ...] = ("made", "completed", "rejected", "open", "overdue")
KEY_COLUMNS: tuple[str, ...] = ("area_id", "programme_id", "access_point_id")
NO_ACCESS_POINT = N_("(none recorded)")
# Registry codes the pages show in the session's language (the tables of the contract, a
# referral's status, an enrolment's unit): marked for the catalogues, translated when shown.
CODE_TEXTS: tuple[str, ...] = (
    N_("household"), N_("person"), N_("enrolment"), N_("referral"),
    N_("pending"), N_("accepted"), N_("rejected"), N_("completed"),
)

Translate = Callable[[str], str]


def _same(text: str) -> str:
    return text


# --------------------------------------------------------------------------------------
# Counting in the database
# --------------------------------------------------------------------------------------


def _count(condition: ColumnElement, label: str) -> ColumnElement:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0).label(label)


def _frame(result: sa.CursorResult, ints: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    for column in ints:
        frame[column] = pd.to_numeric(frame[column]).fillna(0).astype("int64")
    for column in KEY_COLUMNS:
        if column in frame:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def count_referral_stages(engine: sa.Engine, *, as_of: dt.date, period_start: dt.date,
                          referral_sla_days: int = 30) -> pd.DataFrame:
    """Referral counts for the period [period_start, as_of] per raw area, programme, access point.

    Columns: area_id (the household's own area), programme_id (referred to), access_point_id,
    then ``made`` and its stages (:data:`STAGES`, which add up to it), ``open`` (open at the
    end: the denominator of ``ref.overdue``) and ``overdue`` (its numerator). Rows left out of
    the indicators are left out here too (the engine's valid referrals).
    """
    params = Parameters(as_of=as_of, period_start=period_start,
                        referral_sla_days=int(referral_sla_days))
    with connection(engine) as conn:
        b = building_blocks(conn, params)
        referrals = b.valid_referrals()
        start, end = b.date(period_start), b.date(as_of)
        overdue_since = b.date(as_of - dt.timedelta(days=int(referral_sla_days)))
        made = sa.and_(referrals.c.referred_on >= start, referrals.c.referred_on <= end)
        closed = referrals.c.status.in_(CLOSED_STATUSES)
        closed_by_end = sa.and_(closed, referrals.c.closed_on.is_not(None), referrals.c.closed_on <= end)
        open_at_end = sa.not_(closed_by_end)  # as the engine's count_referrals
        query = (
            sa.select(
                referrals.c.area_id, referrals.c.to_programme_id.label("programme_id"), referrals.c.access_point_id,
                _count(made, "made"),
                _count(sa.and_(made, referrals.c.status == "pending"), "pending"),
                _count(sa.and_(made, referrals.c.status == "accepted"), "accepted"),
                _count(sa.and_(made, referrals.c.status == "completed", referrals.c.closed_on <= end),
                       "completed"),
                _count(sa.and_(made, referrals.c.status == "rejected", referrals.c.closed_on <= end),
                       "rejected"),
                _count(sa.and_(made, closed, referrals.c.closed_on > end), "closed_later"),
                _count(open_at_end, "open"),
                _count(sa.and_(open_at_end, referrals.c.referred_on <= overdue_since), "overdue"),
            )
            .where(referrals.c.referred_on <= end)
            .group_by(referrals.c.area_id, referrals.c.to_programme_id, referrals.c.access_point_id)
        )
        return _frame(conn.execute(query), COUNT_COLUMNS)


def trend_months(as_of: dt.date, months: int = 12) -> list[tuple[dt.date, dt.date]]:
    """(start, end) of the ``months`` calendar months ending with as_of's month, oldest first;
    the last one ends on as_of (a part of its month unless as_of is the month's last day)."""
    if months < 1:
        raise ValueError("months must be at least 1")
    first = as_of.replace(day=1)
    periods = []
    for back in range(months - 1, -1, -1):
        start = shift_months(first, -back)
        end = min(shift_months(start, 1) - dt.timedelta(days=1), as_of)
        periods.append((start, end))
    return periods


def count_monthly_referrals(engine: sa.Engine, *, as_of: dt.date, months: int = 12,
                            referral_sla_days: int = 30) -> pd.DataFrame:
    """Per month of :func:`trend_months`, raw area and programme: referrals made in the month,
    completed and rejected by its end (of those made in it), open and overdue at its end.

    Each month reads as its own period: the numbers equal the numerators (and ``made``,
    ``open`` the denominators) of ``ref.*`` computed with period_start = the month's first day
    and as_of = its end. Columns: month_start, month_end, area_id, programme_id, then
    :data:`TREND_COLUMNS`.
    """
    periods = trend_months(as_of, months)
    sla = dt.timedelta(days=int(referral_sla_days))
    params = Parameters(as_of=as_of, period_start=periods[0][0],
                        referral_sla_days=int(referral_sla_days))
    with connection(engine) as conn:
        b = building_blocks(conn, params)
        referrals = b.valid_referrals()
        rows = [
            sa.select(sa.literal(index, sa.Integer).label("month"),
                      b.date(start).label("month_start"), b.date(end).label("month_end"),
                      b.date(end - sla).label("overdue_since"))
            for index, (start, end) in enumerate(periods)
        ]
        month = (sa.union_all(*rows) if len(rows) > 1 else rows[0]).subquery("trend_month")
        made = referrals.c.referred_on >= month.c.month_start
        closed_by_end = sa.and_(referrals.c.status.in_(CLOSED_STATUSES), referrals.c.closed_on.is_not(None),
                                referrals.c.closed_on <= month.c.month_end)
        open_at_end = sa.not_(closed_by_end)
        query = (
            sa.select(
                month.c.month, referrals.c.area_id, referrals.c.to_programme_id.label("programme_id"),
                _count(made, "made"),
                _count(sa.and_(made, referrals.c.status == "completed",
                               referrals.c.closed_on <= month.c.month_end), "completed"),
                _count(sa.and_(made, referrals.c.status == "rejected",
                               referrals.c.closed_on <= month.c.month_end), "rejected"),
                _count(open_at_end, "open"),
                _count(sa.and_(open_at_end, referrals.c.referred_on <= month.c.overdue_since),
                       "overdue"),
            )
            .select_from(referrals.join(month, referrals.c.referred_on <= month.c.month_end))
            .group_by(month.c.month, referrals.c.area_id, referrals.c.to_programme_id)
        )
        frame = _frame(conn.execute(query), ("month", *TREND_COLUMNS))
    frame.insert(0, "month_start", [periods[i][0] for i in frame["month"]])
    frame.insert(1, "month_end", [periods[i][1] for i in frame["month"]])
    return frame.drop(columns="month")


# --------------------------------------------------------------------------------------
# Shaping the referral counts
# --------------------------------------------------------------------------------------


def pipeline_chart(stages: pd.DataFrame, *, count_title: str,
                   height: int = 230) -> tuple[pd.DataFrame, dict]:
    """The pipeline (:func:`pipeline`) as horizontal bars, stages in order; titles given.

    A Vega-Lite spec and its rows (for st.vega_lite_chart), not an Altair chart: building
    the chart through Altair cost 0.34 s on every run of the page, the spec 0.006 s.
    """
    spec = {
        "height": height, "mark": "bar",
        "encoding": {
            "x": {"field": "referrals", "type": "quantitative", "title": count_title,
                  "axis": {"tickMinStep": 1}},
            "y": {"field": "label", "type": "nominal", "title": None, "sort": None},
            "tooltip": [{"field": "label", "type": "nominal", "title": " "},
                        {"field": "referrals", "type": "quantitative", "title": count_title}],
        },
    }
    return stages[["label", "referrals"]], spec


def trend_chart(trend: pd.DataFrame, series: Mapping[str, str], *, y_title: str,
                month_title: str, height: int = 260) -> tuple[pd.DataFrame, dict]:
    """A line chart of ``trend`` (monthly_trend) columns ``series`` (column -> label shown):
    months along, a line and its points per series, as a Vega-Lite spec and its rows (see
    :func:`pipeline_chart`). Every title and tooltip is one the page gives (in the session's
    language): st.line_chart would name its own "value"."""
    long = trend.melt(id_vars=["month_start"], value_vars=list(series), var_name="series",
                      value_name="referrals")
    long["series"] = long["series"].map(series)
    spec = {
        "height": height, "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {"field": "month_start", "type": "temporal", "title": "",
                  "axis": {"format": "%m/%Y"}},
            "y": {"field": "referrals", "type": "quantitative", "title": y_title,
                  "axis": {"tickMinStep": 1}},
            "color": {"field": "series", "type": "nominal", "title": None,
                      "sort": list(series.values()), "legend": {"orient": "bottom"}},
            "tooltip": [{"field": "month_start", "type": "temporal", "title": month_title,
                         "format": "%m/%Y"},
                        {"field": "series", "type": "nominal", "title": " "},
                        {"field": "referrals", "type": "quantitative", "title": y_title}],
        },
    }
    return long, spec


def within(counts: pd.DataFrame, area_ids: Collection[str] | None,
           programme_id: str | None = None) -> pd.DataFrame:
    """The rows of raw areas in ``area_ids`` (None: all), of one programme when given."""
    rows = counts if area_ids is None else counts[counts["area_id"].isin(list(area_ids))]
    if programme_id is not None:
        rows = rows[rows["programme_id"] == programme_id]
    return rows.reset_index(drop=True)


def _percent(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator ÷ denominator as a percentage (45.2), empty where the denominator is 0."""
    num = pd.to_numeric(numerator).astype("float64")
    den = pd.to_numeric(denominator).astype("float64")
    return (num / den.where(den > 0) * 100).round(1)


def pipeline(counts: pd.DataFrame, translate: Translate = _same) -> pd.DataFrame:
    """The stages of the referrals made: stage, label, referrals, share of those made (%)."""
    totals = {name: int(counts[name].sum()) if len(counts) else 0 for name in COUNT_COLUMNS}
    made = totals["made"]
    frame = pd.DataFrame({
        "stage": list(STAGES),
        "label": [translate(STAGE_LABELS[s]) for s in STAGES],
        "referrals": [totals[s] for s in STAGES],
    })
    frame["share"] = _percent(frame["referrals"], pd.Series([made] * len(frame)))
    return frame


def _summarise(counts: pd.DataFrame, key: str) -> pd.DataFrame:
    summed = (counts.assign(**{key: counts[key].astype(object).where(counts[key].notna(), "")})
              .groupby(key, dropna=False)[list(COUNT_COLUMNS)].sum())
    return summed.reset_index()


def _rates(frame: pd.DataFrame) -> pd.DataFrame:
    frame["completed_pct"] = _percent(frame["completed"], frame["made"])
    frame["rejected_pct"] = _percent(frame["rejected"], frame["made"])
    frame["overdue_pct"] = _percent(frame["overdue"], frame["open"])
    return frame


def by_programme(counts: pd.DataFrame, programmes: Mapping[str, str],
                 medians: Mapping[str, float | None] | None = None) -> pd.DataFrame:
    """One row per programme of the registry (zeros included) and per other programme id
    referred to: counts, stages, rates and the median days to complete (from the engine)."""
    summed = _summarise(counts, "programme_id")
    ids = list(programmes) + sorted(set(summed["programme_id"]) - set(programmes) - {""})
    frame = pd.DataFrame({"programme_id": ids}).merge(summed, on="programme_id", how="left")
    for column in COUNT_COLUMNS:
        frame[column] = frame[column].fillna(0).astype("int64")
    frame.insert(1, "programme", [programmes.get(p, p) for p in ids])
    frame = _rates(frame)
    medians = medians or {}
    frame["median_days"] = pd.array([medians.get(p) for p in ids], dtype="Float64")
    return frame.sort_values(["made", "programme"], ascending=[False, True],
                             kind="stable").reset_index(drop=True)


def programme_medians(figures: pd.DataFrame, area_id: str | None) -> dict[str, float | None]:
    """programme_id -> the engine's median days to complete (``ref.days_to_complete``) for
    the area (None: the whole registry)."""
    rows = figures[(figures["indicator_id"] == "ref.days_to_complete")
                   & figures["programme_id"].notna() & figures["breakdown"].isna()]
    rows = rows[rows["area_id"].isna() if area_id is None else rows["area_id"] == area_id]
    return {str(p): (None if pd.isna(v) else float(v))
            for p, v in zip(rows["programme_id"], rows["value"], strict=True)}


def by_access_point(counts: pd.DataFrame, access_points: pd.DataFrame,
                    translate: Translate = _same) -> pd.DataFrame:
    """One row per access point with referrals made in the period or open at its end (and one
    for referrals without an access point): counts, stages, rates; most referrals first."""
    summed = _summarise(counts, "access_point_id")
    summed = summed[(summed["made"] > 0) | (summed["open"] > 0)]
    names = dict(zip(access_points["access_point_id"].astype(str), access_points["name"],
                     strict=True)) if len(access_points) else {}
    kinds = dict(zip(access_points["access_point_id"].astype(str), access_points["kind"],
                     strict=True)) if len(access_points) else {}
    ids = summed["access_point_id"]
    frame = summed.assign(
        access_point=[names.get(a, a) if a else translate(NO_ACCESS_POINT) for a in ids],
        kind=[kinds.get(a) for a in ids],
    )
    frame["access_point_id"] = pd.Series([a or None for a in frame["access_point_id"]],
                                         index=frame.index, dtype=object)
    frame = _rates(frame[["access_point_id", "access_point", "kind", *COUNT_COLUMNS]].copy())
    return frame.sort_values(["made", "open", "access_point"], ascending=[False, False, True],
                             kind="stable").reset_index(drop=True)


def monthly_trend(monthly: pd.DataFrame, periods: Sequence[tuple[dt.date, dt.date]],
                  area_ids: Collection[str] | None = None,
                  programme_id: str | None = None) -> pd.DataFrame:
    """One row per month of ``periods`` (zeros included), oldest first: month_start,
    month_end, partial (the month is cut at the as-of date), counts and rates."""
    rows = within(monthly, area_ids, programme_id)
    summed = rows.groupby("month_start")[list(TREND_COLUMNS)].sum() if len(rows) else None
    frame = pd.DataFrame({"month_start": [s for s, _ in periods],
                          "month_end": [e for _, e in periods]})
    for column in TREND_COLUMNS:
        values = [int(summed.at[s, column]) if summed is not None and s in summed.index else 0
                  for s in frame["month_start"]]
        frame[column] = pd.Series(values, dtype="int64")
    frame["partial"] = [shift_months(s, 1) - dt.timedelta(days=1) != e for s, e in periods]
    frame["completed_pct"] = _percent(frame["completed"], frame["made"])
    frame["overdue_pct"] = _percent(frame["overdue"], frame["open"])
    return frame


def period_start_choice(stored: object, linked: dt.date | None, default: dt.date,
                        previous_default: dt.date | None, as_of: dt.date) -> dt.date:
    """The referral period's start for this run.

    A start the user chose (``stored``, different from the default it was shown with) stays;
    otherwise it follows the default (the sidebar's period), so changing the as-of date moves
    it. A first run takes the link's start (``linked``) when there is one. A start after
    as_of is not a period: back to the default.
    """
    if not isinstance(stored, dt.date) or isinstance(stored, dt.datetime):
        chosen = linked
    elif previous_default is not None and stored == previous_default:
        chosen = default
    else:
        chosen = stored
    return chosen if chosen is not None and chosen <= as_of else default


# --------------------------------------------------------------------------------------
# Lists: filter, preview, count, CSV
# --------------------------------------------------------------------------------------

# A filter keeps the rows whose key (the columns' values joined with ".") is in values.
RowFilter = tuple[tuple[str, ...], tuple[str, ...]]


def row_key(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """The columns' values as text, joined with "." (a missing value is empty)."""
    parts = [frame[c].astype(object).where(frame[c].notna(), "").astype(str) for c in columns]
    key = parts[0]
    for part in parts[1:]:
        key = key + "." + part
    return key


def keep_rows(frame: pd.DataFrame, filters: Iterable[RowFilter]) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    for columns, values in filters:
        mask &= row_key(frame, columns).isin(list(values))
    return frame[mask]


@dataclass(frozen=True)
class ListScan:
    """One pass over a list: the first rows kept, how many were kept, counts by key."""

    frame: pd.DataFrame
    total: int
    counts: dict[tuple[str, ...], dict[str, int]] = field(default_factory=dict)

    @property
    def truncated(self) -> bool:
        return self.total > len(self.frame)


def scan_list(chunks: Iterable[pd.DataFrame], *, columns: Sequence[str],
              filters: Iterable[RowFilter] = (), limit: int = 5_000,
              group_by: Iterable[tuple[str, ...]] = ()) -> ListScan:
    """Read the chunks once: keep the rows the filters allow, the first ``limit`` of them, their
    number, and for each key of ``group_by`` the number kept per value (in the list's order)."""
    filters, group_by = tuple(filters), tuple(group_by)
    head: list[pd.DataFrame] = []
    kept = total = 0
    counts: dict[tuple[str, ...], dict[str, int]] = {key: {} for key in group_by}
    for chunk in chunks:
        rows = keep_rows(chunk, filters)
        total += len(rows)
        if kept < limit and len(rows):
            head.append(rows.iloc[:limit - kept])
            kept += len(head[-1])
        for key in group_by:
            for value, n in row_key(rows, key).value_counts(sort=False).items():
                counts[key][value] = counts[key].get(value, 0) + int(n)
    frame = (pd.concat(head, ignore_index=True) if head
             else pd.DataFrame({c: pd.Series(dtype=object) for c in columns}))
    return ListScan(frame=frame, total=total, counts=counts)


def group_counts(counts: Mapping[str, int], names: Mapping[str, str] | None = None
                 ) -> pd.DataFrame:
    """Counts by value (a scan's counts for one key) as a table: key, name, rows; most first."""
    names = names or {}
    frame = pd.DataFrame({"key": list(counts), "rows": [int(n) for n in counts.values()]})
    frame.insert(1, "name", [names.get(k, k) if k else "–" for k in frame["key"]])
    return frame.astype({"rows": "int64"}).sort_values(
        ["rows", "name"], ascending=[False, True], kind="stable").reset_index(drop=True)


def write_csv(chunks: Iterable[pd.DataFrame], *, columns: Sequence[str],
              labels: Sequence[str], filters: Iterable[RowFilter] = ()) -> bytes:
    """The kept rows as CSV (UTF-8 with a byte-order mark, so spreadsheets read names right),
    with ``labels`` as the header; dates as YYYY-MM-DD, missing values empty, text that a
    spreadsheet would run as a formula prefixed with an apostrophe (core.text.inert_csv)."""
    filters = tuple(filters)
    buffer = io.StringIO()
    # CRLF (RFC 4180): a field holding a carriage return or a line feed is then quoted.
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(labels)
    for chunk in chunks:
        rows = keep_rows(chunk, filters)[list(columns)]
        for record in rows.itertuples(index=False, name=None):
            # Text starting like a formula is made inert (core.text: names, ids and values
            # are typed by people, and a spreadsheet would run them).
            writer.writerow(["" if v is None or v is pd.NA or (isinstance(v, float) and v != v)
                             else v.isoformat() if isinstance(v, dt.date) else inert_csv(v)
                             for v in record])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


# --------------------------------------------------------------------------------------
# Data-quality rules and figures by area
# --------------------------------------------------------------------------------------

RULE_COLUMNS: tuple[str, ...] = ("table", "rule_id")


def rule_key(rule: DqRule) -> str:
    """The rule's id in filters and links: ``table.rule_id`` (e.g. ``person.malformed_national_id``)."""
    return f"{rule.table}.{rule.rule_id}"


RULES: dict[str, DqRule] = {rule_key(r): r for r in DQ_RULES}


def parse_rule_keys(text: str | None) -> list[str]:
    """Rule keys from a link's ``a,b`` text, known ones only, in the rules' order."""
    wanted = {item.strip() for item in (text or "").split(",")}
    return [key for key in RULES if key in wanted]


def rule_table(counts: Mapping[str, int], translate: Translate = _same) -> pd.DataFrame:
    """Rows per rule (every rule, zeros included, in the rules' order)."""
    return pd.DataFrame({
        "rule_key": list(RULES),
        "table": [translate(r.table) for r in RULES.values()],
        "rule": [translate(r.text) for r in RULES.values()],
        "indicator": [translate(BY_ID[r.indicator_id].label) for r in RULES.values()],
        "rows": pd.Series([int(counts.get(k, 0)) for k in RULES], dtype="int64"),
    })


def picked_area(selection: Mapping | None, area_ids: Sequence[str]) -> str | None:
    """The area of the row clicked in a table by area (a dataframe selection state whose
    ``rows`` index ``area_ids``), or None."""
    rows = ((selection or {}).get("selection") or {}).get("rows") or []
    if not rows or not isinstance(rows[0], int) or not 0 <= rows[0] < len(area_ids):
        return None
    return str(area_ids[rows[0]])


def left_out_by_table(figures: pd.DataFrame) -> pd.DataFrame:
    """``dq.invalid_rows`` per table (whole registry only): table, left_out, rows, share (%)."""
    rows = figures[(figures["indicator_id"] == "dq.invalid_rows") & figures["area_id"].isna()
                   & figures["breakdown"].fillna("").str.startswith("table=")]
    frame = pd.DataFrame({
        "table": rows["breakdown"].str.slice(len("table=")).tolist(),
        "left_out": pd.to_numeric(rows["numerator"]).astype("int64").tolist(),
        "rows": pd.to_numeric(rows["denominator"]).astype("int64").tolist(),
    })
    frame["share"] = _percent(frame["left_out"], frame["rows"])
    return frame


def figures_by_area(figures: pd.DataFrame, shown: pd.DataFrame,
                    indicator_ids: Sequence[str]) -> pd.DataFrame:
    """The shown areas (area_id, name) with, per indicator, its value (percentages as 45.2),
    numerator and denominator in columns ``<id>``, ``<id>:numerator``, ``<id>:denominator``.
    Rows without breakdown or programme; the first indicator's worst values first."""
    frame = pd.DataFrame({"area_id": shown["area_id"].tolist(), "area": shown["name"].tolist()})
    plain = figures[figures["breakdown"].isna() & figures["programme_id"].isna()]
    for indicator_id in indicator_ids:
        rows = plain[plain["indicator_id"] == indicator_id].drop_duplicates("area_id")
        rows = rows.set_index("area_id")
        value = pd.to_numeric(frame["area_id"].map(rows["value"]), errors="coerce")
        if BY_ID[indicator_id].unit == "percent":
            value = value * 100
        frame[indicator_id] = value.astype("float64").round(2)
        for part in ("numerator", "denominator"):
            frame[f"{indicator_id}:{part}"] = pd.to_numeric(
                frame["area_id"].map(rows[part]), errors="coerce").astype("Int64")
    if indicator_ids:
        first = BY_ID[indicator_ids[0]]
        frame = frame.sort_values([indicator_ids[0], "area"],
                                  ascending=[first.higher_is_better is not False, True],
                                  na_position="last", kind="stable")
    return frame.reset_index(drop=True)
