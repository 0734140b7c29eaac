"""Local accounts: argon2 hashes, lock-out, sessions that expire, disabled accounts, the CLI
and the demo's accounts — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher, profiles

from data_access import users
from data_access.audit import audit_rows
from data_access.context import UserContext
from data_access.users import (
    AuthError,
    AuthPolicy,
    UserError,
    authenticate,
    create_user,
    demo_accounts,
    main,
    resume_session,
    set_disabled,
    sign_out,
)

T0 = dt.datetime(2026, 11, 30, 9, 0)
PASSWORD = "correct horse battery"
ADMIN = UserContext("admin", username="ada")
KNOWN_AREAS = {"PK6", "PK601", "PK602", "PK60201"}


def minutes(n: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=n)


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    """argon2's cheapest parameters keep the tests fast (one test checks the real ones)."""
    monkeypatch.setattr(users, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture
def officer(store: sa.Engine) -> sa.Engine:
    create_user(store, "Omar", "officer", ["PK602"], password=PASSWORD, actor=ADMIN, now=T0)
    return store


def stored_hash(store: sa.Engine, username: str) -> str:
    with store.connect() as conn:
        return conn.execute(sa.select(users.users.c.password_hash)
                            .where(users.users.c.username == username)).scalar_one()


def test_tables_match_the_migration(store: sa.Engine):
    inspector = sa.inspect(store)
    for table in users.metadata.sorted_tables:
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert columns == {c.name for c in table.columns}, table.name


# Passwords ---------------------------------------------------------------------------------

def test_only_an_argon2id_hash_is_stored_and_weak_hashes_are_upgraded(officer, monkeypatch):
    text = stored_hash(officer, "omar")
    assert text.startswith("$argon2id$") and PASSWORD not in text
    assert PasswordHasher().verify(text, PASSWORD)
    with officer.connect() as conn:  # nowhere else either
        for table in ("users", "user_areas", "audit_log"):
            rows = conn.execute(sa.text(f"SELECT * FROM {table}")).all()
            assert PASSWORD not in repr(rows)
    # The cheap test hash is replaced by one with the real parameters at the next sign-in.
    monkeypatch.setattr(users, "HASHER", PasswordHasher())
    assert users.HASHER.check_needs_rehash(text)
    authenticate(officer, "omar", PASSWORD, now=T0)
    upgraded = stored_hash(officer, "omar")
    assert upgraded != text and not users.HASHER.check_needs_rehash(upgraded)
    authenticate(officer, "OMAR ", PASSWORD, now=T0)  # names are trimmed, any case


def test_signing_in_gives_the_users_context(officer):
    session = authenticate(officer, "omar", PASSWORD, now=T0)
    assert session.context == UserContext("officer", ("PK602",), username="omar")
    assert session.expires_at == minutes(480)
    assert len(session.token) >= 40


def test_wrong_name_or_password_gives_one_message(officer):
    for username, password in (("omar", "not the password"), ("nobody", PASSWORD), ("", "")):
        with pytest.raises(AuthError, match="Wrong username or password") as caught:
            authenticate(officer, username, password, now=T0)
        assert caught.value.reason == "invalid"


# Lock-out ------------------------------------------------------------------------------------

def test_lock_out_after_repeated_failures_then_unlock_after_the_window(officer):
    policy = AuthPolicy(max_failures=5, lockout_minutes=15)
    for i in range(5):
        with pytest.raises(AuthError) as caught:
            authenticate(officer, "omar", f"guess {i}", now=minutes(i), policy=policy)
        assert caught.value.reason == "invalid"
    assert caught.value.locked_until == minutes(4 + 15)  # the 5th failure locks
    # Locked: even the right password is refused, without extending the lock.
    for at in (4.5, 10, 18.9):
        with pytest.raises(AuthError, match="Too many failed sign-ins") as caught:
            authenticate(officer, "omar", PASSWORD, now=minutes(at), policy=policy)
        assert caught.value.reason == "locked"
        assert caught.value.locked_until == minutes(19)
    session = authenticate(officer, "omar", PASSWORD, now=minutes(19), policy=policy)
    assert session.username == "omar"
    # A successful sign-in clears the count: four new failures do not lock.
    for i in range(4):
        with pytest.raises(AuthError):
            authenticate(officer, "omar", "guess", now=minutes(20 + i), policy=policy)
    authenticate(officer, "omar", PASSWORD, now=minutes(25), policy=policy)
    reasons = [f["reason"] for f in audit_rows(officer, context=ADMIN,
                                               action="sign_in_failed")["filters"]]
    assert reasons.count("locked") == 3 and reasons.count("wrong_password") == 9


def test_failures_spread_wider_than_the_window_do_not_lock(officer):
    policy = AuthPolicy(max_failures=3, lockout_minutes=15)
    for at in (0, 10, 20, 30, 40):  # never three within 15 minutes
        with pytest.raises(AuthError) as caught:
            authenticate(officer, "omar", "guess", now=minutes(at), policy=policy)
        assert caught.value.reason == "invalid"
    authenticate(officer, "omar", PASSWORD, now=minutes(41), policy=policy)


def test_unknown_names_lock_like_known_ones(officer):
    policy = AuthPolicy(max_failures=2, lockout_minutes=15)
    for name in ("omar", "nobody"):
        for i in range(2):
            with pytest.raises(AuthError):
                authenticate(officer, name, "guess", now=minutes(i), policy=policy)
        with pytest.raises(AuthError) as caught:
            authenticate(officer, name, "guess", now=minutes(2), policy=policy)
        assert caught.value.reason == "locked"


def test_an_admin_unlocks_by_setting_a_password(officer):
    policy = AuthPolicy(max_failures=2, lockout_minutes=15)
    for i in range(2):
        with pytest.raises(AuthError):
            authenticate(officer, "omar", "guess", now=minutes(i), policy=policy)
    users.set_password(officer, "omar", "a brand new password", actor=ADMIN, now=minutes(2))
    authenticate(officer, "omar", "a brand new password", now=minutes(3), policy=policy)


# Sessions ------------------------------------------------------------------------------------

def test_a_session_expires(officer):
    policy = AuthPolicy(session_minutes=480)
    session = authenticate(officer, "omar", PASSWORD, now=T0, policy=policy)
    assert resume_session(officer, session.token, minutes(479)).context == session.context
    with pytest.raises(AuthError, match="expired") as caught:
        resume_session(officer, session.token, minutes(480))
    assert caught.value.reason == "expired"
    with officer.connect() as conn:  # only the token's hash is stored
        stored = conn.execute(sa.text("SELECT token_hash FROM sessions")).scalars().all()
    assert session.token not in stored and len(stored[0]) == 64


def test_signed_out_and_unknown_tokens_are_refused(officer):
    session = authenticate(officer, "omar", PASSWORD, now=T0)
    sign_out(officer, session.token, now=minutes(1))
    sign_out(officer, session.token, now=minutes(2))  # twice: ignored
    for token in (session.token, "made-up-token"):
        with pytest.raises(AuthError) as caught:
            resume_session(officer, token, minutes(3))
        assert caught.value.reason == "no_session"
    assert len(audit_rows(officer, context=ADMIN, action="sign_out")) == 1


def test_a_session_follows_changes_of_its_account(officer):
    session = authenticate(officer, "omar", PASSWORD, now=T0)
    users.update_user(officer, "omar", role="chair", areas=["PK601"], actor=ADMIN, now=T0)
    assert resume_session(officer, session.token, minutes(1)).context == UserContext(
        "chair", ("PK601",), username="omar")


def test_a_disabled_account_is_refused_and_its_sessions_end(officer):
    session = authenticate(officer, "omar", PASSWORD, now=T0)
    set_disabled(officer, "omar", True, actor=ADMIN, now=minutes(1))
    with pytest.raises(AuthError):
        resume_session(officer, session.token, minutes(2))
    with pytest.raises(AuthError, match="disabled") as caught:
        authenticate(officer, "omar", PASSWORD, now=minutes(2))
    assert caught.value.reason == "disabled"
    with pytest.raises(AuthError, match="Wrong username"):  # a wrong password says no more
        authenticate(officer, "omar", "not the password", now=minutes(2))
    set_disabled(officer, "omar", False, actor=ADMIN, now=minutes(3))
    authenticate(officer, "omar", PASSWORD, now=minutes(4))
    with pytest.raises(AuthError):  # the session ended by disabling stays ended
        resume_session(officer, session.token, minutes(5))


def test_identity_provider_sign_in_needs_a_local_enabled_account(officer):
    create_user(officer, "chair@district.gov.pk", "chair", ["PK601"], password=None,
                actor=ADMIN)
    session = users.start_session(officer, "Chair@District.gov.pk", now=T0)
    assert session.context == UserContext("chair", ("PK601",), username="chair@district.gov.pk")
    with pytest.raises(AuthError):
        users.start_session(officer, "stranger@example.org", now=T0)
    with pytest.raises(AuthError, match="Wrong username"):  # no local password: no local sign-in
        authenticate(officer, "chair@district.gov.pk", "", now=T0)


def test_policy_comes_from_the_settings(tmp_path: Path):
    from core.settings import SettingsError, load_settings

    path = tmp_path / "config.toml"
    path.write_text('[geography]\nboundary_file = ""\n', encoding="utf-8")
    assert AuthPolicy.from_settings(load_settings(path, env={})) == AuthPolicy(5, 15, 480)
    settings = load_settings(path, env={"SOCLE_AUTH_MAX_FAILURES": "3",
                                        "SOCLE_AUTH_SESSION_MINUTES": "60"})
    assert AuthPolicy.from_settings(settings) == AuthPolicy(3, 15, 60)
    with pytest.raises(SettingsError, match=r"auth\.lockout_minutes"):
        load_settings(path, env={"SOCLE_AUTH_LOCKOUT_MINUTES": "0"})


# Accounts ------------------------------------------------------------------------------------

BAD_ACCOUNTS = [
    (("ali", "mayor", ()), "unknown role `mayor`"),
    (("ali", "officer", ("PK999", "PK998")), "unknown areas `PK999`, `PK998`"),
    (("ali", "officer", ()), "an officer needs one or more areas"),
    (("ali", "chair", ()), "a chair needs one or more areas"),
    (("bad name", "donor", ()), "not a valid username"),
]


def test_bad_accounts_are_refused(store: sa.Engine):
    for args, message in BAD_ACCOUNTS:
        with pytest.raises(UserError, match=message):
            create_user(store, *args, password=PASSWORD, known_areas=KNOWN_AREAS)
    assert users.list_users(store) == []


def test_short_passwords_are_refused(store: sa.Engine):
    with pytest.raises(UserError, match="at least 10 characters"):
        create_user(store, "ali", "donor", password="short")


# The command line --------------------------------------------------------------------------

@pytest.fixture
def cli_env(monkeypatch, tmp_path: Path, store_url: str, store: sa.Engine) -> sa.Engine:
    """Point the settings at a small registry (areas of the demo's ids) and the test store."""
    from data_access.loader import write_registry
    from tests.fixture_registry import fixture_tables

    tables = fixture_tables()
    tables["area"] = pd.DataFrame(
        [("PK6", "Khyber Pakhtunkhwa", 1, None, 9000), ("PK601", "Peshawar", 2, "PK6", 5000),
         ("PK602", "Nowshera", 2, "PK6", 4000), ("PK60201", "Pabbi", 3, "PK602", 4000)],
        columns=["area_id", "name", "level", "parent_id", "population"], dtype=object)
    for name in ("access_point", "household", "person", "enrolment", "referral"):
        tables[name] = tables[name].iloc[0:0]
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    writer = sa.create_engine(url)
    write_registry(writer, tables)
    writer.dispose()
    monkeypatch.delenv("SOCLE_CONFIG", raising=False)
    monkeypatch.setenv("SOCLE_DATABASE_URL", url)
    monkeypatch.setenv("SOCLE_APP_STORE_URL", store_url)
    return store


def test_cli_create_disable_enable_list(cli_env, capsys, monkeypatch):
    assert main(["create", "omar", "--role", "officer", "--area", "PK602,PK601"]) == 0
    out = capsys.readouterr().out
    assert "created officer `omar` seeing PK601, PK602" in out
    password = out.split("password (shown once): ")[1].strip()
    authenticate(cli_env, "omar", password, now=T0)

    monkeypatch.setattr("sys.stdin", io.StringIO("typed in password\n"))
    assert main(["create", "dina", "--role", "donor", "--password-stdin"]) == 0
    out = capsys.readouterr().out
    assert "seeing the whole registry" in out and "shown once" not in out
    authenticate(cli_env, "dina", "typed in password", now=T0)

    assert main(["disable", "omar"]) == 0
    assert "user `omar` disabled" in capsys.readouterr().out
    with pytest.raises(AuthError, match="disabled"):
        authenticate(cli_env, "omar", password, now=T0)
    assert main(["list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split() == ["username", "role", "status", "password", "areas"]
    assert listing[1].split()[:4] == ["dina", "donor", "active", "set"]
    assert listing[2].split()[:4] == ["omar", "officer", "disabled", "set"]
    assert main(["enable", "omar"]) == 0
    authenticate(cli_env, "omar", password, now=T0)

    assert main(["update", "omar", "--role", "chair", "--area", "PK601"]) == 0
    assert users.get_user(cli_env, "omar").context == UserContext("chair", ("PK601",), "omar")
    assert main(["set-password", "omar"]) == 0
    new = capsys.readouterr().out.split("password (shown once): ")[1].strip()
    authenticate(cli_env, "omar", new, now=T0)
    actors = set(audit_rows(cli_env, context=ADMIN, action="user_change")["username"])
    assert len(actors) == 1 and actors.pop().startswith("cli")


CLI_ERRORS = [
    (["create", "ali", "--role", "mayor", "--area", "PK601"], 1, "unknown role `mayor`"),
    (["create", "ali", "--role", "officer", "--area", "PK999"], 1, "unknown area `PK999`"),
    (["create", "ali", "--role", "officer"], 1, "needs one or more areas"),
    (["disable", "nobody"], 1, "no user `nobody`"),
    (["set-password", "nobody"], 1, "no user `nobody`"),
    (["create", "ali"], 2, "--role"),
    (["frobnicate"], 2, "invalid choice"),
]


def test_cli_errors_are_one_line_with_an_exit_code(cli_env, capsys):
    for argv, code, message in CLI_ERRORS:
        assert main(argv) == code, argv
        err = capsys.readouterr().err
        assert err.startswith("python -m data_access.users: error: ")
        assert len(err.strip().splitlines()) == 1
        assert message in err, err
    assert main(["create", "ali", "--role", "donor"]) == 0
    assert main(["create", "ALI", "--role", "donor"]) == 1
    assert "user `ali` already exists" in capsys.readouterr().err


# The demo ------------------------------------------------------------------------------------

def test_demo_accounts_one_per_role(cli_env, capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "shown only now" in out
    assert "Peshawar (PK601)" in out and "Nowshera (PK602)" in out
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert set(lines) == {"admin", "chair", "officer", "donor"}
    contexts = {}
    for role, words in lines.items():
        username, password = words[2], words[4]
        contexts[role] = authenticate(cli_env, username, password, now=T0).context
    assert contexts["admin"].areas == () and contexts["donor"].areas == ()
    assert contexts["chair"].areas == ("PK601",)
    assert contexts["officer"].areas == ("PK602",)
    assert {c.role for c in contexts.values()} == {"admin", "chair", "officer", "donor"}
    # Again: the same accounts with new passwords; the old ones no longer work.
    assert main(["demo"]) == 0
    capsys.readouterr()
    with pytest.raises(AuthError):
        authenticate(cli_env, lines["chair"][2], lines["chair"][4], now=T0)
    assert len(users.list_users(cli_env)) == 4


def test_demo_accounts_on_areas_without_peshawar(store: sa.Engine):
    areas = pd.DataFrame({"area_id": ["P1", "D2", "D1", "U11"], "name": ["P", "B", "A", "U"],
                          "level": [1, 2, 2, 3], "parent_id": [None, "P1", "P1", "D1"]})
    accounts = demo_accounts(store, areas, now=T0)
    assert [(a.role, a.areas) for a in accounts] == [
        ("admin", ()), ("chair", ("D1",)), ("officer", ("D2",)), ("donor", ())]
    assert len({a.password for a in accounts}) == 4
