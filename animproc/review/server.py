"""The local review server: one server for a film's review gates, a page per kind at `/{kind}/`, one security
model, one save format.

Security: binds to 127.0.0.1 by default; answers only requests whose Host is the address it serves (no DNS
rebinding); refuses writes that come from another origin (Origin / Sec-Fetch-Site) or lack the page's
per-process token; serves only image files inside the film's storage folder; validates every request body.
Saves go through `save_review` (atomic, versioned, locked across processes). Robustness: every socket has a
timeout; a refused write is answered and its connection closed without reading its body (so nothing hidden
in it is taken for a next request); bodies are decoded and validated by the review files' own bounded
validator, extra fields included; an unexpected error is answered (500), never a dropped connection.
"""
from __future__ import annotations

import json
import mimetypes
import posixpath
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, unquote, urlsplit

from animproc.errors import AnimprocError
from animproc.review.labels import (FORMAT, Review, ReviewFileError, VersionConflict, load_review,
                                    review_from_document, save_review)
from animproc.review.schema import decode_json
from animproc.storage import Storage

MEDIA_TYPES = {".png", ".jpg", ".jpeg", ".webp", ".wav"}
MAX_BODY = 32 * 1024 * 1024


@dataclass
class ReviewSource:
    """What a review page shows: `items()` -> list of dicts (with `id`), plus a title. `sections`: further
    lists the page reads at `api/{name}` (each item with an `id`), read on every request; decisions under
    the same name in a save must name ids of that list."""
    kind: str
    title: str
    items: Callable[[], list[dict]]
    sections: dict[str, Callable[[], list[dict]]] = field(default_factory=dict)
    actions: dict[str, Callable[[dict], dict]] = field(default_factory=dict)  # POST api/{name}: body -> answer
    context: Callable[[], dict] | None = None  # more the page shows beside the items (api/context)


class NothingToReview(AnimprocError):
    pass


class _Items(dict):
    """Each source's items, read on first use: a gate with nothing to review when the server starts (the
    clusters not made yet) is read again on the next request, so its page works without a restart."""

    def __init__(self, sources: dict[str, ReviewSource]):
        super().__init__()
        self._sources, self._lock = sources, threading.Lock()

    def load(self, kind: str) -> list[dict]:
        return self[kind]

    def __missing__(self, kind: str) -> list[dict]:
        with self._lock:
            if kind not in self:
                self[kind] = self._sources[kind].items()
            return self[kind]


