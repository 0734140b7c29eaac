"""The one gateway to the registry database: opened read-only, checked against the contract.

Connections and threads. Streamlit runs every script run on a thread of its own, and a run
abandoned by a fast click keeps its query going while the next run starts, so many threads
read the registry at once. Each thread must have a connection of its own: the engines here
use a ``QueuePool`` (a connection is checked out by one thread at a time, and back in the
pool only when that thread is done with it). A SQLite registry is opened through a real
``sqlite:///file:...?mode=ro&uri=true`` URL: with a ``creator`` and no file in the URL,
SQLAlchemy picked ``SingletonThreadPool``, which keeps one connection per thread, at most
five, and from the sixth thread on closed a connection that another thread was still
reading ("Cannot operate on a closed database", then segmentation faults). The URL also
tells the registry's file without connecting (``registry_file``, ``registry_last_loaded``).

A run stopped mid-query (Streamlit's StopException and RerunException are BaseExceptions,
as are KeyboardInterrupt and SystemExit) leaves no connection behind in a bad state: the
transaction is rolled back when the connection is closed, and the connection is then
discarded (invalidated) rather than handed to the next thread (``_discard_interrupted``).

Code outside data_access never calls ``engine.connect()``: it reads through
:func:`connection`, so that how a connection is taken, and given back after an error or an
interruption, is decided in one place for every backend.

The registry file may go away, become unreadable or be truncated while the app runs:
``RegistryHandle`` notices (a ``stat`` per call, no connection), says which file and what is
wrong (``RegistryUnavailable``), and opens the file afresh once it is back.
"""

from __future__ import annotations

import datetime as dt
import logging
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import QueuePool

from core.settings import MEMORY_SIZE
from core.values import as_date
from data_access.schema import household, person, require_schema

log = logging.getLogger(__name__)

# Connections kept per registry engine; computations are queued below this (data_access.gate)
# so that the short reads of a page (areas, programmes) always find a connection.
DEFAULT_POOL_SIZE = 16
POOL_OVERFLOW = 4
POOL_TIMEOUT_SECONDS = 30
# SQLite page cache per connection (KiB, negative in the pragma): the demo's working set
# fits, a provincial registry's hot pages mostly do. Not mmap: a registry truncated while
# it is mapped would crash the process (SIGBUS) instead of failing a query.
SQLITE_CACHE_KIB = 32_768
SQLITE_HEADER = b"SQLite format 3\x00"


class RegistryError(RuntimeError):
    """The registry cannot be opened; the message names the URL or file."""


class RegistryUnavailable(RegistryError):
    """The registry's file is missing, unreadable or corrupt (``state``); names the file."""

    def __init__(self, path: Path, state: str, detail: str = "") -> None:
        self.path = path
        self.state = state  # "missing" | "unreadable" | "corrupt"
        self.detail = detail
        super().__init__(f"registry database file `{path}` is {state}"
                         + (f": {detail}" if detail else ""))


# Files ------------------------------------------------------------------------------------

def _url_file(parsed: URL) -> Path | None:
    """The file of a SQLite URL (plain path or ``file:`` URI) or of a DuckDB URL, or None for
    a server database."""
    if parsed.get_backend_name() not in ("sqlite", "duckdb") or not parsed.database:
        return None
    database = parsed.database
    if database == ":memory:" or parsed.query.get("mode") == "memory":
        return None
    if database.startswith("file:"):
        return Path(unquote(database[len("file:"):].split("?", 1)[0]))
    return Path(database)


def sqlite_path(url: str) -> Path | None:
    """The file behind a sqlite URL, or None for other databases."""
    parsed = make_url(url)
    return _url_file(parsed) if parsed.get_backend_name() == "sqlite" else None


def registry_file(engine: sa.Engine) -> Path | None:
    """The file of a SQLite or DuckDB registry engine, read from its URL (no connection);
    else None."""
    return _url_file(engine.url)


