"""Users (admins): the accounts, and forms to create one, change its role and areas, disable or
enable it, and give it a new password. Every change is written to the audit log by
data_access (data_access.admin → data_access.users), with the admin as the actor.

A generated password is shown once, right after the change, and never stored in clear.
"""

from __future__ import annotations

import streamlit as st

from core.i18n import t
from data_access import admin, users
from data_access.context import ROLES
from ui import queries, widgets

FLASH_KEY = "_users_flash"
PASSWORD_FLASH_KEY = "_users_password"


def _done(message: str, password: str | None = None) -> None:
    st.session_state[FLASH_KEY] = message
    if password:
        st.session_state[PASSWORD_FLASH_KEY] = password
    st.rerun()


def _flash() -> None:
    message = st.session_state.pop(FLASH_KEY, None)
    password = st.session_state.pop(PASSWORD_FLASH_KEY, None)
    if message:
        st.success(message)
    if password:
        st.caption(t("The password, shown only now: give it to the user, who signs in with it."))
        st.code(password, language=None)


def _area_options(view: widgets.View) -> dict[str, str]:
    areas = queries.areas(view.context, view.settings.database_url)
    return {a: f"{name} ({a}) — {t(view.settings.level_name(int(level)))}"
            for a, name, level in zip(areas["area_id"], areas["name"], areas["level"],
                                      strict=True)}


def _create(view: widgets.View, store, options: dict[str, str]) -> None:
    with st.form("user_create", clear_on_submit=True):
        left, middle = st.columns(2)
        username = left.text_input(t("Username"), key="user_new_name",
                                   help=t("Letters, digits and ._@+- (an e-mail address for "
                                          "sign-in through the organisation's account)."))
        role = middle.selectbox(t("Role"), ROLES, key="user_new_role", format_func=t)
        areas = st.multiselect(t("Areas"), list(options), key="user_new_areas",
                               format_func=lambda a: options.get(a, a),
                               placeholder=t("None: the whole registry (admins and donors)"),
                               help=t("The user sees these areas and the areas below them. "
                                      "Chairs and officers need at least one."))
        password = st.radio(t("Password"), ["generate", "none"], key="user_new_password",
                            horizontal=True, format_func=lambda k: {
                                "generate": t("Generate one (shown once)"),
                                "none": t("None: signs in through the organisation's account "
                                          "only")}[k])
        submitted = st.form_submit_button(t("Create the user"), icon=":material/person_add:")
    if not submitted:
        return
    try:
        user, generated = admin.create_user(
            store, view.context, username, role, areas,
            password=None if password == "generate" else "", known_areas=set(options))
    except users.UserError as exc:
        st.error(t("The user was not created: {problem}.", problem=t(exc)))
        return
    _done(t("User {name} created ({role}).", name=user.username, role=t(user.role)), generated)


def _change(view: widgets.View, store, names: list[str], options: dict[str, str]) -> None:
    name = st.selectbox(t("User"), names, key="user_change_name")
    if name is None:
        return
    user = admin.get_user(store, view.context, name)
    if user is None:
        return
    with st.form(f"user_change_{name}"):
        role = st.selectbox(t("Role"), ROLES, index=ROLES.index(user.role), format_func=t,
                            key=f"user_change_role_{name}")
        areas = st.multiselect(t("Areas"), list(options), default=[a for a in user.areas
                                                                  if a in options],
                               format_func=lambda a: options.get(a, a),
                               key=f"user_change_areas_{name}",
                               placeholder=t("None: the whole registry (admins and donors)"))
        submitted = st.form_submit_button(t("Save"), icon=":material/save:")
    left, middle = st.columns(2)
    if user.disabled:
        toggled = left.button(t("Enable {name}", name=name), key="user_enable",
                              icon=":material/lock_open:")
    else:
        toggled = left.button(t("Disable {name}", name=name), key="user_disable",
                              icon=":material/block:",
                              help=t("A disabled user cannot sign in; their sessions end."))
    reset = middle.button(t("New password for {name}", name=name), key="user_password",
                          icon=":material/key:",
                          help=t("Generates a password, shown once; it also lifts a lock-out."))
    try:
        if submitted:
            changed = admin.update_user(store, view.context, name, role=role, areas=areas,
                                        known_areas=set(options))
            _done(t("User {name} saved ({role}).", name=changed.username, role=t(changed.role)))
        if toggled:
            changed = admin.set_disabled(store, view.context, name, not user.disabled)
            _done(t("User {name} disabled.", name=name) if changed.disabled
                  else t("User {name} enabled.", name=name))
        if reset:
            _done(t("New password set for {name}.", name=name),
                  admin.new_password(store, view.context, name))
    except users.UserError as exc:
        st.error(t("Nothing was changed: {problem}.", problem=t(exc)))


def main() -> None:
    view = widgets.page_view(__file__)
    if view is None:
        return
    st.title(t("Users"))
    store = queries.app_store_engine(view.settings.app_store_url)
    _flash()
    table = admin.users_table(store, view.context)
    shown = table.assign(**{column: [t(v) for v in table[column]]  # codes in the language
                            for column in ("role", "status", "password")},
                         areas=[t(a) if a == "(all)" else a for a in table["areas"]])
    st.dataframe(shown, hide_index=True, column_config={
        "username": st.column_config.TextColumn(t("Username")),
        "role": st.column_config.TextColumn(t("Role")),
        "areas": st.column_config.TextColumn(t("Areas")),
        "status": st.column_config.TextColumn(t("Status")),
        "password": st.column_config.TextColumn(t("Password")),
        "created_at": st.column_config.DatetimeColumn(t("Created (UTC)")),
        "created_by": st.column_config.TextColumn(t("Created by")),
        "updated_at": st.column_config.DatetimeColumn(t("Changed (UTC)")),
    })
    st.caption(t("Every change is written to the audit log. The command line does the same: "
                 "`python -m data_access.users --help`."))
    options = _area_options(view)
    create, change = st.tabs([t("New user"), t("Change a user")])
    with create:
        _create(view, store, options)
    with change:
        _change(view, store, list(table["username"]), options)


if __name__ == "__main__":
    widgets.guarded(main)
