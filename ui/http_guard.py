"""The HTTP layer around Streamlit: the browser's key, guarded personal downloads, quiet logs.

``streamlit run app.py`` finds the ``st.App`` that app.py declares when it is imported (not
when it runs as the page script) and serves it with :func:`middleware`:

- **The browser's key.** Every response to a browser without one sets ``socle_browser``: a
  random 256-bit key in an HTTP-only, SameSite=Strict cookie (``Secure`` over HTTPS). The
  page's scripts cannot read it, other sites' pages cannot send it, and the websocket of
  every Streamlit session carries it (``st.context.cookies``). ui/sign_in.py binds the
  Streamlit session and the Socle sign-in session to it: a Streamlit session id replayed from
  another browser (it travels in the websocket's sub-protocol header, so it can be copied
  from a proxy log or a shared screen) comes without the key, and gets nothing.
- **Personal downloads.** Files with personal data are built only when their download button
  is clicked (:func:`personal`: Streamlit's deferred ``data`` callable), after checking that
  the account and its session are still valid, and registered here by the SHA-256 of their
  bytes; Streamlit then serves them under ``/media/…``, and this middleware lets such a file
  out only to the browser that asked for it, for :data:`PERSONAL_SECONDS`, while the account
  is still allowed (checked again at the fetch). Other media (images, aggregate files) pass.
- **No session ids in logs.** Streamlit logs a reconnecting session's id at WARNING
  ("Session with id … is already connected"); :func:`redact_session_ids` makes every
  Streamlit and Uvicorn log record write ``<id>`` instead of an id.

No Socle page imports this for drawing; ui/sign_in.py and the download buttons do.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

log = logging.getLogger(__name__)

BROWSER_COOKIE = "socle_browser"
_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
PERSONAL_SECONDS = 60  # how long a personal file may be fetched after it is built
_MEDIA = re.compile(r"/media/([^/?#]+)$")
_IDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)

_installed = False


def installed() -> bool:
    """Whether this process serves Socle through :func:`middleware` (app.py's st.App)."""
    return _installed


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def valid_key(value: object) -> str | None:
    """The browser key of a cookie value, or None when it is not one Socle makes."""
    return value if isinstance(value, str) and _KEY_PATTERN.match(value) else None


# Personal files ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Grant:
    browser_hash: str | None  # None: no browser key (a server without the guard: refused)
    until: float  # time.monotonic()
    allowed: Callable[[], bool]


_GRANTS: dict[str, list[_Grant]] = {}
_LOCK = threading.Lock()


def register_personal(data: bytes, browser_key: str | None, allowed: Callable[[], bool],
                      seconds: float = PERSONAL_SECONDS) -> None:
    """Let ``data`` (a file Streamlit will serve under /media) out only to this browser, for
    ``seconds``, while ``allowed()``."""
    now = time.monotonic()
    grant = _Grant(None if browser_key is None else key_hash(browser_key), now + seconds,
                   allowed)
    digest = hashlib.sha256(data).hexdigest()
    with _LOCK:
        for known, grants in list(_GRANTS.items()):  # forget the expired ones
            kept = [g for g in grants if g.until > now]
            if kept:
                _GRANTS[known] = kept
            else:
                del _GRANTS[known]
        _GRANTS.setdefault(digest, []).append(grant)


def personal(build: Callable[[], bytes], *, allowed: Callable[[], bool],
             browser_key: str | None) -> Callable[[], bytes]:
    """The ``data`` of a download button for a file with personal data: built when clicked
    (on Streamlit's download thread) only while ``allowed()`` — the account enabled, its
    session alive and of this browser — and then fetchable by this browser only, briefly.
    A refusal raises PermissionError: Streamlit then shows that the file could not be made."""

    def deferred() -> bytes:
        if not allowed():
            raise PermissionError("the account or its session is no longer valid")
        data = build()
        register_personal(data, browser_key, allowed)
        return data

    return deferred


def _stored_media(name: str) -> bytes | None:
    """The bytes Streamlit serves as /media/<name>, or None when it has no such file."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.media_file_storage import MediaFileStorageError

    storage = Runtime.instance().media_file_mgr._storage  # one in-memory storage per runtime
    try:
        return storage.get_file(name).content
    except MediaFileStorageError:
        return None


def media_allowed(name: str, browser_key: str | None) -> bool:
    """Whether this browser may fetch /media/<name> now (checked in a worker thread: it may
    read the app store)."""
    try:
        content = _stored_media(name)
    except Exception:  # Streamlit's storage is not as expected: refuse, say why
        log.exception("cannot look up a media file: refusing it")
        return False
    if content is None:
        return True  # Streamlit answers 404 itself
    with _LOCK:
        grants = list(_GRANTS.get(hashlib.sha256(content).hexdigest(), ()))
    if not grants:
        return True  # not a personal file
    now = time.monotonic()
    wanted = None if browser_key is None else key_hash(browser_key)
    return any(g.browser_hash is not None and g.browser_hash == wanted and now < g.until
               and g.allowed() for g in grants)


# The middleware ---------------------------------------------------------------------------

def _cookies(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in headers:
        if name.lower() == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except CookieError:
                continue
    return {name: morsel.value for name, morsel in jar.items()}


def _is_https(scope: dict) -> bool:
    if scope.get("scheme") == "https":
        return True
    forwarded = dict(scope.get("headers") or []).get(b"x-forwarded-proto", b"")
    return forwarded.split(b",")[0].strip().lower() == b"https"


def _set_cookie(key: str, secure: bool) -> bytes:
    return (f"{BROWSER_COOKIE}={key}; Path=/; HttpOnly; SameSite=Strict"
            + ("; Secure" if secure else "")).encode("latin-1")


class BrowserGuard:
    """ASGI middleware: the browser's key cookie, and personal files to their browser only."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = valid_key(_cookies(scope.get("headers") or []).get(BROWSER_COOKIE))
        media = _MEDIA.search(scope.get("path", ""))
        if media is not None:
            from starlette.concurrency import run_in_threadpool

            if not await run_in_threadpool(media_allowed, media.group(1), key):
                await _not_found(send)
                return
        if key is not None:
            await self.app(scope, receive, send)
            return
        cookie = _set_cookie(secrets.token_urlsafe(32), _is_https(scope))

        async def send_with_cookie(message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"set-cookie", cookie)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


async def _not_found(send) -> None:
    body = b"Not found"
    await send({"type": "http.response.start", "status": 404,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})


def middleware() -> list:
    """The middleware of Socle's st.App (app.py); marks the process as guarded and keeps
    session ids out of the logs."""
    from starlette.middleware import Middleware

    global _installed
    _installed = True
    redact_session_ids()
    return [Middleware(BrowserGuard)]


# Logs ---------------------------------------------------------------------------------------

_REDACTING = False


def redact_session_ids() -> None:
    """Every log record of Streamlit and Uvicorn is written with ``<id>`` in place of a
    session (or any UUID-shaped) id: an id in a log is a way into that session."""
    global _REDACTING
    if _REDACTING:
        return
    _REDACTING = True
    make_record = logging.getLogRecordFactory()

    def redacting(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if record.name.startswith(("streamlit", "uvicorn")):
            try:
                text = record.getMessage()
            except Exception:  # a malformed record: leave it to logging to report
                return record
            if _IDS.search(text):
                record.msg, record.args = _IDS.sub("<id>", text), None
        return record

    logging.setLogRecordFactory(redacting)
