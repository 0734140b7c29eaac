"""The lists and referral counts of the list pages (Referrals, Duplicates, Data quality), cached
for Streamlit (the widgets those pages share are in list_widgets.py).

As data_access/queries.py does:
- ``st.cache_data`` keyed on the registry URL, its last-loaded time (a reloaded SQLite registry
  is read afresh) and the parameters; entries also expire after ``queries.CACHE_TTL``; engines
  go to cached functions as underscore arguments.
- Every function takes the UserContext. Lists are asked of ``indicators.lists`` with it: a
  context that may not see lists gets ``ListPermissionError`` (before anything is cached), an
  area outside its scope too, and personal columns are kept from those who may not see them
  (a chair's CSV download has none). Referral counts keep only the areas the context may
  see, and are refused to donors (they are not suppressed: donors see ``queries.figures``).
- Audit (data_access.audit): a list shown with personal columns is recorded as a
  ``list_view`` once per distinct view in the session (not on every rerun); a CSV download
  as an ``export`` when it is built.

A list shown on a page is read once per choice (:func:`list_scan`): the first
:data:`PREVIEW_ROWS` rows the page's filter keeps, their number, and counts by a column.
The download (:func:`csv_download`) streams the whole filtered list again from the database,
only when the button is clicked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

import pandas as pd
import sqlalchemy as sa
import streamlit as st

from core import i18n
from core.i18n import N_, t
from core.settings import Settings
from data_access import audit
from data_access.context import UserContext
from data_access.registry import registry_last_loaded
from data_access.scope import visible_area_ids
from indicators import lists
from ui import queries
from views import referrals as rv

PREVIEW_ROWS = 5_000
TREND_MONTHS = 12


def _registry(settings: Settings) -> tuple[sa.Engine, str, dt.datetime | None]:
    url = settings.database_url
    engine = queries.registry_engine(url)
    return engine, url, registry_last_loaded(engine)


# Areas ----------------------------------------------------------------------------------

def focus_area_ids(context: UserContext, settings: Settings,
                   area_id: str | None) -> frozenset[str] | None:
    """The recorded area ids a figure of ``area_id`` counts (it and the areas below it; None:
    every area), within what the context may see. None means no restriction at all."""
    tree = queries.area_tree(settings.database_url)
    visible = visible_area_ids(tree, context)
    if area_id is None:
        return None if visible is None else frozenset(visible)
    below = tree.below(area_id)
    return frozenset(below if visible is None else below & visible)


# Referral counts ---------------------------------------------------------------------------

@st.cache_data(ttl=queries.CACHE_TTL, max_entries=32, show_spinner=False)
def _cached_stage_counts(_engine: sa.Engine, url: str, version: dt.datetime | None,
                         as_of: dt.date, period_start: dt.date, sla_days: int) -> pd.DataFrame:
    with queries.computing(url):
        return rv.count_referral_stages(_engine, as_of=as_of, period_start=period_start,
                                        referral_sla_days=sla_days)


def _require_unsuppressed(context: UserContext) -> None:
    """Counts read straight from the registry are not suppressed: not for donors."""
    if context.sees_suppressed_figures:
        raise lists.ListPermissionError(N_(
            "The donor role sees suppressed aggregate figures only: referral counts by "
            "programme, access point and month are not available to it."))


def referral_counts(context: UserContext, settings: Settings, *, as_of: dt.date,
                    period_start: dt.date, area_id: str | None) -> pd.DataFrame:
    """rv.count_referral_stages for the period, kept to ``area_id`` (and below) as the context
    may see it: one row per recorded area, programme and access point. Not for donors."""
    _require_unsuppressed(context)
    engine, url, version = _registry(settings)
    with queries.registry_turns(settings):
        counts = _cached_stage_counts(engine, url, version, as_of, period_start,
                                      int(settings.referral_sla_days))
    return rv.within(counts, focus_area_ids(context, settings, area_id))


@st.cache_data(ttl=queries.CACHE_TTL, max_entries=16, show_spinner=False)
def _cached_monthly(_engine: sa.Engine, url: str, version: dt.datetime | None,
                    as_of: dt.date, months: int, sla_days: int) -> pd.DataFrame:
    with queries.computing(url):
        return rv.count_monthly_referrals(_engine, as_of=as_of, months=months,
                                          referral_sla_days=sla_days)


def referral_trend(context: UserContext, settings: Settings, *, as_of: dt.date,
                   area_id: str | None, programme_id: str | None,
                   months: int = TREND_MONTHS) -> pd.DataFrame:
    """rv.monthly_trend of the ``months`` calendar months ending with as_of's month (not for
    donors)."""
    _require_unsuppressed(context)
    engine, url, version = _registry(settings)
    with queries.registry_turns(settings):
        monthly = _cached_monthly(engine, url, version, as_of, int(months),
                                  int(settings.referral_sla_days))
    return rv.monthly_trend(monthly, rv.trend_months(as_of, months),
                            focus_area_ids(context, settings, area_id), programme_id)


# Lists ------------------------------------------------------------------------------------

def list_columns(list_id: str, context: UserContext) -> tuple[lists.ListColumn, ...]:
    """The columns of the list the context may see, in the list's order."""
    return lists.visible_columns(lists.get_list(list_id), context)


