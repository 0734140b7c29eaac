"""Local accounts: passwords hashed with argon2, lock-out, sessions that expire. And their CLI.

An account has a username, a role (``admin``, ``chair``, ``officer``, ``donor``; see
data_access.context) and the areas it may see: one or more area ids, each covering the
areas below it; none means the whole registry (allowed for admins and donors only —
chairs and officers are always scoped). :func:`User.context` is the UserContext that
data_access filters by.

- **Passwords** are hashed with argon2id (``argon2-cffi``, RFC 9106's low-memory profile:
  3 passes over 64 MiB); only the hash is stored. A hash made with weaker parameters is
  replaced on the next sign-in. An account without a password (NULL hash) cannot sign in
  locally: it is for sign-in through the organisation's identity provider.
- **Lock-out**: after ``auth.max_failures`` failed sign-ins within ``auth.lockout_minutes``
  the name is locked for ``auth.lockout_minutes`` from the last of them. Attempts while
  locked are refused without checking the password and do not extend the lock. Failures
  are counted by the name typed, known or not, so a locked name tells nothing about
  whether the account exists; an unknown name costs the same argon2 verification as a
  known one. A successful sign-in clears the count.
- **Sessions**: :func:`authenticate` returns a :class:`Session` with a random token
  (``secrets.token_urlsafe(32)``); the store keeps only its SHA-256. A session lasts
  ``auth.session_minutes`` from sign-in; :func:`resume_session` refuses an expired, ended
  or unknown token and re-reads the account (a disabled account or a changed role or area
  takes effect at once). :func:`sign_out` ends it. :func:`start_session` opens one for a
  user signed in by the identity provider (st.login), whose role and areas come from the
  local account of that name (an email address, say).
- **Audit**: every sign-in, failed sign-in, sign-out and change of an account is written
  to the audit log (data_access.audit) in the same transaction as the change.

Command line (from the repository root; the app store and the registry of config.toml)::

    python -m data_access.users create USERNAME --role officer --area PK602 [--password-stdin]
    python -m data_access.users create chair@kp.gov.pk --role chair --area PK601 --no-password
    python -m data_access.users update USERNAME [--role chair] [--area PK601 ... | --all-areas]
    python -m data_access.users disable USERNAME        # and ends its sessions
    python -m data_access.users enable USERNAME
    python -m data_access.users set-password USERNAME [--password-stdin]
    python -m data_access.users list
    python -m data_access.users demo                    # one account per role, passwords printed

Without ``--password-stdin`` a random password is generated and printed once. Areas are
checked against the registry's area table. Exit codes: 0 done, 1 refused (unknown role,
area or user, a name already taken, a short password), 2 bad arguments or an unreachable
configuration, app store or registry.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import re
import secrets
import sys
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import pandas as pd
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

from core.i18n import N_
from data_access import audit
from data_access.context import ROLES, UserContext
from data_access.snapshots import as_naive_utc, utcnow

PROG = "python -m data_access.users"
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,99}$")
MIN_PASSWORD_LENGTH = 10
MIN_PASSWORD_SCORE = 3  # zxcvbn: 3 is "safely unguessable" (about 10^8 guesses and more)
PASSWORD_CHECK_LENGTH = 200  # zxcvbn's time grows with length: the rest adds strength only
# Roles that must be scoped to one or more areas; the others may see the whole registry.
SCOPED_ROLES: frozenset[str] = frozenset({"chair", "officer"})

# argon2id with argon2-cffi's default parameters (RFC 9106 low-memory profile). Tests may
# swap in a cheaper hasher; hashes made with other parameters are upgraded on sign-in.
HASHER = PasswordHasher()

metadata = sa.MetaData()

# The tables of migration 0004 (data_access/migrations/versions/0004_users_audit.py).
users = sa.Table(
    "users", metadata,
    sa.Column("username", sa.String(100), primary_key=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("password_hash", sa.Text),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("password_changed_at", sa.DateTime),
    sa.Column("language", sa.String(16)),  # migration 0005: the interface language chosen
)
user_areas = sa.Table(
    "user_areas", metadata,
    sa.Column("username", sa.String(100), sa.ForeignKey("users.username"), primary_key=True),
    sa.Column("area_id", sa.String(100), primary_key=True),
)
sessions = sa.Table(
    "sessions", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(100), sa.ForeignKey("users.username"), nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("ended_at", sa.DateTime),
    # SHA-256 of the key of the browser the session was opened in (migration 0006).
    sa.Column("browser_hash", sa.String(64)),
)
login_failures = sa.Table(
    "login_failures", metadata,
    sa.Column("failure_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
              primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
)


class UserError(ValueError):
    """A refused change of accounts: unknown role, area or user, a taken name, a weak password."""


class AuthError(Exception):
    """A refused sign-in or session. ``reason``: invalid, locked, disabled, expired, no_session,
    replayed.

    The message is fit to show the person signing in (it never says whether a name exists).
    """

    def __init__(self, reason: str, message: str, *, locked_until: dt.datetime | None = None):
        super().__init__(message)
        self.reason = reason
        self.locked_until = locked_until


@dataclass(frozen=True)
class AuthPolicy:
    """Lock-out and session lifetime: the ``[auth]`` settings."""

    max_failures: int = 5
    lockout_minutes: int = 15
    session_minutes: int = 480
    unknown_name_failures: int = 100  # recorded per lock-out window for unknown names

    @classmethod
    def from_settings(cls, settings) -> AuthPolicy:
        return cls(max_failures=int(settings["auth.max_failures"]),
                   lockout_minutes=int(settings["auth.lockout_minutes"]),
                   session_minutes=int(settings["auth.session_minutes"]),
                   unknown_name_failures=int(settings["auth.unknown_name_failures"]))

    @property
    def lockout(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.lockout_minutes)

    @property
    def session(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.session_minutes)


@dataclass(frozen=True)
class User:
    username: str
    role: str
    areas: tuple[str, ...]
    disabled: bool
    has_password: bool
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    language: str | None = None  # the interface language the user chose (None: the default)

    @property
    def context(self) -> UserContext:
        return UserContext(role=self.role, areas=self.areas, username=self.username)


@dataclass(frozen=True)
class Session:
    """A signed-in session. ``token`` is what the browser keeps; the store has its hash only."""

    token: str
    username: str
    context: UserContext
    started_at: dt.datetime
    expires_at: dt.datetime
    language: str | None = None  # the account's interface language, restored at sign-in


class DemoAccount(NamedTuple):
    username: str
    password: str
    role: str
    areas: tuple[str, ...]


# Names, roles, areas, passwords -----------------------------------------------------------

def normalise_username(username: str) -> str:
    """A username as stored: trimmed, lower case. UserError when it is not a valid name."""
    name = str(username).strip().lower()
    if not USERNAME_PATTERN.match(name):
        raise UserError(N_("`{username}` is not a valid username: 1 to 100 letters, digits "
                           "and ._@+- (starting with a letter or digit)", username=username))
    return name


def _check_role(role: str) -> str:
    name = str(role).strip().lower()
    if name not in ROLES:
        raise UserError(N_("unknown role `{role}` (roles: {roles})", role=role,
                           roles=", ".join(ROLES)))
    return name


NEEDS_AREAS = {"chair": N_("a chair needs one or more areas (--area AREA_ID)"),
               "officer": N_("an officer needs one or more areas (--area AREA_ID)")}


def _check_areas(role: str, areas: Iterable[str], known_areas: Collection[str] | None
                 ) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(a.strip() for a in areas if a and a.strip()))
    if known_areas is not None:
        unknown = [a for a in wanted if a not in known_areas]
        if unknown:
            names = ", ".join(f"`{a}`" for a in unknown)
            raise UserError(
                N_("unknown areas {areas}: not in the registry's area table", areas=names)
                if len(unknown) > 1 else
                N_("unknown area {areas}: not in the registry's area table", areas=names))
    if role in SCOPED_ROLES and not wanted:
        raise UserError(NEEDS_AREAS.get(role) or N_("the {role} role needs one or more areas "
                                                    "(--area AREA_ID)", role=role))
    return wanted


def _check_password(password: str, username: str = "") -> None:
    """UserError for a short password or one easy to guess: zxcvbn (Dropbox's estimator:
    common passwords, words and names, keyboard walks, repeats, sequences, dates, l33t)
    scores it below :data:`MIN_PASSWORD_SCORE`, the account's own name counted as known."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(N_("a password needs at least {count} characters",
                           count=MIN_PASSWORD_LENGTH))
    guess = zxcvbn(password, user_inputs=[username, *username.replace("@", ".").split("."),
                                          "socle", *ROLES], max_length=PASSWORD_CHECK_LENGTH)
    if guess["score"] < MIN_PASSWORD_SCORE:
        raise UserError(N_("this password is too easy to guess (a common password, a word or "
                           "name, a keyboard pattern, a repeat or the account's name): use "
                           "three or four unrelated words, or let Socle generate one"))


