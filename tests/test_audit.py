"""The audit log: rows written by record() and by the account functions; append-only on both
backends; readable by admins only."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher, profiles

from data_access import audit, users
from data_access.app_store import open_app_store
from data_access.audit import AuditAccessError, audit_log, audit_rows, record
from data_access.context import UserContext

ADMIN = UserContext("admin", username="ada")
T0 = dt.datetime(2026, 11, 30, 9, 0)


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    monkeypatch.setattr(users, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))


def test_table_matches_the_migration(store: sa.Engine):
    columns = {c["name"] for c in sa.inspect(store).get_columns("audit_log")}
    assert columns == {c.name for c in audit_log.columns} == set(audit.AUDIT_COLUMNS)


def test_record_writes_who_when_what_and_filters(store: sa.Engine):
    officer = UserContext("officer", ("PK602",), username="omar")
    first = record(store, officer, "list_view", "overdue referrals of Nowshera",
                   {"area": "PK602", "as_of": dt.date(2026, 10, 31), "lists": ["overdue"]},
                   now=T0)
    second = record(store, "cli:root", "export", "summary workbook", None,
                    now=dt.datetime(2026, 11, 30, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=5))))
    assert second > first
    rows = audit_rows(store, context=ADMIN)
    assert list(rows.columns) == list(audit.AUDIT_COLUMNS)
    assert rows["id"].tolist() == [second, first]  # newest first
    latest, earliest = rows.to_dict("records")
    assert earliest["username"] == "omar" and earliest["role"] == "officer"
    assert earliest["at"] == T0 and earliest["action"] == "list_view"
    assert earliest["filters"] == {"area": "PK602", "as_of": "2026-10-31", "lists": ["overdue"]}
    assert latest["username"] == "cli:root" and latest["role"] is None
    assert latest["at"] == dt.datetime(2026, 11, 30, 9, 0)  # +05:00 stored as UTC
    assert latest["filters"] == {}


def test_unknown_action_is_refused(store: sa.Engine):
    with pytest.raises(ValueError, match="unknown audit action `delete_everything`"):
        record(store, ADMIN, "delete_everything", "nothing")


def test_only_admins_read_the_log(store: sa.Engine):
    record(store, ADMIN, "export", "audit log", {})
    for role in ("chair", "officer", "donor"):
        with pytest.raises(AuditAccessError):
            audit_rows(store, context=UserContext(role, ("PK601",) if role != "donor" else ()))


def test_filters_by_time_action_and_user(store: sa.Engine):
    for minutes, action, who in ((0, "sign_in", "a"), (10, "export", "a"), (20, "sign_in", "b"),
                                 (30, "sign_out", "a")):
        record(store, who, action, action, now=T0 + dt.timedelta(minutes=minutes))
    assert audit_rows(store, context=ADMIN, action="sign_in")["username"].tolist() == ["b", "a"]
    since = audit_rows(store, context=ADMIN, since=T0 + dt.timedelta(minutes=10),
                       until=T0 + dt.timedelta(minutes=30))
    assert since["action"].tolist() == ["sign_in", "export"]
    assert audit_rows(store, context=ADMIN, username="a", limit=2)["action"].tolist() == [
        "sign_out", "export"]


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET what = 'nothing happened'",
    "DELETE FROM audit_log",
])
def test_rows_cannot_be_changed_or_deleted(store: sa.Engine, statement: str):
    record(store, ADMIN, "export", "summary workbook", {"level": 2})
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with store.begin() as conn:
            conn.execute(sa.text(statement))
    rows = audit_rows(store, context=ADMIN)
    assert rows["what"].tolist() == ["summary workbook"]
    assert not hasattr(audit, "delete") and not hasattr(audit, "update")


def test_truncate_is_refused_on_postgresql(postgres_store_url: str):
    # PostgreSQL only: SQLite has no TRUNCATE (its DELETE is refused above).
    store = open_app_store(postgres_store_url)
    record(store, ADMIN, "export", "summary workbook")
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with store.begin() as conn:
            conn.execute(sa.text("TRUNCATE audit_log"))
    assert len(audit_rows(store, context=ADMIN)) == 1
    store.dispose()


def test_each_audited_account_action_writes_a_row(store: sa.Engine):
    """Sign-in, failed sign-in, sign-out and each change of a user leave their row."""
    users.create_user(store, "omar", "officer", ["PK602"], password="s3cret-pass-1",
                      actor=ADMIN, now=T0)
    users.update_user(store, "omar", areas=["PK602", "PK603"], actor=ADMIN, now=T0)
    users.set_password(store, "omar", "s3cret-pass-2", actor=ADMIN, now=T0)
    with pytest.raises(users.AuthError):
        users.authenticate(store, "omar", "not-the-password-9", now=T0)
    session = users.authenticate(store, "omar", "s3cret-pass-2", now=T0,
                                 filters={"client": "127.0.0.1"})
    users.sign_out(store, session.token, now=T0)
    users.set_disabled(store, "omar", True, actor=ADMIN, now=T0)
    users.set_disabled(store, "omar", False, actor="cli:root", now=T0)
    rows = audit_rows(store, context=ADMIN).iloc[::-1]
    assert rows["action"].tolist() == ["user_change", "user_change", "user_change",
                                       "sign_in_failed", "sign_in", "sign_out",
                                       "user_change", "user_change"]
    changes = rows[rows["action"] == "user_change"]
    assert [f["change"] for f in changes["filters"]] == ["create", "update", "set_password",
                                                         "disable", "enable"]
    assert changes["username"].tolist() == ["ada"] * 4 + ["cli:root"]
    sign_in = rows[rows["action"] == "sign_in"].iloc[0]
    assert (sign_in["username"], sign_in["role"]) == ("omar", "officer")
    assert sign_in["filters"] == {"client": "127.0.0.1", "areas": ["PK602", "PK603"]}
    failed = rows[rows["action"] == "sign_in_failed"].iloc[0]
    assert failed["filters"]["reason"] == "wrong_password"
    # no password, hash or token ever reaches the log
    text = " ".join(str(v) for v in rows.to_numpy().ravel())
    for secret in ("s3cret-pass", "not-the-password", session.token, "$argon2"):
        assert secret not in text


def test_a_refused_change_writes_nothing(store: sa.Engine):
    with pytest.raises(users.UserError):
        users.create_user(store, "x", "mayor", password=None, actor=ADMIN)
    users.create_user(store, "x", "donor", password=None, actor=ADMIN)
    with pytest.raises(users.UserError, match="already exists"):
        users.create_user(store, "X", "donor", password=None, actor=ADMIN)
    assert len(audit_rows(store, context=ADMIN)) == 1
