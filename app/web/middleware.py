"""Request guards (web layer): a pure ASGI middleware that bounds what reaches the application.

``BodyLimitAndTiming`` sits outermost, before the session cookie is read or any body is parsed:

- **Body size.** A ``Content-Length`` above the limit is refused at once (413). Because a chunked
  body has no ``Content-Length``, the bytes of the ``http.request`` messages are also counted as
  they arrive; the moment the count passes the limit the client gets the 413 and the application
  gets ``http.disconnect`` instead of the rest (so it stores nothing). Anything the application
  still tries to send afterwards is dropped.
- **JSON bodies** (``application/json`` or ``+json``) are held until complete and refused with
  422 when they are not UTF-8 or their arrays/objects nest deeper than ``MAX_JSON_DEPTH`` (parsers
  and validators recurse once per level; Python's JSON parser fails past ~1,000 levels).
- **NUL bytes** in the URL path or query string are refused with 422 (no database stores them and
  file systems refuse them in names).
- Every HTTP response gets ``Server-Timing: app;dur=<ms>``.

Errors use the shared shapes of :mod:`app.web.errors` (JSON, HTML page or HTMX toast).
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.domain.errors import DomainError, InvalidInput, PayloadTooLarge
from app.web.errors import handle_domain_error

MAX_JSON_DEPTH = 32
# A JSON string (escapes included) or one bracket: strings are skipped whole, brackets counted.
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_OPEN = frozenset(b"[{")


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """True when the arrays/objects of the JSON text ``body`` nest deeper than ``limit``.

    Brackets inside strings do not count. Malformed JSON is left to the parser (only depth matters
    here); the scan stops as soon as the limit is passed.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for match in _JSON_TOKEN.finditer(body):
        char = match.group()[0]
        if char in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif char != ord('"'):
            depth -= 1
    return False


def _is_json(headers: Headers) -> bool:
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _nul_error(scope: Scope) -> DomainError | None:
    if "\x00" in scope.get("path", ""):
        return InvalidInput("the URL path contains a NUL byte", field="path")
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in key or "\x00" in value:
                name = key.replace("\x00", "\\x00")
                return InvalidInput(f"query parameter {name!r} contains a NUL byte", field=name)
    return None


class BodyLimitAndTiming:
    """Pure ASGI middleware: body size limit, JSON depth, NUL bytes in URLs, Server-Timing."""

    def __init__(self, app: ASGIApp, limit: int, max_json_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.limit = limit
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        response_started = False

        async def send_with_timing(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                duration = (time.perf_counter() - started) * 1000
                MutableHeaders(scope=message).append("Server-Timing", f"app;dur={duration:.1f}")
            await send(message)

        async def refuse(exc: DomainError) -> None:
            response = await handle_domain_error(Request(scope), exc)
            await response(scope, receive, send_with_timing)

        headers = Headers(scope=scope)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.limit:
            await refuse(self._too_large(f"the request body is {length} bytes", int(length)))
            return
        nul = _nul_error(scope)
        if nul is not None:
            await refuse(nul)
            return

        is_json = _is_json(headers)
        received = 0
        refused = False

        async def next_chunk() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit and not refused:
                    refused = True
                    if not response_started:
                        await refuse(self._too_large("the request body passed the limit", None))
            return message

        async def guarded_receive() -> Message:
            nonlocal refused
            if refused:
                return {"type": "http.disconnect"}
            message = await next_chunk()
            if not is_json or message["type"] != "http.request":
                return {"type": "http.disconnect"} if refused else message
            # Hold a JSON body until it is complete, so that its depth can be checked first.
            chunks = [message.get("body", b"")]
            while message.get("more_body", False) and not refused:
                message = await next_chunk()
                if message["type"] != "http.request":
                    return message
                chunks.append(message.get("body", b""))
            if refused:
                return {"type": "http.disconnect"}
            body = b"".join(chunks)
            problem = self._json_problem(body)
            if problem is not None:
                refused = True
                await refuse(problem)
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": body, "more_body": False}

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send_with_timing(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            # After a refusal the application only sees a disconnect; whatever it raised about the
            # cut-off body is moot because the client already has its answer.
            if not refused:
                raise

    def _json_problem(self, body: bytes) -> InvalidInput | None:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return InvalidInput(
                f"the JSON body is not UTF-8 (invalid byte at offset {exc.start})",
                field="body",
                details={"offset": exc.start},
            )
        if json_depth_exceeds(body, self.max_json_depth):
            return InvalidInput(
                f"the JSON body nests deeper than {self.max_json_depth} levels",
                field="body",
                details={"max_depth": self.max_json_depth},
            )
        return None

    def _too_large(self, what: str, size: int | None) -> PayloadTooLarge:
        details: dict[str, int] = {"limit": self.limit}
        if size is not None:
            details["size"] = size
        return PayloadTooLarge(
            f"{what}; the limit is {self.limit} bytes (UNILABEL_MAX_UPLOAD_BYTES plus form overhead)",
            field="body",
            details=details,
        )