def generate_password() -> str:
    """A random password of about 96 bits, easy to type: four groups of letters and digits."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now(now: dt.datetime | None) -> dt.datetime:
    return utcnow() if now is None else as_naive_utc(now)


def _actor_name(actor: audit.Actor) -> str:
    return actor.username if isinstance(actor, UserContext) else str(actor)


# Reading accounts ------------------------------------------------------------------------

def _areas_of(conn: sa.Connection, names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {name: [] for name in names}
    if names:
        rows = conn.execute(sa.select(user_areas.c.username, user_areas.c.area_id)
                            .where(user_areas.c.username.in_(list(names)))
                            .order_by(user_areas.c.username, user_areas.c.area_id))
        for name, area_id in rows:
            found[name].append(area_id)
    return {name: tuple(areas) for name, areas in found.items()}


def _user(row, areas: tuple[str, ...]) -> User:
    return User(username=row.username, role=row.role, areas=areas, disabled=bool(row.disabled),
                has_password=row.password_hash is not None, created_at=row.created_at,
                created_by=row.created_by, updated_at=row.updated_at, language=row.language)


def _get(conn: sa.Connection, username: str) -> User | None:
    row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    if row is None:
        return None
    return _user(row, _areas_of(conn, [username])[username])


def get_user(store: sa.Engine, username: str) -> User | None:
    """The account of that name (any case), or None."""
    try:
        name = normalise_username(username)
    except UserError:
        return None
    with store.connect() as conn:
        return _get(conn, name)


def list_users(store: sa.Engine) -> list[User]:
    """Every account, by name."""
    with store.connect() as conn:
        rows = conn.execute(sa.select(users).order_by(users.c.username)).all()
        areas = _areas_of(conn, [r.username for r in rows])
    return [_user(row, areas[row.username]) for row in rows]


def users_frame(store: sa.Engine) -> pd.DataFrame:
    """Every account as a table (no hashes): username, role, areas, status, created_at…"""
    rows = [{"username": u.username, "role": u.role, "areas": ", ".join(u.areas) or N_("(all)"),
             "status": N_("disabled") if u.disabled else N_("active"),
             "password": N_("set") if u.has_password else N_("none"),
             "created_at": u.created_at, "created_by": u.created_by, "updated_at": u.updated_at}
            for u in list_users(store)]
    return pd.DataFrame(rows, columns=["username", "role", "areas", "status", "password",
                                       "created_at", "created_by", "updated_at"])


def _require(conn: sa.Connection, username: str) -> User:
    user = _get(conn, username)
    if user is None:
        raise UserError(N_("no user `{username}`", username=username))
    return user


# Changing accounts (each audited as user_change, in the same transaction) ------------------

def create_user(store: sa.Engine, username: str, role: str, areas: Iterable[str] = (), *,
                password: str | None, known_areas: Collection[str] | None = None,
                actor: audit.Actor = "", now: dt.datetime | None = None) -> User:
    """Create an account; UserError for a bad or taken name, role, area or password.

    ``password`` None creates an account that cannot sign in locally (identity provider).
    ``known_areas``: the registry's area ids, to refuse unknown ones (None: not checked).
    """
    name = normalise_username(username)
    role = _check_role(role)
    scope = _check_areas(role, areas, known_areas)
    if password is not None:
        _check_password(password, name)
    moment = _now(now)
    hashed = HASHER.hash(password) if password is not None else None
    with store.begin() as conn:
        if _get(conn, name) is not None:
            raise UserError(N_("user `{username}` already exists", username=name))
        conn.execute(users.insert().values(
            username=name, role=role, password_hash=hashed, disabled=False, created_at=moment,
            created_by=_actor_name(actor), updated_at=moment,
            password_changed_at=moment if hashed else None))
        if scope:
            conn.execute(user_areas.insert(), [{"username": name, "area_id": a} for a in scope])
        audit.record(conn, actor, "user_change",
                     f"created user {name} (role {role}, areas {', '.join(scope) or 'all'})",
                     {"username": name, "role": role, "areas": list(scope),
                      "change": "create"}, now=moment)
        return _require(conn, name)


def update_user(store: sa.Engine, username: str, *, role: str | None = None,
                areas: Iterable[str] | None = None, known_areas: Collection[str] | None = None,
                actor: audit.Actor = "", now: dt.datetime | None = None) -> User:
    """Change an account's role and/or areas (areas given replace the old ones)."""
    name = normalise_username(username)
    moment = _now(now)
    with store.begin() as conn:
        user = _require(conn, name)
        new_role = _check_role(role) if role is not None else user.role
        new_areas = _check_areas(new_role, user.areas if areas is None else areas, known_areas)
        conn.execute(users.update().where(users.c.username == name)
                     .values(role=new_role, updated_at=moment))
        conn.execute(user_areas.delete().where(user_areas.c.username == name))
        if new_areas:
            conn.execute(user_areas.insert(),
                         [{"username": name, "area_id": a} for a in new_areas])
        audit.record(conn, actor, "user_change",
                     f"changed user {name}: role {user.role} -> {new_role}, areas "
                     f"{', '.join(user.areas) or 'all'} -> {', '.join(new_areas) or 'all'}",
                     {"username": name, "role": new_role, "areas": list(new_areas),
                      "change": "update"}, now=moment)
        return _require(conn, name)


