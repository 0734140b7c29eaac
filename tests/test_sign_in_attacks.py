"""Attacks on sign-in (issue 17), on SQLite and PostgreSQL app stores.

- **Parallel guessing.** 23 wrong passwords sent at once, then the right one: the lock-out
  was counted after each argon2 check, so all 24 were checked and the right one accepted.
  Each attempt is now counted before its password is checked, atomically.
- **Trivial passwords.** Length was the only rule (``aaaaaaaaaa`` passed).
- **Unknown names.** Anyone could append a failed-sign-in audit row per made-up name, without
  end.
- **A session presented by another browser.**
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher, profiles

from data_access import users
from data_access.audit import audit_rows
from data_access.context import UserContext
from data_access.users import AuthError, AuthPolicy, UserError

PASSWORD = "correct horse battery"
ADMIN = UserContext("admin", username="ada")


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    monkeypatch.setattr(users, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture
def officer(store: sa.Engine) -> sa.Engine:
    users.create_user(store, "omar", "officer", ["PK602"], password=PASSWORD, actor=ADMIN)
    return store


def failed(store: sa.Engine) -> list[dict]:
    return list(audit_rows(store, context=ADMIN, action="sign_in_failed",
                           limit=None)["filters"])


def test_parallel_guesses_check_no_more_passwords_than_the_lock_out_allows(officer,
                                                                           monkeypatch):
    policy = AuthPolicy(max_failures=5, lockout_minutes=15)
    checked = []
    entered = threading.Semaphore(0)
    release = threading.Event()
    verify = users._verify

    def slow_verify(password_hash, password):
        # argon2 takes a good part of a second on a server: hold every check until all the
        # guesses are in, so that they overlap as they would there.
        checked.append(password)
        entered.release()
        release.wait(timeout=30)
        return verify(password_hash, password)

    monkeypatch.setattr(users, "_verify", slow_verify)

    def attempt(password: str):
        try:
            return users.authenticate(officer, "omar", password, policy=policy)
        except AuthError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=24) as pool:
        guesses = [pool.submit(attempt, f"wrong guess {i}") for i in range(23)]
        for _ in range(policy.max_failures):
            assert entered.acquire(timeout=30)
        time.sleep(1.0)  # the other guesses reach the check, or are refused
        right = pool.submit(attempt, PASSWORD)
        time.sleep(1.0)
        release.set()
        results = [g.result() for g in guesses] + [right.result()]
    assert len(checked) == policy.max_failures, f"{len(checked)} passwords checked"
    assert isinstance(results[-1], AuthError) and results[-1].reason == "locked"
    reasons = [f["reason"] for f in failed(officer)]
    assert reasons.count("wrong_password") == policy.max_failures
    assert reasons.count("locked") == 24 - policy.max_failures


@pytest.mark.parametrize("password", ["aaaaaaaaaa", "password123", "qwertyuiop", "1234567890",
                                      "omaromaromar", "Password2026!", "omar123456"])
def test_trivial_passwords_are_refused(store: sa.Engine, password: str):
    with pytest.raises(UserError, match="too easy to guess"):
        users.create_user(store, "omar", "officer", ["PK602"], password=password, actor=ADMIN)
    users.create_user(store, "omar", "officer", ["PK602"], password=PASSWORD, actor=ADMIN)
    with pytest.raises(UserError, match="too easy to guess"):
        users.set_password(store, "omar", password, actor=ADMIN)


def test_generated_passwords_pass_the_policy(store: sa.Engine):
    for i in range(20):
        users.create_user(store, f"user{i}", "donor", password=users.generate_password(),
                          actor=ADMIN)


def test_failed_sign_ins_for_unknown_names_are_recorded_up_to_a_budget(officer):
    policy = AuthPolicy(max_failures=5, lockout_minutes=15, unknown_name_failures=10)
    for i in range(30):
        with pytest.raises(AuthError, match="Wrong username or password") as caught:
            users.authenticate(officer, f"nobody{i}", "some guess", policy=policy)
        assert caught.value.reason == "invalid"
    rows = failed(officer)
    assert [f["reason"] for f in rows].count("unknown_user") == 10
    assert [f["reason"] for f in rows].count("unknown_names_limited") == 1
    assert len(rows) == 11
    with officer.connect() as conn:
        assert conn.execute(sa.select(sa.func.count())
                            .select_from(users.login_failures)).scalar_one() == 10
    # A real account is not affected: wrong and right passwords work as before.
    with pytest.raises(AuthError, match="Wrong username or password"):
        users.authenticate(officer, "omar", "not the password", policy=policy)
    assert users.authenticate(officer, "omar", PASSWORD, policy=policy).username == "omar"


def test_a_session_presented_by_another_browser_is_ended_and_audited(officer):
    session = users.authenticate(officer, "omar", PASSWORD, browser="browser-key-of-omar")
    assert users.resume_session(officer, session.token,
                                browser="browser-key-of-omar").username == "omar"
    for other in ("another-browser", None):
        with pytest.raises(AuthError) as caught:
            users.resume_session(officer, session.token, browser=other)
    assert caught.value.reason == "no_session"  # the first replay ended it
    with pytest.raises(AuthError):
        users.resume_session(officer, session.token, browser="browser-key-of-omar")
    replays = [f for f in failed(officer) if f["reason"] == "session_replay"]
    assert len(replays) == 1
    with officer.connect() as conn:
        stored = conn.execute(sa.select(users.sessions.c.browser_hash)).scalar_one()
    assert stored and "browser-key-of-omar" not in stored  # a hash, not the key
