"""``Idempotency-Key`` on POST (ADR 0140, rules in ``application.protection.idempotency``).

The body is read once, hashed and spooled (memory up to 1 MiB, then a temporary file), and
handed to the route unchanged. The response is passed to the client as it is produced and
kept on the side up to the policy's bound; the record is completed before the last byte is
sent, so a client that has the whole answer and retries at once, on any replica, is replayed
it rather than told the first request is still running.
POSTs without a key, and public POSTs (no verified caller to scope the key to), pass through.

A route whose work a quota may refuse before its body is read (a genotype import, ADR 0340)
names that check in ``opt[ADMITS]``. A keyed request to it is checked before its body is
spooled, unless its key already has a record: a retry of a completed request is answered
from its kept response whatever the organization's day is now, which needs its body's hash
(ADR 0347). A request refused there claimed nothing, so its retry runs once there is room.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import IO, Any

from bijmantra.adapters.grpc.auth import KeyedCalls, keyed_calls
from bijmantra.application.protection.idempotency import (
    Claim,
    ClaimOutcome,
    IdempotencyPolicy,
    IdempotencyStore,
    StoredResponse,
    scoped_key,
    valid_key,
)
from bijmantra.edge.handlers import ERROR_CODE
from bijmantra.gateway.protection.request_body import BodyTooLarge, body_chunks
from bijmantra.gateway.protection.responses import header, http_method, send_error, send_whole
from bijmantra.kernel import (
    BijmantraError,
    Conflict,
    FieldError,
    Principal,
    Unavailable,
    Unprocessable,
    ValidationFailed,
)
from bijmantra.observability import get_logger
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPRequestEvent, Message, Receive, ReceiveMessage, Scope, Send

log = get_logger(__name__)
_CHUNK = 64 * 1024
_SPOOL_IN_MEMORY = 1 << 20
REPLAYED = (b"idempotent-replayed", b"true")
# ``opt[ADMITS]``: ``(app state, bearer token)``, raising the refusal a request to the route
# gets before its body is read; ``ADMITTED`` in the request's state: it was asked, and passed.
ADMITS = "admits"
ADMITTED = "admitted"
Admission = Callable[[State, str], Awaitable[None]]


def _admission(scope: Scope) -> Admission | None:
    handler: Any = scope.get("route_handler")
    opt = getattr(handler, "opt", None) or {}
    check: Admission | None = opt.get(ADMITS)
    return check


async def _refused_first(
    store: IdempotencyStore, record: str, admits: Admission, scope: Scope
) -> BijmantraError | None:
    """The refusal of a first request with this key, before its body is read; ``None``: it
    passes, or its key has a record (a retry: the record answers it once the body is hashed).
    Between the read and the check another request may complete the key: this one is then
    refused, and its retry is replayed."""
    try:
        if await store.recorded(record):
            return None
        await admits(scope["app"].state, scope["auth"])
    except BijmantraError as error:
        return error
    scope.setdefault("state", {})[ADMITTED] = True
    return None


async def _spool(spool: IO[bytes], receive: Receive, scope: Scope, limit: int) -> str:
    """Spool the whole request body into ``spool``, rewound; return the request's fingerprint."""
    digest = hashlib.sha256()
    for part in (
        http_method(scope),
        scope["path"],
        scope.get("query_string", b"").decode("latin-1"),
    ):
        digest.update(part.encode() + b"\0")
    digest.update(header(scope, b"content-type").encode("latin-1") + b"\0")
    async for chunk in body_chunks(receive, limit):
        digest.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    return digest.hexdigest()


def _replaying(spool: IO[bytes], receive: Receive) -> Receive:
    """The spooled body as ``http.request`` messages, then the client's own messages."""

    async def chunks() -> AsyncIterator[HTTPRequestEvent]:
        while True:
            chunk = spool.read(_CHUNK)
            more = len(chunk) == _CHUNK
            yield HTTPRequestEvent(type="http.request", body=chunk, more_body=more)
            if not more:
                return

    pending = chunks()

    async def replay() -> ReceiveMessage:
        message = await anext(pending, None)
        return message if message is not None else await receive()

    return replay