def set_password(store: sa.Engine, username: str, password: str, *, actor: audit.Actor = "",
                 now: dt.datetime | None = None) -> None:
    """Set a new password (the failed sign-ins of the name are cleared: an admin's unlock)."""
    name = normalise_username(username)
    _check_password(password, name)
    moment = _now(now)
    hashed = HASHER.hash(password)
    with store.begin() as conn:
        _require(conn, name)
        conn.execute(users.update().where(users.c.username == name)
                     .values(password_hash=hashed, password_changed_at=moment,
                             updated_at=moment))
        conn.execute(login_failures.delete().where(login_failures.c.username == name))
        audit.record(conn, actor, "user_change", f"set the password of user {name}",
                     {"username": name, "change": "set_password"}, now=moment)


def set_disabled(store: sa.Engine, username: str, disabled: bool, *,
                 actor: audit.Actor = "", now: dt.datetime | None = None) -> User:
    """Disable (and end every session of) or enable an account."""
    name = normalise_username(username)
    moment = _now(now)
    with store.begin() as conn:
        _require(conn, name)
        conn.execute(users.update().where(users.c.username == name)
                     .values(disabled=bool(disabled), updated_at=moment))
        if disabled:
            conn.execute(sessions.update()
                         .where(sessions.c.username == name, sessions.c.ended_at.is_(None))
                         .values(ended_at=moment))
        change = "disable" if disabled else "enable"
        audit.record(conn, actor, "user_change", f"{change}d user {name}",
                     {"username": name, "change": change}, now=moment)
        return _require(conn, name)


