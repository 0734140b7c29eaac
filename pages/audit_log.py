"""Audit log (admins): who signed in, exported, viewed lists with personal data, decided on a
duplicate pair or changed a user — when, and with which filters. Filter by days, action and
user; download the rows as CSV (the download is itself recorded as an export).
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from core.i18n import N_, format_number, t
from data_access import admin, audit
from ui import queries, sign_in, widgets

ALL = "__all__"
ACTION_LABELS = {
    "sign_in": N_("Sign-in"), "sign_in_failed": N_("Failed sign-in"), "sign_out": N_("Sign-out"),
    "export": N_("Export"), "list_view": N_("List viewed with personal data"),
    "pair_decision": N_("Decision on a duplicate pair"), "user_change": N_("Change of a user"),
}


def _filters() -> dict:
    today = dt.datetime.now(dt.UTC).date()
    left, middle, right, far = st.columns(4)
    since = left.date_input(t("From"), value=today - dt.timedelta(days=30), key="audit_since",
                            format="YYYY-MM-DD", help=t("Days in UTC."))
    until = middle.date_input(t("To"), value=today, key="audit_until", format="YYYY-MM-DD")
    action = right.selectbox(t("Action"), [ALL, *audit.ACTIONS], key="audit_action",
                             format_func=lambda a: t("Every action") if a == ALL
                             else t(ACTION_LABELS.get(a, a)))
    username = far.text_input(t("User"), key="audit_user",
                              help=t("A username exactly as recorded (e.g. omar, or "
                                     "cli:root for the command line)."))
    return {"since": since or None, "until": until or None,
            "action": None if action == ALL else action, "username": username or None}


def main() -> None:
    view = widgets.page_view(__file__)
    if view is None:
        return
    st.title(t("Audit log"))
    store = queries.app_store_engine(view.settings.app_store_url)
    filters = _filters()
    rows = admin.audit_log(store, view.context, **filters)
    shown = rows.assign(action=[t(ACTION_LABELS.get(a, a)) for a in rows["action"]],
                        role=[t(r) if isinstance(r, str) else r for r in rows["role"]])
    if rows.empty:
        st.info(t("Nothing recorded for these choices."))
    else:
        st.dataframe(shown, hide_index=True, column_order=("at", "username", "role", "action",
                                                           "what", "filters"),
                     column_config={
                         "at": st.column_config.DatetimeColumn(t("When (UTC)"),
                                                               format="YYYY-MM-DD HH:mm:ss"),
                         "username": st.column_config.TextColumn(t("Who")),
                         "role": st.column_config.TextColumn(t("Role")),
                         "action": st.column_config.TextColumn(t("Action")),
                         "what": st.column_config.TextColumn(t("What"), width="large"),
                         "filters": st.column_config.TextColumn(t("Filters"), width="large"),
                     })
        if len(rows) >= audit.DEFAULT_LIMIT:
            st.caption(t("The newest {count} rows; the download has every row.",
                         count=format_number(len(rows))))
    plain = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in filters.items()}
    st.download_button(
        t("Download these rows (CSV)"), key="audit_csv", on_click="ignore",
        icon=":material/download:", mime="text/csv",
        file_name=f"socle-audit-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M}.csv",
        data=sign_in.personal_download(queries.audited_download(
            view.context, view.settings, lambda: admin.audit_csv(store, view.context, **filters),
            "downloaded the audit log as CSV", {"format": "csv", "what": "audit_log", **plain})))


if __name__ == "__main__":
    widgets.guarded(main)