@st.cache_data(ttl=queries.CACHE_TTL, max_entries=48, show_spinner=False)
def _cached_scan(_engine: sa.Engine, url: str, version: dt.datetime | None,
                 context: UserContext, list_id: str, area_id: str | None, as_of: dt.date,
                 period_start: dt.date, sla_days: int, poverty_cutoff: float,
                 filters: tuple[rv.RowFilter, ...], group_by: tuple[tuple[str, ...], ...],
                 limit: int) -> rv.ListScan:
    # The whole context is part of the key (Streamlit hashes a dataclass by its fields).
    tree = queries.area_tree(url)
    with queries.computing(url):
        chunks = lists.list_rows(
            _engine, list_id, context=context, area_id=area_id, areas=tree, as_of=as_of,
            period_start=period_start, referral_sla_days=sla_days,
            poverty_cutoff=poverty_cutoff)
        return rv.scan_list(chunks, columns=[c.name for c in list_columns(list_id, context)],
                            filters=filters, limit=limit, group_by=group_by)


def list_scan(context: UserContext, settings: Settings, list_id: str, *, area_id: str | None,
              as_of: dt.date, period_start: dt.date, filters: Iterable[rv.RowFilter] = (),
              group_by: Iterable[tuple[str, ...]] = (), limit: int = PREVIEW_ROWS
              ) -> rv.ListScan:
    """The list's rows for ``area_id`` (and below; None: all the context may see) that the
    filters keep: the first ``limit``, their number, counts by each ``group_by`` key.
    ListPermissionError for a context that may not see lists."""
    lists.require_lists(context)
    engine, url, version = _registry(settings)
    filters = tuple(filters)
    with queries.registry_turns(settings):
        scan = _cached_scan(engine, url, version, context, list_id, area_id,
                            as_of, period_start, int(settings.referral_sla_days),
                            float(settings.poverty_cutoff), filters, tuple(group_by),
                            int(limit))
    if scan.total and lists.has_personal_columns(lists.get_list(list_id), context):
        _audit_view(context, settings, list_id, area_id=area_id, as_of=as_of,
                    period_start=period_start, filters=filters, rows=scan.total)
    return scan


AUDITED_VIEWS_KEY = "_socle_audited_list_views"


def _filters_record(filters: Iterable[rv.RowFilter]) -> dict[str, list]:
    return {",".join(columns): list(values) for columns, values in filters}


def _audit_view(context: UserContext, settings: Settings, list_id: str, *,
                area_id: str | None, as_of: dt.date, period_start: dt.date,
                filters: tuple[rv.RowFilter, ...], rows: int) -> None:
    """Record a list shown with personal data, once per distinct view in this session."""
    key = (context, list_id, area_id, as_of, period_start, filters)
    seen = st.session_state.setdefault(AUDITED_VIEWS_KEY, set())
    if key in seen:
        return
    audit.record(queries.app_store_engine(settings.app_store_url), context, "list_view",
                 f"viewed the list {list_id} ({rows:,} rows) with personal data",
                 {"list": list_id, "area_id": area_id, "as_of": as_of.isoformat(),
                  "period_start": period_start.isoformat(), "rows": int(rows),
                  "filters": _filters_record(filters)})
    seen.add(key)


def csv_bytes(engine: sa.Engine, list_id: str, *, context: UserContext, area_id: str | None,
              areas: pd.DataFrame | None, as_of: dt.date, period_start: dt.date,
              referral_sla_days: int, poverty_cutoff: float,
              filters: Iterable[rv.RowFilter] = ()) -> bytes:
    """The whole filtered list as CSV, streamed from the database (headers: the columns'
    labels in the interface's language). A file leaving the app: personal columns only for
    the roles that may export them."""
    columns = lists.visible_columns(lists.get_list(list_id), context, export=True)
    chunks = lists.list_rows(engine, list_id, context=context, area_id=area_id, areas=areas,
                             as_of=as_of, period_start=period_start,
                             referral_sla_days=referral_sla_days, poverty_cutoff=poverty_cutoff,
                             export=True)
    return rv.write_csv(chunks, columns=[c.name for c in columns],
                        labels=[t(c.label) for c in columns], filters=filters)


def csv_download(context: UserContext, settings: Settings, list_id: str, *,
                 area_id: str | None, as_of: dt.date, period_start: dt.date,
                 filters: Iterable[rv.RowFilter] = ()) -> Callable[[], bytes]:
    """The CSV of the list, built when the download button is clicked (on another thread:
    it calls no Streamlit function and no cached one) and recorded in the audit log."""
    lists.require_lists(context)
    engine, url, version = _registry(settings)
    areas = queries.area_tree(url)
    store = queries.app_store_engine(settings.app_store_url)
    filters = tuple(filters)
    sla, cutoff = int(settings.referral_sla_days), float(settings.poverty_cutoff)
    language = i18n.current_language()  # the headers in the session's language

    def build() -> bytes:
        with i18n.using(language):
            data = csv_bytes(engine, list_id, context=context, area_id=area_id, areas=areas,
                             as_of=as_of, period_start=period_start, referral_sla_days=sla,
                             poverty_cutoff=cutoff, filters=filters)
        personal = lists.has_personal_columns(lists.get_list(list_id), context, export=True)
        audit.record(store, context, "export",
                     f"downloaded the list {list_id} as CSV"
                     + (" with personal data" if personal else ""),
                     {"format": "csv", "list": list_id, "area_id": area_id,
                      "as_of": as_of.isoformat(), "period_start": period_start.isoformat(),
                      "filters": _filters_record(filters), "personal_data": personal,
                      "bytes": len(data)})
        return data

    return build