class ReviewServer:
    """Serves the given review sources. The first is the page the root leads to and must have something to
    review (else NothingToReview); later ones are served once they have something to review."""

    def __init__(self, storage: Storage, film: str, sources: ReviewSource | list[ReviewSource],
                 host: str = "127.0.0.1", port: int = 0, request_timeout: float = 30.0):
        self.storage, self.film, self.request_timeout = storage, film, request_timeout
        sources = sources if isinstance(sources, list) else [sources]
        self.sources = {s.kind: s for s in sources}
        self._items = _Items(self.sources)
        self._items.load(sources[0].kind)  # the gate asked for must have something to review now
        self.token = secrets.token_urlsafe(24)
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer((host, port), self._handler())
        self.httpd.daemon_threads = True
        self.host, self.port = self.httpd.server_address[:2]

    def ready(self, kind: str) -> bool:
        """Whether `kind` has something to review now."""
        try:
            self._items.load(kind)
            return True
        except NothingToReview:
            return False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def url_for(self, kind: str) -> str:
        return f"{self.url}{kind}/"

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def state(self, kind: str) -> dict:
        review = load_review(self.storage, self.film, kind)
        return (review or Review(self.film, kind)).to_json()

    def save(self, kind: str, body) -> dict:
        """Validate a page's save request by the review files' one validator, then save it if the page's
        version is still the file's (under a lock across processes: see `save_review`)."""
        if not isinstance(body, dict):
            raise ReviewFileError("request", "the body must be a JSON object")
        extra = body.get("extra", {})
        if not isinstance(extra, dict):
            raise ReviewFileError("request", "'extra' must be an object")
        doc = {**extra, "format": FORMAT, "film": self.film, "kind": kind, "version": body.get("version"),
               "submitted": body.get("submitted", False), "decided_by": "person", "saved_at": None,
               "decisions": body.get("decisions")}
        review = review_from_document(doc, "request", self.film, kind)
        ids = {item["id"] for item in self._items[kind]}
        named = review.decisions.get("faces", {}) if kind == "identities" else review.decisions
        unknown = sorted(set(named) - ids)
        if unknown:
            raise ReviewFileError("request", f"unknown {'face' if kind == 'identities' else 'instance'} ids: "
                                             f"{unknown[:5]}")
        for name, section in self.sources[kind].sections.items():
            decided = review.decisions.get(name) or {}
            unknown = sorted(set(decided) - {item["id"] for item in section()}) if decided else []
            if unknown:
                raise ReviewFileError("request", f"unknown ids in {name!r}: {unknown[:5]}")
        with self.lock:
            saved = save_review(self.storage, review, review.version)
        return {"version": saved.version, "saved_at": saved.saved_at}

    def media(self, relative: str):
        rel = posixpath.normpath(unquote(relative))
        if rel.startswith(("/", "..")) or "\\" in rel or "\x00" in rel or rel == ".":
            return None
        if posixpath.splitext(rel)[1].lower() not in MEDIA_TYPES:
            return None
        path = self.storage.film_dir(self.film) / rel
        if self.storage.is_local:
            from pathlib import Path

            base = Path(str(self.storage.film_dir(self.film))).resolve()
            real = Path(str(path)).resolve()
            if not real.is_relative_to(base) or not real.is_file():
                return None
        elif not path.exists():
            return None
        return path

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = server.request_timeout  # a client that stops sending (short body, idle keep-alive) is cut off

            def log_message(self, fmt, *args):  # quiet; errors are answered to the page
                pass

            def _host_ok(self) -> bool:
                host = self.headers.get("Host", "")
                return host in {f"{server.host}:{server.port}", f"localhost:{server.port}", f"127.0.0.1:{server.port}"}

            def _send(self, status: int, body: bytes, ctype: str, extra: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("Referrer-Policy", "no-referrer")
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, obj) -> None:
                """Strict JSON only (a browser's JSON.parse refuses NaN): a source that lets one through is
                answered as a server error naming the problem, never as a page stuck on "loading"."""
                try:
                    body = json.dumps(obj, allow_nan=False)
                except ValueError as exc:
                    status, body = HTTPStatus.INTERNAL_SERVER_ERROR, json.dumps({"error": f"not strict JSON: {exc}"})
                self._send(status, body.encode(), "application/json", {"Cache-Control": "no-store"})

            def do_GET(self):
                if not self._host_ok():
                    return self._json(HTTPStatus.FORBIDDEN, {"error": "unexpected Host header"})
                url = urlsplit(self.path)
                if url.path == "/":
                    first = next(iter(server.sources))
                    return self._send(HTTPStatus.FOUND, b"", "text/plain", {"Location": f"/{first}/"})
                if url.path.startswith("/media/"):
                    path = server.media(url.path[len("/media/"):])
                    if path is None:
                        return self._json(HTTPStatus.NOT_FOUND, {"error": "no such image in this film's storage"})
                    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                    return self._send(HTTPStatus.OK, path.read_bytes(), ctype, {"Cache-Control": "max-age=3600"})
                kind, _, rest = url.path.lstrip("/").partition("/")
                if kind not in server.sources:
                    return self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
                if rest == "":
                    source = server.sources[kind]
                    files = resources.files("animproc.review")
                    page = files.joinpath(f"{kind}.html").read_text()
                    page = page.replace("{{COMMON_CSS}}", files.joinpath("review.css").read_text()) \
                        .replace("{{COMMON_JS}}", files.joinpath("review.js").read_text())
                    page = page.replace("{{TOKEN}}", server.token).replace("{{FILM}}", server.film) \
                        .replace("{{TITLE}}", source.title).replace("{{BASE}}", f"/{kind}")
                    return self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8",
                                      {"Cache-Control": "no-store", "Content-Security-Policy":
                                       "default-src 'self'; img-src 'self'; style-src 'self' 'unsafe-inline'; "
                                       "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'"})
                if rest in ("api/items", "api/all"):
                    try:
                        items = server._items.load(kind)
                    except NothingToReview as exc:  # not yet: the page says what to materialise
                        return self._json(HTTPStatus.NOT_FOUND, {"error": str(exc)})
                if rest == "api/items":
                    q = parse_qs(url.query)
                    try:
                        offset = max(0, int(q.get("offset", ["0"])[0]))
                        limit = min(1000, max(1, int(q.get("limit", ["200"])[0])))
                    except ValueError:
                        return self._json(HTTPStatus.BAD_REQUEST, {"error": "offset and limit must be integers"})
                    return self._json(HTTPStatus.OK, {"total": len(items), "offset": offset,
                                                      "items": items[offset:offset + limit]})
                if rest == "api/all":
                    return self._json(HTTPStatus.OK, {"total": len(items), "items": items})
                if rest == "api/context":
                    context = server.sources[kind].context
                    return self._json(HTTPStatus.OK, context() if context else {})
                section = server.sources[kind].sections.get(rest.removeprefix("api/"))
                if rest.startswith("api/") and section is not None:
                    listed = section()
                    return self._json(HTTPStatus.OK, {"total": len(listed), "items": listed})
                if rest == "api/state":
                    try:
                        return self._json(HTTPStatus.OK, server.state(kind))
                    except ReviewFileError as exc:
                        return self._json(HTTPStatus.CONFLICT, {"error": str(exc)})
                return self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

            def _refuse(self, status: int, error: str) -> None:
                """Answer an error and close the connection: the body was not read, so whatever follows on the
                socket is never taken for a next request."""
                self.close_connection = True
                self._send(status, json.dumps({"error": error}).encode(), "application/json",
                           {"Cache-Control": "no-store", "Connection": "close"})

            def do_POST(self):
                try:
                    self._post()
                except (TimeoutError, ConnectionError):
                    self.close_connection = True
                except Exception as exc:  # a bug must not drop the connection without an answer
                    self._refuse(HTTPStatus.INTERNAL_SERVER_ERROR, f"the server could not handle this: {exc!r}")

            def _post(self):
                if not self._host_ok():
                    return self._refuse(HTTPStatus.FORBIDDEN, "unexpected Host header")
                origin = self.headers.get("Origin")
                if origin is not None and origin not in {f"http://{h}" for h in (
                        f"{server.host}:{server.port}", f"localhost:{server.port}", f"127.0.0.1:{server.port}")}:
                    return self._refuse(HTTPStatus.FORBIDDEN, "cross-origin writes are refused")
                if self.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
                    return self._refuse(HTTPStatus.FORBIDDEN, "cross-site writes are refused")
                if not secrets.compare_digest(self.headers.get("X-Review-Token", ""), server.token):
                    return self._refuse(HTTPStatus.FORBIDDEN, "missing or wrong review token")
                kind, _, rest = urlsplit(self.path).path.lstrip("/").partition("/")
                action = server.sources[kind].actions.get(rest.removeprefix("api/")) if kind in server.sources else None
                if kind not in server.sources or (rest != "api/save" and action is None):
                    return self._refuse(HTTPStatus.NOT_FOUND, "not found")
                if not self.headers.get("Content-Type", "").startswith("application/json"):
                    return self._refuse(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send application/json")
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                except ValueError:
                    length = -1
                if not 0 < length <= MAX_BODY:
                    return self._refuse(HTTPStatus.BAD_REQUEST, "bad Content-Length")
                data = self.rfile.read(length)
                if len(data) < length:
                    return self._refuse(HTTPStatus.BAD_REQUEST, "the body is shorter than its Content-Length")
                try:
                    if action is not None:  # a computation for the page (it writes nothing)
                        body = decode_json(data, "request")
                        if not isinstance(body, dict):
                            raise ReviewFileError("request", "the body must be a JSON object")
                        return self._json(HTTPStatus.OK, action(body))
                    return self._json(HTTPStatus.OK, server.save(kind, decode_json(data, "request")))
                except VersionConflict as exc:
                    return self._json(HTTPStatus.CONFLICT, {"error": str(exc), "version": exc.current})
                except ReviewFileError as exc:
                    return self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})

        return Handler