def _file_problem(engine: sa.Engine, error: BaseException) -> RegistryUnavailable | None:
    """What is wrong with a SQLite engine's file after ``error`` (None: nothing seen, or
    not SQLite: the header checks are SQLite's)."""
    path = registry_file(engine) if engine.dialect.name == "sqlite" else None
    return diagnose_file(path, error) if path is not None else None


def readonly_sqlite_url(path: Path) -> URL:
    """The URL that opens ``path`` read-only through SQLite's URI syntax."""
    return URL.create("sqlite", database=f"file:{quote(str(path.resolve()))}",
                      query={"mode": "ro", "uri": "true"})


def diagnose_file(path: Path, error: BaseException | None = None) -> RegistryUnavailable | None:
    """What is wrong with a SQLite registry file, if anything can be seen from outside.

    Missing (no file), unreadable (the process may not open it) or corrupt (not a SQLite
    file, shorter than its header says, or ``error`` is SQLite's word for a damaged file).
    Reads 100 bytes: cheap enough for every error path.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return RegistryUnavailable(path, "missing", "it does not exist")
    except OSError as exc:
        return RegistryUnavailable(path, "unreadable", exc.strerror or str(exc))
    if path.is_dir():
        return RegistryUnavailable(path, "unreadable", "it is a folder, not a file")
    try:
        with path.open("rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        return RegistryUnavailable(path, "unreadable", exc.strerror or str(exc))
    if len(header) < 100 or not header.startswith(SQLITE_HEADER):
        return RegistryUnavailable(path, "corrupt", f"not a SQLite database ({size:,} bytes)")
    page_size = struct.unpack(">H", header[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    change_counter, pages, valid_for = (struct.unpack(">I", header[i:i + 4])[0]
                                        for i in (24, 28, 92))
    if pages and valid_for == change_counter and size < pages * page_size:
        return RegistryUnavailable(path, "corrupt", f"truncated: {size:,} bytes of the "
                                   f"{pages * page_size:,} its header announces")
    message = str(getattr(error, "orig", None) or error or "").lower()
    if "malformed" in message or "not a database" in message or "corrupt" in message:
        return RegistryUnavailable(path, "corrupt", message)
    if "unable to open" in message:
        return RegistryUnavailable(path, "unreadable", message)
    return None


# Engines ----------------------------------------------------------------------------------

def _interrupted() -> bool:
    """Whether the thread is unwinding from a stop (a BaseException that is no Exception)."""
    exc = sys.exc_info()[1]
    return exc is not None and not isinstance(exc, (Exception, GeneratorExit))


def _discard_interrupted(dbapi_connection, record) -> None:
    """Pool ``checkin`` hook: a connection given back while a stop unwinds the thread is
    closed and replaced on next use. Its transaction was already rolled back on close;
    a cursor cut mid-fetch or a driver mid-protocol must not reach the next thread."""
    if record is not None and _interrupted():
        record.invalidate()


def _sqlite_connect_pragmas(dbapi_connection, record) -> None:
    dbapi_connection.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    dbapi_connection.execute("PRAGMA temp_store=MEMORY")


_duckdb_memory_limit: str | None = None


def limit_duckdb_memory(limit: str | None) -> None:
    """Bound the memory DuckDB holds for the registries this process opens from now on
    (setting ``database.duckdb_memory_limit``; None or "": DuckDB's own default). DuckDB's
    limit is one per database file and process, shared by every connection to it, so the
    computations of all users together stay within it (DuckDB spills beyond it)."""
    global _duckdb_memory_limit
    if limit and not MEMORY_SIZE.fullmatch(limit):
        raise ValueError(f"not a memory size: `{limit}` (e.g. 1GB, 800MB)")
    _duckdb_memory_limit = limit or None


def _duckdb_connect_limit(limit: str) -> Callable[..., None]:
    def set_limit(dbapi_connection, record) -> None:
        # A SET, not a connect-time config: DuckDB refuses a second connection to a file
        # with another configuration, and a SET applies to the file's instance as it is.
        dbapi_connection.execute(f"SET memory_limit = '{limit}'")
    return set_limit


def open_registry(url: str, *, check: bool = True, pool_size: int = DEFAULT_POOL_SIZE
                  ) -> sa.Engine:
    """An engine on the registry that cannot write, checked against the contract.

    SQLite is opened through a ``mode=ro`` URI, so even a stray write fails in the driver.
    PostgreSQL sessions start with ``default_transaction_read_only``, so every transaction
    is read-only. DuckDB files are opened with ``read_only``. Every backend gets a
    ``QueuePool`` of ``pool_size`` connections: one thread per connection at a time.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    pool = {"poolclass": QueuePool, "pool_size": pool_size, "max_overflow": POOL_OVERFLOW,
            "pool_timeout": POOL_TIMEOUT_SECONDS}
    if backend == "sqlite":
        path = _url_file(parsed)
        if path is None:
            raise RegistryError(f"registry database file `{parsed.database}` does not exist")
        problem = diagnose_file(path)
        if problem is not None:
            raise problem
        engine = sa.create_engine(readonly_sqlite_url(path), **pool)
        sa.event.listen(engine, "connect", _sqlite_connect_pragmas)
    elif backend == "postgresql":
        engine = sa.create_engine(
            url, connect_args={"options": "-c default_transaction_read_only=on"},
            pool_pre_ping=True, **pool)
    elif backend == "duckdb":
        database = parsed.database or ""
        if database in ("", ":memory:") or not Path(database).is_file():
            raise RegistryError(f"registry database file `{database}` does not exist")
        # read_only: DuckDB refuses every write, and several readers may share the file.
        engine = sa.create_engine(url, connect_args={"read_only": True}, **pool)
        if _duckdb_memory_limit:
            sa.event.listen(engine, "connect", _duckdb_connect_limit(_duckdb_memory_limit))
    elif backend == "spark":
        # Registers the dialect; Spark reads the registry's Parquet files or JDBC tables as
        # views of its own session, and never writes them.
        import data_access.spark  # noqa: F401 - registers the `spark` dialect

        folder = parsed.database or ""
        remote = parsed.query.get("jdbc") or parsed.query.get("parquet")
        if not remote and not Path(folder).is_dir():
            raise RegistryError(f"the Parquet registry folder `{folder}` does not exist")
        engine = sa.create_engine(url, **pool)
    else:
        raise RegistryError(f"unsupported registry database `{backend}` in `{url}`")
    sa.event.listen(engine.pool, "checkin", _discard_interrupted)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        problem = _file_problem(engine, exc)
        if problem is not None:
            raise problem from None
        raise RegistryError(f"cannot open the registry at `{parsed.render_as_string(hide_password=True)}`: "
                            f"{exc.orig if hasattr(exc, 'orig') else exc}") from None
    if check:
        try:
            require_schema(engine)
        except sa.exc.DatabaseError as exc:
            engine.dispose()
            problem = _file_problem(engine, exc)
            if problem is not None:
                raise problem from None
            raise
        except BaseException:
            engine.dispose()
            raise
    return engine


def registry_last_loaded(engine: sa.Engine) -> dt.datetime | None:
    """When the registry was last written: the file time for SQLite, else unknown (None).

    Read from the file the engine's URL names, without connecting: pages ask on every run.
    """
    path = registry_file(engine)
    if path is None:
        return None
    try:
        return dt.datetime.fromtimestamp(path.stat().st_mtime)
    except OSError:
        return None


def latest_registration(engine: sa.Engine) -> dt.date | None:
    """The latest registered_on of the household and person tables."""
    # Max over raw text on SQLite is the latest ISO date; read it without date parsing,
    # so a malformed date in the registry cannot crash here.
    latest: list[dt.date] = []
    with engine.connect() as conn:
        for table in (household, person):
            value = conn.execute(
                sa.select(sa.func.max(sa.cast(table.c.registered_on, sa.Text)))
            ).scalar()
            parsed = as_date(value)
            if parsed is not None:
                latest.append(parsed)
    return max(latest) if latest else None


def default_as_of(engine: sa.Engine, today: dt.date | None = None) -> dt.date:
    """Today, or the latest registration in the registry if that is earlier."""
    today = today or dt.date.today()
    latest = latest_registration(engine)
    return min(today, latest) if latest else today


@contextmanager
def connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection of ``engine`` (the registry's, or another database Socle reads) for one
    unit of work, rolled back and given back to the pool when the block ends."""
    with engine.connect() as conn:
        yield conn


# A registry that may change under the running app -----------------------------------------

@dataclass(frozen=True)
class FileIdentity:
    """What tells a file replaced, rewritten, truncated or re-permissioned (ctime: chmod)."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileIdentity:
        info = path.stat()
        return cls(info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


class RegistryHandle:
    """The registry engine of one URL, kept current while the app runs.

    ``engine()`` costs a ``stat`` of the file (nothing for a server database). When the file
    changed (replaced, rewritten, truncated, permissions), the old engine is disposed of and
    the file opened and checked again; when it is missing, unreadable or corrupt, the call
    raises RegistryUnavailable naming it (logged at ERROR once per problem) and the next
    call looks again, so the app recovers by itself once the file is back.
    """

    RETRY_SECONDS = 5.0  # a failed open is retried at most this often for an unchanged file

    def __init__(self, url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self.pool_size = pool_size
        self._lock = threading.Lock()
        self._engine: sa.Engine | None = None
        self._identity: FileIdentity | None = None
        self._failure: tuple[FileIdentity | None, float, RegistryError] | None = None
        self.opened_once = False

    def engine(self) -> sa.Engine:
        if self.path is None:
            with self._lock:
                if self._engine is None:
                    self._engine = open_registry(self.url, pool_size=self.pool_size)
                    self.opened_once = True
                return self._engine
        try:
            identity = FileIdentity.of(self.path)
        except OSError:
            identity = None
        with self._lock:
            if identity is not None and identity == self._identity and self._engine is not None:
                return self._engine
            if identity is None:
                self._drop_engine()
                self._fail(None, diagnose_file(self.path)
                           or RegistryUnavailable(self.path, "missing"))
            if self._failure is not None:
                failed_identity, when, error = self._failure
                if failed_identity == identity and time.monotonic() - when < self.RETRY_SECONDS:
                    raise error
            self._drop_engine()
            try:
                engine = open_registry(self.url, pool_size=self.pool_size)
            except RegistryError as exc:
                self._fail(identity, exc)
                raise  # _fail raised already; for the reader
            if self._failure is not None:
                log.warning("the registry `%s` can be read again", self.path)
            self._engine, self._identity, self._failure = engine, identity, None
            self.opened_once = True
            return engine

    def diagnose(self, error: BaseException | None = None) -> RegistryUnavailable | None:
        """What is wrong with the registry file after a failed query (None: nothing seen, or
        not a file). A problem found forgets the engine, so the next call opens afresh."""
        if self.path is None:
            return None
        problem = diagnose_file(self.path, error)
        if problem is not None:
            with self._lock:
                self._drop_engine()
                self._fail(self._identity, problem, raise_it=False)
        return problem

    def _drop_engine(self) -> None:
        if self._engine is not None:
            # Connections still checked out by running threads close when they are given back.
            self._engine.dispose()
        self._engine, self._identity = None, None

    def _fail(self, identity: FileIdentity | None, error: RegistryError, *,
              raise_it: bool = True) -> None:
        previous = self._failure[2] if self._failure is not None else None
        if previous is None or str(previous) != str(error):
            log.error("%s", error)
        self._failure = (identity, time.monotonic(), error)
        if raise_it:
            raise error

    def dispose(self) -> None:
        with self._lock:
            self._drop_engine()