# Signing in --------------------------------------------------------------------------------

_DUMMY_HASH: dict[str, str] = {}


def _verify(password_hash: str | None, password: str) -> bool:
    """argon2 verification; an unknown name or an account without password costs the same."""
    if password_hash is None:
        key = str(id(HASHER))
        if key not in _DUMMY_HASH:
            _DUMMY_HASH[key] = HASHER.hash(secrets.token_urlsafe(16))
        password_hash = _DUMMY_HASH[key]
        try:
            HASHER.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            pass
        return False
    try:
        return HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def locked_until(store: sa.Engine | sa.Connection, username: str, *, now: dt.datetime | None = None,
                 policy: AuthPolicy = AuthPolicy()) -> dt.datetime | None:
    """When the name's lock-out ends, or None if it is not locked."""
    moment = _now(now)
    name = str(username).strip().lower()[:100]
    query = (sa.select(login_failures.c.at)
             .where(login_failures.c.username == name,
                    login_failures.c.at > moment - 2 * policy.lockout,
                    login_failures.c.at <= moment)
             .order_by(login_failures.c.at.desc()))
    if isinstance(store, sa.Connection):
        times = [r[0] for r in store.execute(query)]
    else:
        with store.connect() as conn:
            times = [r[0] for r in conn.execute(query)]
    if not times:
        return None
    last = times[0]
    # Attempts while locked are not recorded, so only the latest failure can start a lock.
    burst = [t for t in times if t > last - policy.lockout]
    until = last + policy.lockout
    return until if len(burst) >= policy.max_failures and moment < until else None


def _new_session(conn: sa.Connection, user: User, moment: dt.datetime, policy: AuthPolicy,
                 browser: str | None = None) -> Session:
    token = secrets.token_urlsafe(32)
    expires = moment + policy.session
    conn.execute(sessions.insert().values(
        token_hash=_token_hash(token), username=user.username, started_at=moment,
        expires_at=expires, browser_hash=None if browser is None else _token_hash(browser)))
    return Session(token=token, username=user.username, context=user.context,
                   started_at=moment, expires_at=expires, language=user.language)


INVALID = N_("Wrong username or password.")


# pg_advisory_xact_lock key serialising the counting of sign-in attempts (PostgreSQL).
_SIGN_IN_LOCK_KEY = 0x50C1E17