async def _send_stored(send: Send, scope: Scope, stored: StoredResponse) -> None:
    if not stored.body_kept:
        error = Conflict(
            "A request with this Idempotency-Key was already processed (status "
            f"{stored.status}); its response was too large to keep"
        )
        await send_error(scope, send, error, [REPLAYED])
        return
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in stored.headers]
    headers += [(b"content-length", str(len(stored.body)).encode()), REPLAYED]
    await send_whole(send, stored.status, headers, stored.body)


class _Recorder:
    """Passes the response through and keeps a copy up to ``limit`` bytes; ``before_last``
    runs once the whole response is known, before its last part is sent."""

    def __init__(
        self, send: Send, limit: int, before_last: Callable[[_Recorder], Awaitable[None]]
    ) -> None:
        self._send = send
        self._limit = limit
        self._before_last = before_last
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.body_kept = True
        self.finished = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = [
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])
            ]
        elif message["type"] == "http.response.body":
            if self.body_kept:
                self.body += message.get("body", b"")
                if len(self.body) > self._limit:
                    self.body_kept, self.body = False, bytearray()
            self.finished = not message.get("more_body", False)
            if self.finished:
                await self._before_last(self)
        await self._send(message)

    def stored(self) -> StoredResponse:
        return StoredResponse.of(
            self.status, self.headers, bytes(self.body), body_kept=self.body_kept
        )


def idempotency_middleware(
    store: IdempotencyStore, policy: IdempotencyPolicy
) -> Callable[[ASGIApp], ASGIApp]:
    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            principal = scope.get("user")
            key = header(scope, b"idempotency-key") if scope["type"] == ScopeType.HTTP else ""
            if not key or http_method(scope) != "POST" or not isinstance(principal, Principal):
                await app(scope, receive, send)
                return
            if not valid_key(key):
                detail = FieldError("Idempotency-Key", "1-255 visible ASCII characters")
                error = ValidationFailed("Invalid Idempotency-Key header", [detail])
                await send_error(scope, send, error, status=400)
                return
            record = scoped_key(principal.tenant_id, principal.subject, key)
            admits = _admission(scope)
            if admits is not None and (
                refusal := await _refused_first(store, record, admits, scope)
            ):
                await send_error(scope, send, refusal)
                return
            with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
                try:
                    fingerprint = await _spool(spool, receive, scope, policy.max_request_bytes)
                except BodyTooLarge:
                    limit = policy.max_request_bytes
                    error = ValidationFailed(
                        f"Bodies sent with Idempotency-Key are limited to {limit} bytes"
                    )
                    await send_error(scope, send, error, status=413)
                    return
                try:
                    claim = await store.claim(record, fingerprint, policy.lock_seconds)
                except Unavailable as error:
                    await send_error(scope, send, error)
                    return
                await _answer(claim, record, scope, _replaying(spool, receive), send)

        async def _answer(
            claim: Claim, record: str, scope: Scope, receive: Receive, send: Send
        ) -> None:
            if claim.outcome is ClaimOutcome.REPLAY:
                assert claim.response is not None  # a replay always carries its response
                await _send_stored(send, scope, claim.response)
            elif claim.outcome is ClaimOutcome.MISMATCH:
                mismatch = Unprocessable("This Idempotency-Key was used with a different request")
                await send_error(scope, send, mismatch)
            elif claim.outcome is ClaimOutcome.IN_PROGRESS:
                running = Conflict("A request with this Idempotency-Key is still being processed")
                await send_error(scope, send, running, [(b"retry-after", b"1")])
            else:
                await _run(claim.token, record, scope, receive, send)

        async def _run(token: str, record: str, scope: Scope, receive: Receive, send: Send) -> None:
            kept = False

            async def keep(response: _Recorder) -> None:
                nonlocal kept
                if not policy.keeps(response.status, scope.get("state", {}).get(ERROR_CODE)):
                    return
                try:
                    await store.complete(record, token, response.stored(), policy.ttl_seconds)
                except Unavailable:
                    # Only keeping the answer failed; it still goes out, the claim expires.
                    log.warning("idempotency store unavailable", status=response.status)
                kept = True

            keyed = keyed_calls.set(KeyedCalls(record))  # sent on to domain-api (ADR 0336)
            try:
                await app(scope, receive, _Recorder(send, policy.max_response_bytes, keep))
            finally:
                keyed_calls.reset(keyed)
                if not kept:
                    with contextlib.suppress(Unavailable):
                        await store.release(record, token)

        return middleware

    return factory