@contextmanager
def _one_attempt_at_a_time(store: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction no other sign-in attempt's counting runs beside, so that two parallel
    attempts cannot both read "four failures" and both go on to check a password.

    SQLite: ``BEGIN IMMEDIATE`` takes the write lock before the count is read (a deferred
    transaction would only take it at the insert, after both had counted). PostgreSQL: a
    transaction-level advisory lock (a row lock needs a row, and an unknown name has none).
    Held for a count and an insert only: the password is checked after it is released.
    """
    with store.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                         {"key": _SIGN_IN_LOCK_KEY})
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def _unknown_name_failures(conn: sa.Connection, moment: dt.datetime, policy: AuthPolicy) -> int:
    """Failed sign-ins recorded within the lock-out window for names that are no account."""
    known = sa.select(users.c.username).where(users.c.username == login_failures.c.username)
    return int(conn.execute(
        sa.select(sa.func.count()).select_from(login_failures)
        .where(login_failures.c.at > moment - policy.lockout, login_failures.c.at <= moment,
               ~sa.exists(known))).scalar_one())


def _limit_recorded(conn: sa.Connection, moment: dt.datetime, policy: AuthPolicy) -> bool:
    """Whether the budget's "no longer recorded" row is already in the audit log."""
    return conn.execute(
        sa.select(audit.audit_log.c.id)
        .where(audit.audit_log.c.action == "sign_in_failed",
               audit.audit_log.c.at > moment - policy.lockout,
               audit.audit_log.c.filters.like('%"reason": "unknown_names_limited"%'))
        .limit(1)).first() is not None


def _claim_attempt(store: sa.Engine, name: str, now: dt.datetime | None, policy: AuthPolicy,
                   extra: dict) -> tuple[str, dt.datetime | None, dt.datetime]:
    """Count an attempt as a failure *before* its password is checked (a success removes
    the count again), atomically with the check of the lock-out: ("locked", until) for a
    locked name (audited, no password checked), ("counted", None), or ("unrecorded", None)
    for an unknown name once ``policy.unknown_name_failures`` of them were recorded within
    the window (refused as any unknown name, but neither counted nor audited one by one);
    with the attempt's time, taken once the lock is held (an earlier one would not see the
    failures counted while it waited)."""
    with _one_attempt_at_a_time(store) as conn:
        moment = _now(now)
        until = locked_until(conn, name, now=moment, policy=policy)
        if until is not None:
            audit.record(conn, name, "sign_in_failed",
                         f"sign-in refused: locked until {until:%Y-%m-%d %H:%M} UTC",
                         {**extra, "reason": "locked"}, now=moment)
            return "locked", until, moment
        known = conn.execute(sa.select(users.c.username)
                             .where(users.c.username == name)).first() is not None
        if not known and _unknown_name_failures(conn, moment, policy) >= \
                policy.unknown_name_failures:
            if not _limit_recorded(conn, moment, policy):
                audit.record(conn, "(unknown names)", "sign_in_failed",
                             f"{policy.unknown_name_failures} failed sign-ins for unknown "
                             f"names within {policy.lockout_minutes} minutes: further ones "
                             "are refused without being recorded one by one",
                             {**extra, "reason": "unknown_names_limited"}, now=moment)
            return "unrecorded", None, moment
        conn.execute(login_failures.insert().values(username=name, at=moment))
        return "counted", None, moment


def authenticate(store: sa.Engine, username: str, password: str, *,
                 now: dt.datetime | None = None, policy: AuthPolicy = AuthPolicy(),
                 filters: dict | None = None, browser: str | None = None) -> Session:
    """Sign in with a local password: a new Session, or AuthError (audited either way).

    ``filters`` (e.g. the client's address) go to the audit row as they are. ``browser``:
    the browser's key (the HTTP-only cookie of ui.http_guard), the session is bound to it
    (:func:`resume_session`); None where no browser is involved (tools, tests).

    The attempt is counted before the password is checked (:func:`_claim_attempt`), so
    parallel attempts cannot check more passwords than ``policy.max_failures``.
    """
    typed = str(username).strip().lower()[:100]
    extra = dict(filters or {})
    claim, until, moment = _claim_attempt(store, typed, now, policy, extra)
    if claim == "locked":
        raise AuthError("locked", N_("Too many failed sign-ins: try again after {time} UTC.",
                                     time=f"{until:%H:%M}"),
                        locked_until=until)
    with store.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == typed)).first()
    # argon2 takes a good fraction of a second: outside any transaction. An unknown name
    # costs the same (no answer comes faster for it).
    ok = _verify(row.password_hash if row is not None else None, password)
    rehashed = HASHER.hash(password) if ok and HASHER.check_needs_rehash(row.password_hash) \
        else None
    error: AuthError | None = None
    session: Session | None = None
    if claim == "unrecorded":
        raise AuthError("invalid", INVALID)
    with store.begin() as conn:
        if not ok:
            # The failure was counted by the claim.
            reason = "unknown_user" if row is None else (
                "no_password" if row.password_hash is None else "wrong_password")
            audit.record(conn, typed, "sign_in_failed",
                         f"sign-in failed ({reason.replace('_', ' ')})",
                         {**extra, "reason": reason}, now=moment)
            now_locked = locked_until(conn, typed, now=moment, policy=policy)
            error = AuthError("invalid", INVALID, locked_until=now_locked)
        elif row.disabled:
            audit.record(conn, typed, "sign_in_failed", "sign-in refused: account disabled",
                         {**extra, "reason": "disabled"}, now=moment)
            error = AuthError("disabled", N_("This account is disabled: ask an administrator."))
        else:
            if rehashed is not None:
                conn.execute(users.update().where(users.c.username == typed)
                             .values(password_hash=rehashed))
            conn.execute(login_failures.delete().where(login_failures.c.username == typed))
            user = _user(row, _areas_of(conn, [typed])[typed])
            session = _new_session(conn, user, moment, policy, browser)
            audit.record(conn, user.context, "sign_in", "signed in",
                         {**extra, "areas": list(user.areas)}, now=moment)
    if error is not None:
        raise error
    assert session is not None
    return session


def start_session(store: sa.Engine, username: str, *, now: dt.datetime | None = None,
                  policy: AuthPolicy = AuthPolicy(), via: str = "oidc",
                  filters: dict | None = None, browser: str | None = None) -> Session:
    """A session for a user the identity provider has signed in (st.login): no password.

    The name must be a local, enabled account (its role and areas come from here); AuthError
    otherwise. Audited as a sign-in ``via`` the provider.
    """
    moment = _now(now)
    typed = str(username).strip().lower()[:100]
    extra = {**(filters or {}), "via": via}
    error: AuthError | None = None
    session: Session | None = None
    with store.begin() as conn:
        user = _get(conn, typed)
        if user is None or user.disabled:
            reason = "unknown_user" if user is None else "disabled"
            audit.record(conn, typed, "sign_in_failed", f"{via} sign-in refused ({reason})",
                         {**extra, "reason": reason}, now=moment)
            error = AuthError("disabled" if user else "invalid",
                              N_("This account is not allowed to use Socle: ask an "
                                 "administrator."))
        else:
            session = _new_session(conn, user, moment, policy, browser)
            audit.record(conn, user.context, "sign_in", f"signed in via {via}",
                         {**extra, "areas": list(user.areas)}, now=moment)
    if error is not None:
        raise error
    assert session is not None
    return session


def resume_session(store: sa.Engine, token: str, now: dt.datetime | None = None, *,
                   browser: str | None = None, filters: dict | None = None) -> Session:
    """The session of a token, with the account's current role and areas; AuthError if it is
    unknown, ended, expired, or its account is disabled.

    ``browser``: the key of the browser presenting it (None where no browser is involved).
    A session is bound to the browser it was opened in: another key (or none) ends it and
    is audited as a refused sign-in (reason ``session_replay``, with ``filters``): its
    token or its Streamlit session reached another browser.
    """
    moment = _now(now)
    with store.connect() as conn:
        row = conn.execute(sa.select(sessions)
                           .where(sessions.c.token_hash == _token_hash(str(token)))).first()
        if row is None:
            raise AuthError("no_session", N_("Please sign in."))
        user = _get(conn, row.username)
    # A disabled account is said so first (disabling it also ended the session).
    if user is None or user.disabled:
        raise AuthError("disabled", N_("This account is disabled: ask an administrator."))
    if row.ended_at is not None:
        raise AuthError("no_session", N_("Please sign in."))
    if row.browser_hash != (None if browser is None else _token_hash(browser)):
        with store.begin() as conn:
            conn.execute(sessions.update().where(sessions.c.token_hash == row.token_hash)
                         .values(ended_at=moment))
            audit.record(conn, user.context, "sign_in_failed",
                         "session refused: presented by another browser than the one it was "
                         "opened in (the session is ended)",
                         {**(filters or {}), "reason": "session_replay"}, now=moment)
        raise AuthError("replayed", N_("This session was opened in another browser, so it "
                                       "has been ended: please sign in again."))
    if moment >= row.expires_at:
        raise AuthError("expired", N_("Your session has expired: please sign in again."))
    return Session(token=str(token), username=user.username, context=user.context,
                   started_at=row.started_at, expires_at=row.expires_at, language=user.language)


def set_language(store: sa.Engine, username: str, language: str | None) -> None:
    """Keep the interface language a user chose with the account (None: back to the default).

    A preference of the user's own, not a change of the account: not audited, and the
    account's ``updated_at`` stays as it was.
    """
    with store.begin() as conn:
        conn.execute(users.update().where(users.c.username == username)
                     .values(language=language))


def sign_out(store: sa.Engine, token: str, *, now: dt.datetime | None = None) -> None:
    """End a session (audited); an unknown or ended token is ignored."""
    moment = _now(now)
    with store.begin() as conn:
        row = conn.execute(sa.select(sessions)
                           .where(sessions.c.token_hash == _token_hash(str(token)),
                                  sessions.c.ended_at.is_(None))).first()
        if row is None:
            return
        conn.execute(sessions.update().where(sessions.c.token_hash == row.token_hash)
                     .values(ended_at=moment))
        user = _get(conn, row.username)
        who = user.context if user is not None else row.username
        audit.record(conn, who, "sign_out", "signed out", {}, now=moment)


# The demo -----------------------------------------------------------------------------------

DISTRICT_LEVEL = 2


def demo_districts(areas: pd.DataFrame) -> tuple[str | None, str | None]:
    """(chair's district, officer's district): Peshawar and Nowshera when the registry has them
    (the demo's PK601 and PK602), else the first two districts by id."""
    districts = areas[areas["level"].astype("Int64") == DISTRICT_LEVEL].sort_values("area_id")
    if districts.empty:
        lowest = areas.sort_values(["level", "area_id"])
        districts = lowest[lowest["level"] == lowest["level"].max()] if not lowest.empty else lowest
    by_name = {str(n).lower(): str(a) for a, n in zip(districts["area_id"], districts["name"],
                                                      strict=True)}
    ids = [str(a) for a in districts["area_id"]]
    chair = by_name.get("peshawar") or (ids[0] if ids else None)
    officer = by_name.get("nowshera") or next((a for a in ids if a != chair), chair)
    return chair, officer


def demo_accounts(store: sa.Engine, areas_frame: pd.DataFrame, *,
                  now: dt.datetime | None = None, actor: audit.Actor = "demo") -> list[DemoAccount]:
    """One account per role for the demo, with new random passwords (returned once).

    ``areas_frame``: the registry's areas (area_id, name, level, parent_id). The chair sees
    one district (Peshawar in the demo), the officer another (Nowshera), the admin and the
    donor the whole registry. Running it again resets these accounts (new passwords,
    enabled, same role and areas); other accounts are left alone.
    """
    chair_area, officer_area = demo_districts(areas_frame)
    if chair_area is None or officer_area is None:
        raise UserError("the registry has no areas to scope the demo's chair and officer to")
    wanted = [
        ("admin", "admin", ()),
        ("chair", "chair", (chair_area,)),
        ("officer", "officer", (officer_area,)),
        ("donor", "donor", ()),
    ]
    accounts: list[DemoAccount] = []
    for username, role, areas in wanted:
        password = generate_password()
        if get_user(store, username) is None:
            create_user(store, username, role, areas, password=password, actor=actor, now=now)
        else:
            update_user(store, username, role=role, areas=areas, actor=actor, now=now)
            set_password(store, username, password, actor=actor, now=now)
            set_disabled(store, username, False, actor=actor, now=now)
        accounts.append(DemoAccount(username, password, role, tuple(areas)))
    return accounts


def demo_text(accounts: Sequence[DemoAccount], names: dict[str, str] | None = None) -> str:
    """How to sign in to the demo, one line per account (printed once: passwords are not kept)."""
    names = names or {}
    lines = ["Demo accounts (sign in with one; the passwords are shown only now):"]
    for account in accounts:
        scope = ", ".join(f"{names.get(a, a)} ({a})" for a in account.areas) or "whole registry"
        lines.append(f"  {account.role:<8} username {account.username:<8} "
                     f"password {account.password}   sees: {scope}")
    return "\n".join(lines)


# Command line ------------------------------------------------------------------------------

def parser():
    from core.cli import Parser

    p = Parser(prog=PROG, description="Manage Socle's local user accounts.")
    p.add_argument("--config", help="configuration file (default: config.toml, or SOCLE_CONFIG)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    def area_arg(cmd, required_help: str) -> None:
        cmd.add_argument("--area", action="append", default=None, metavar="AREA_ID",
                         help=f"an area the user may see, with the areas below it (repeat, or "
                              f"comma-separate); {required_help}")

    create = sub.add_parser("create", help="create an account")
    create.add_argument("username")
    create.add_argument("--role", required=True, help=f"one of {', '.join(ROLES)}")
    area_arg(create, "needed for chair and officer, none for the whole registry")
    create.add_argument("--password-stdin", action="store_true",
                        help="read the password from standard input (default: generate one)")
    create.add_argument("--no-password", action="store_true",
                        help="no local password: the account signs in through the identity "
                             "provider only")
    update = sub.add_parser("update", help="change an account's role or areas")
    update.add_argument("username")
    update.add_argument("--role", help=f"one of {', '.join(ROLES)}")
    area_arg(update, "replace the account's areas")
    update.add_argument("--all-areas", action="store_true",
                        help="remove the areas: the whole registry (admin and donor only)")
    for name, text in (("disable", "disable an account and end its sessions"),
                       ("enable", "enable a disabled account")):
        sub.add_parser(name, help=text).add_argument("username")
    password = sub.add_parser("set-password", help="set a new password (and clear a lock-out)")
    password.add_argument("username")
    password.add_argument("--password-stdin", action="store_true",
                          help="read the password from standard input (default: generate one)")
    sub.add_parser("list", help="list the accounts")
    sub.add_parser("demo", help="create or reset one account per role on the registry's areas "
                                "and print their passwords")
    return p


def _split_areas(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _read_password(from_stdin: bool) -> tuple[str, bool]:
    """(password, generated)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return generate_password(), True


def main(argv: list[str] | None = None) -> int:
    from core.cli import UsageError, database_problem, fail

    try:
        args = parser().parse_args(argv)
    except UsageError as exc:
        return fail(PROG, str(exc))

    from core.settings import SettingsError, load_settings
    from data_access.app_store import AppStoreError, open_app_store
    from data_access.registry import RegistryError, open_registry

    try:
        settings = load_settings(args.config, check_files=False)
    except SettingsError as exc:
        return fail(PROG, f"configuration: {exc}")
    try:
        actor = f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in the environment or the password database
        actor = "cli"
    areas_given = _split_areas(getattr(args, "area", None))
    store = registry = None
    try:
        store = open_app_store(settings.app_store_url)
        areas_frame = None
        if args.command == "demo" or areas_given:
            registry = open_registry(settings.database_url, check=False)
            with registry.connect() as conn:
                result = conn.execute(sa.text("SELECT area_id, name, level, parent_id FROM area"))
                areas_frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        known = set(areas_frame["area_id"].astype(str)) if areas_frame is not None else None
        if args.command == "create":
            if args.no_password and args.password_stdin:
                return fail(PROG, "--no-password and --password-stdin exclude each other")
            password, generated = (None, False) if args.no_password else _read_password(
                args.password_stdin)
            user = create_user(store, args.username, args.role, areas_given or (),
                               password=password, known_areas=known, actor=actor)
            print(f"created {user.role} `{user.username}` seeing "
                  f"{', '.join(user.areas) or 'the whole registry'}")
            if generated:
                print(f"password (shown once): {password}")
        elif args.command == "update":
            if args.all_areas and areas_given:
                return fail(PROG, "--all-areas and --area exclude each other")
            areas = () if args.all_areas else areas_given
            user = update_user(store, args.username, role=args.role, areas=areas,
                               known_areas=known, actor=actor)
            print(f"user `{user.username}`: {user.role} seeing "
                  f"{', '.join(user.areas) or 'the whole registry'}")
        elif args.command in ("disable", "enable"):
            user = set_disabled(store, args.username, args.command == "disable", actor=actor)
            print(f"user `{user.username}` {args.command}d")
        elif args.command == "set-password":
            password, generated = _read_password(args.password_stdin)
            set_password(store, args.username, password, actor=actor)
            print(f"password of `{normalise_username(args.username)}` set")
            if generated:
                print(f"password (shown once): {password}")
        elif args.command == "list":
            frame = users_frame(store)
            if frame.empty:
                print("no users")
            else:
                shown = frame[["username", "role", "status", "password", "areas"]]
                print(shown.to_string(index=False))
        elif args.command == "demo":
            accounts = demo_accounts(store, areas_frame, actor=actor)
            names = dict(zip(areas_frame["area_id"].astype(str), areas_frame["name"].astype(str),
                             strict=True))
            print(demo_text(accounts, names))
    except UserError as exc:
        return fail(PROG, str(exc), 1)
    except (AppStoreError, RegistryError) as exc:
        return fail(PROG, str(exc))
    except sa.exc.SQLAlchemyError as exc:
        return fail(PROG, database_problem(exc))
    finally:
        for engine in (store, registry):
            if engine is not None:
                engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
