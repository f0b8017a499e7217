"""``GET /ws``: the live event feed (ADR 0040).

Protocol (JSON text frames):
- authenticate on the upgrade request: ``Authorization: Bearer``, or (browsers, which cannot
  set headers) the subprotocols ``bijmantra.live`` and ``bearer.<token>`` (the server selects
  ``bijmantra.live``); the server answers ``{"type":"ready"}``. A socket without a token is
  answered with an error frame and closed (4401) before anything it sent is read: granian
  assembles a whole message, up to 64 MiB, whenever the app awaits one (ADR 0382).
- a frame over ``MAX_FRAME`` is answered with an error frame and the socket closed (1009).
- ``{"type":"subscribe","events":["germplasm.*"],"resources":[id…],"resumeAfter":token}``
  (all optional) replaces the subscription and is answered with ``{"type":"subscribed"}``;
  events arrive as ``{"type":"event","event":<envelope>,"resumeAfter":token}``; with
  ``"batch":true`` they arrive as ``{"type":"events","events":[<envelope>…],"resumeAfter":
  token}`` (every event frame, 1 to ``MAX_BATCH`` events in stream order: as many as were
  waiting when the frame was sent). A frame's token names its last event and where the
  stream stored it, sealed (``resume_tokens``): resuming with it reads one message (ADR
  0384). ``"resumeFrom":id`` (an event id alone) still works, through a bounded scan of the
  stream (ADR 0335).
- keep-alive: the server sends ``{"type":"ping"}`` every interval and closes (4408) when the
  client has sent nothing for two intervals; the client may ``ping`` too and gets ``pong``.
  The token is re-verified each interval (4401 once it expires or is revoked: a member's
  removal or role change revokes their tokens), and the subscription's filter is computed
  again from the principal that verification returns (ADR 0347).
- back-pressure: at most ``queue_limit`` frames wait for a client; a client that makes no
  room within the hub's bounded wait (``live_hub.ROOM_WAIT``, ADR 0375) is disconnected
  (4413) and may resume after its last frame's ``resumeAfter``.
- at most ``WS_SOCKETS_PER_MEMBER`` (32) sockets per member and organization on one gateway worker:
  the next is answered with an error frame (``rate_limited``) and closed (4429).
- at most ``MAX_SUBSCRIBES`` subscribe frames per ``SUBSCRIBE_WINDOW`` seconds per socket; one
  more is answered with an error frame (``rate_limited``) and the subscription stays: each
  resume replays through a consumer of its own on the NATS server every organization shares,
  and a ``resumeFrom`` finds its resume point by reading the stream (ADR 0335, 0352).

The worker follows the stream through one consumer while any of its sockets is subscribed
(``application.events.live_hub``, ADR 0362) and hands each event to its organization's
sockets alone, each through its own filter into its own bounded queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter, deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import msgspec
from bijmantra.application.events.live_feed import (
    FeedFilter,
    FeedItem,
    ResumePoint,
    Subscribe,
    feed_filter,
)
from bijmantra.application.events.live_hub import LiveHub
from bijmantra.application.events.permissions import EventPermissions
from bijmantra.application.json_input import decode_bounded
from bijmantra.application.ports import TokenVerifier
from bijmantra.edge.envelopes import platform_error_body
from bijmantra.gateway.resume_tokens import ResumeTokens
from bijmantra.kernel import (
    BijmantraError,
    FieldError,
    Principal,
    RateLimited,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from bijmantra.observability import get_logger
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

log = get_logger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_KEEPALIVE_TIMEOUT = 4408
CLOSE_SLOW_CONSUMER = 4413
CLOSE_TOO_MANY = 4429
CLOSE_UNAVAILABLE = 1011
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TIMEOUT = 5.0  # seconds a close handshake may take
MAX_FRAME = 64 * 1024
SUBPROTOCOL = "bijmantra.live"  # selected when offered, as browsers demand of a server
BEARER_SUBPROTOCOL = "bearer."  # a browser's token, offered as a subprotocol (ADR 0382)
MAX_BATCH = 200  # events per batched frame
MAX_SUBSCRIBES = 10  # subscribe frames a socket may send per window
SUBSCRIBE_WINDOW = 60.0  # seconds
_encode = msgspec.json.encode
T = TypeVar("T")


def _error_frame(error: BijmantraError) -> dict[str, Any]:
    """An ``error`` frame: the platform error envelope with ``type`` beside it."""
    return {"type": "error", **msgspec.structs.asdict(platform_error_body(error, None))}


@dataclass(frozen=True)
class FeedSettings:
    resume_tokens: ResumeTokens
    ping_interval: float = 20.0
    queue_limit: int = 1000


class SocketQuota:
    """The sockets each member holds in each organization on this worker, bounded: every
    socket costs a filter run on each of its organization's events and a queue of up to
    ``queue_limit`` frames, so one member's thousand sockets would multiply the feed's cost
    a thousandfold (ADR 0331)."""

    def __init__(self, per_member: int) -> None:
        self.per_member = per_member
        self._open: Counter[tuple[str, str]] = Counter()

    def claim(self, principal: Principal) -> bool:
        key = (str(principal.tenant_id), principal.subject)
        if self._open[key] >= self.per_member:
            return False
        self._open[key] += 1
        return True

    def release(self, principal: Principal) -> None:
        key = (str(principal.tenant_id), principal.subject)
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]


class SubscribeBudget:
    """The subscribe frames one socket sent in the last ``window`` seconds, at most ``limit``:
    a client subscribes once and again now and then, never in a loop."""

    def __init__(self, limit: int = MAX_SUBSCRIBES, window: float = SUBSCRIBE_WINDOW) -> None:
        self.limit, self.window = limit, window
        self._sent: deque[float] = deque()

    def spend(self, now: float) -> None:
        """Count one more, or raise ``RateLimited`` naming the seconds until one is free."""
        while self._sent and self._sent[0] <= now - self.window:
            self._sent.popleft()
        if len(self._sent) >= self.limit:
            wait = max(1, math.ceil(self._sent[0] + self.window - now))
            raise RateLimited(
                f"At most {self.limit} subscriptions per {self.window:g} s on one connection",
                [FieldError("retryAfter", str(wait))],
            )
        self._sent.append(now)


class _Frame(msgspec.Struct):
    type: Literal["subscribe", "ping", "pong"]


class _Closed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


class LiveConnection:
    """One client: a reader, a sender and (once subscribed) a pump from the feed."""

    def __init__(self, socket: WebSocket[Any, Any, Any]) -> None:
        """The live hub, token verifier, settings, event permissions and socket quota are the
        app's (put in its state by ``bootstrap``), the same for every connection."""
        state = socket.app.state
        self._socket = socket
        self._hub: LiveHub = state.live_hub
        self._verifier: TokenVerifier = state.verifier
        self._settings: FeedSettings = state.feed_settings
        self._permissions: EventPermissions = state.event_permissions
        self._quota: SocketQuota = state.socket_quota
        self._holder: Principal | None = None  # whose quota this socket counts against
        # The principal last verified, the subscription asked and the filter computed from
        # both: re-verification replaces the filter, which the pump reads for every event.
        self._principal: Principal | None = None
        self._subscription: Subscribe | None = None
        self._filter: FeedFilter | None = None
        # Control frames as bytes, events as ``_Event`` (framed when sent, see ``_send``).
        self._outbox: asyncio.Queue[bytes | _Event] = asyncio.Queue(self._settings.queue_limit)
        self._taken = asyncio.Event()  # set each time the sender takes what waits
        self._batch = False
        self._subscribes = SubscribeBudget()
        self._last_heard = time.monotonic()
        self._pump: asyncio.Task[None] | None = None
        self._token = ""
        self._fatal: asyncio.Future[_Closed] = asyncio.get_running_loop().create_future()

    async def serve(self) -> None:
        offered = self._socket.scope.get("subprotocols") or []
        await self._socket.accept(SUBPROTOCOL if SUBPROTOCOL in offered else None)
        try:
            principal = self._principal = await self._authenticate()
            await self._admit(principal)
            await self._send_now({"type": "ready", "tenant_id": str(principal.tenant_id)})
            async with asyncio.TaskGroup() as tasks:
                for part in (self._read(), self._send(), self._keep_alive(), self._until_fatal()):
                    tasks.create_task(self._letting_go_when_it_ends(part))
        except* _Closed as group:
            closed = group.exceptions[0]
            assert isinstance(closed, _Closed)
            with contextlib.suppress(Exception):  # a stuck client must not hold us either
                await asyncio.wait_for(
                    self._socket.close(closed.code, closed.reason), CLOSE_TIMEOUT
                )
        except* (WebSocketDisconnect, OSError):
            pass
        except* Exception:  # the catch-all: logged, and closed as RFC 6455 says (1011)
            log.exception("live feed connection failed")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self._socket.close(CLOSE_INTERNAL_ERROR, "internal error"), CLOSE_TIMEOUT
                )
        finally:
            self._let_go()

    async def _letting_go_when_it_ends(self, part: Coroutine[Any, Any, None]) -> None:
        """``part`` of the connection; the first to end ends the socket's watch at once, not
        once the others and the server's I/O have stopped (ADR 0379)."""
        try:
            await part
        finally:
            self._let_go()

    def _let_go(self) -> None:
        """End the socket's watch (once) and free its place, before the close handshake: a
        client that stopped reading holds a close frame in a full pipe up to
        ``CLOSE_TIMEOUT``, and the worker's consumer and the member's quota need not wait for
        it (ADR 0379). No await: nothing can stop it halfway."""
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
        if self._holder is not None:
            self._quota.release(self._holder)
            self._holder = None

    async def _admit(self, principal: Principal) -> None:
        if not self._quota.claim(principal):
            limit = self._quota.per_member
            error = RateLimited(f"At most {limit} live connections per member; close one first")
            await self._send_now(_error_frame(error))
            raise _Closed(CLOSE_TOO_MANY, "too many connections")
        self._holder = principal

    async def _authenticate(self) -> Principal:
        """The principal of the token sent with the upgrade. Nothing the client sends is read
        before: the server would hold a whole message of any client, up to 64 MiB."""
        try:
            token = upgrade_token(self._socket)
            if not token:
                raise Unauthorized(
                    "Send a bearer token with the upgrade: the Authorization header, or "
                    f"the subprotocols {SUBPROTOCOL} and {BEARER_SUBPROTOCOL}<token>"
                )
            self._token = token
            return await self._verifier.verify(token)
        except BijmantraError as error:
            await self._send_now(_error_frame(error))
            raise _Closed(CLOSE_UNAUTHORIZED, "unauthorized") from None

    async def _read(self) -> None:
        while True:
            raw = await self._socket.receive_data("text")
            self._last_heard = time.monotonic()
            try:
                if len(raw) > MAX_FRAME:  # the server held it whole: not again on this socket
                    error = ValidationFailed(f"Frames are limited to {MAX_FRAME} bytes")
                    await self._send_now(_error_frame(error))
                    raise _Closed(CLOSE_TOO_BIG, "frame too big")
                kind = _frame_type(raw)
                if kind == "ping":
                    self._queue(b'{"type":"pong"}')
                elif kind == "subscribe":
                    request = _decode_frame(raw, Subscribe)
                    assert self._principal is not None  # verified before reading began
                    feed_filter(self._principal, request, self._permissions)  # or error frame
                    self._subscribes.spend(time.monotonic())  # or error frame
                    self._subscription = request
                    tenant_id = str(self._principal.tenant_id)
                    await self._subscribe(
                        self._settings.resume_tokens.resume_point(tenant_id, request)
                    )
                    self._batch = request.batch  # (no await since "subscribed" was queued)
            except BijmantraError as error:
                self._queue(_encode(_error_frame(error)))
            except msgspec.ValidationError as error:
                self._queue(_encode(_error_frame(ValidationFailed(str(error)))))

    async def _subscribe(self, resume: ResumePoint | None) -> None:
        async with self._hub.kept():  # a lone socket's new watch keeps the worker's consumer
            if self._pump is not None:
                # Its end, awaited without taking its cancellation for ours: a socket that
                # ended meanwhile must end (ADR 0379).
                self._pump.cancel()
                await asyncio.wait([self._pump])
            self._filter = self._filter_now()
            opened = asyncio.get_running_loop().create_future()
            self._pump = asyncio.create_task(self._run_pump(resume, opened))
            await opened  # raises NotFound for an unknown resume point

    async def _run_pump(self, resume: ResumePoint | None, opened: asyncio.Future[None]) -> None:
        """Watch the organization's events through the worker's hub until the socket ends."""
        assert self._principal is not None  # verified before reading began
        tenant_id = str(self._principal.tenant_id)  # another one closes the socket (4401)
        try:
            async with self._hub.watch(
                tenant_id,
                self,
                after_event_id=None if resume is None else resume.event_id,
                after_position=None if resume is None else resume.position,
            ) as watch:
                self._queue(b'{"type":"subscribed"}')  # before any event of the watch
                if not opened.done():  # cancelled when the socket's reader was
                    opened.set_result(None)
                await watch.run()
        except _Closed as closed:  # a slow client
            self._fail(closed)
        except BijmantraError as error:
            if not opened.done():
                opened.set_exception(error)
            else:  # the stream was lost after the subscription began
                self._fail(_stream_lost())
        except Exception:
            log.exception("live feed lost its stream subscription")
            if not opened.done():
                opened.set_exception(Unavailable("The event stream is unavailable"))
            self._fail(_stream_lost())

    def offer(self, item: FeedItem) -> bool:
        """One event of the socket's organization, from the hub: queued when the filter admits
        it; ``False`` when the queue is full (the hub waits for ``room``, then ``overflow``)."""
        if self._fatal.done() or self._filter is None or not self._filter.admits(item):
            return True
        if self._outbox.full():
            return False
        self._outbox.put_nowait(_Event(item))
        return True

    async def room(self) -> None:
        while self._outbox.full() and not self._fatal.done():
            self._taken.clear()
            await self._taken.wait()

    def overflow(self) -> None:
        self._fail(_too_slow())

    def _filter_now(self) -> FeedFilter | None:
        """The subscription's filter for the principal verified last (``None``: none yet).
        Computed without a pause between reading both and setting it, so a subscription and
        a re-verification never leave the filter of the one before."""
        if self._principal is None or self._subscription is None:
            return None
        return feed_filter(self._principal, self._subscription, self._permissions)

    def _fail(self, closed: _Closed) -> None:
        if not self._fatal.done():
            self._fatal.set_result(closed)

    async def _until_fatal(self) -> None:
        raise await self._fatal

    def _queue(self, frame: bytes | _Event) -> None:
        try:
            self._outbox.put_nowait(frame)
        except asyncio.QueueFull:
            raise _too_slow() from None

    async def _send(self) -> None:
        """Send what waits; batching clients get the waiting events in one frame.

        Each ASGI send is a hand-off to the server's I/O thread and back; at 1,000
        events/s on a loaded host those hand-offs, one per event, fell behind the feed
        (frames waited 100-800 ms in the queue while each send took 0.2 ms)."""
        while True:
            waiting = [await self._outbox.get()]
            while not self._outbox.empty() and len(waiting) < MAX_BATCH:
                waiting.append(self._outbox.get_nowait())
            self._taken.set()
            for frame in _frames(waiting, self._batch, self._settings.resume_tokens):
                await self._socket.send_data(frame, "text")

    async def _send_now(self, message: dict[str, Any]) -> None:
        await self._socket.send_data(_encode(message), "text")

    async def _keep_alive(self) -> None:
        interval = self._settings.ping_interval
        while True:
            await asyncio.sleep(interval)
            if time.monotonic() - self._last_heard > 2 * interval:
                raise _Closed(CLOSE_KEEPALIVE_TIMEOUT, "no pong")
            try:
                await self._still_authorized()
            except Unauthorized:
                raise _Closed(CLOSE_UNAUTHORIZED, "token expired or revoked") from None
            self._queue(b'{"type":"ping"}')

    async def _still_authorized(self) -> None:
        """Raises ``Unauthorized`` once the connection may no longer receive events: its token
        expired or was revoked (the JWT verifier: a member removed or given other roles), or
        it names another member or organization now. Otherwise the filter follows the
        principal verified now, so a verifier that reads live roles narrows the feed within
        one interval too (ADR 0347)."""
        principal = await self._verifier.verify(self._token)
        before = self._principal
        if before is None or (principal.tenant_id, principal.subject) != (
            before.tenant_id,
            before.subject,
        ):
            raise Unauthorized("The token names another member now")
        if principal != before:
            self._principal = principal
            self._filter = self._filter_now()


def _too_slow() -> _Closed:
    return _Closed(CLOSE_SLOW_CONSUMER, "slow consumer: resume after your last frame")


def _stream_lost() -> _Closed:
    return _Closed(CLOSE_UNAVAILABLE, "event stream unavailable; reconnect and resume")


@dataclass(frozen=True, slots=True)
class _Event:
    item: FeedItem  # shared with the worker's other sockets, not copied

    def resume_after(self, tokens: ResumeTokens) -> bytes:
        """``,"resumeAfter":"<token>"}``: the end of a frame whose last event this is."""
        return b',"resumeAfter":"' + tokens.issue(self.item).encode() + b'"}'


def _frames(waiting: list[bytes | _Event], batch: bool, tokens: ResumeTokens) -> list[bytes]:
    """Frames for what waits, in order: control frames as they are, events one per frame
    or (``batch``) each run of consecutive events in one frame; an event frame ends with the
    resume token of its last event."""
    frames: list[bytes] = []
    run: list[_Event] = []
    for item in [*waiting, b""]:  # the empty sentinel flushes the last run
        if isinstance(item, _Event):
            if batch:
                run.append(item)
            else:
                frames.append(
                    b'{"type":"event","event":' + item.item.payload + item.resume_after(tokens)
                )
            continue
        if run:
            events = b",".join(event.item.payload for event in run)
            frames.append(
                b'{"type":"events","events":[' + events + b"]" + run[-1].resume_after(tokens)
            )
            run = []
        if item:
            frames.append(item)
    return frames


def _decode_frame(raw: str | bytes, shape: type[T]) -> T:
    """A frame within the bounds of any request body (depth, UTF-8): a frame nested 10,000
    deep is answered with an error frame like any invalid one, not a 4500 close."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    frame: T = decode_bounded(data, "a JSON object", shape=shape)
    return frame


def _frame_type(raw: str | bytes) -> str:
    try:
        return _decode_frame(raw, _Frame).type
    except ValidationFailed:
        raise ValidationFailed(
            'Frames are JSON objects with "type": subscribe, ping or pong'
        ) from None


def upgrade_token(socket: WebSocket[Any, Any, Any]) -> str:
    """The bearer token of the upgrade request: its Authorization header, else a subprotocol
    ``bearer.<token>`` (a JWT's characters are all allowed in one); ``""`` when neither."""
    scheme, _, token = socket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    offered: list[str] = socket.scope.get("subprotocols") or []
    carried = (
        p.removeprefix(BEARER_SUBPROTOCOL) for p in offered if p.startswith(BEARER_SUBPROTOCOL)
    )
    return next(carried, "").strip()


@websocket("/ws", opt={"public": True})
async def live_feed(socket: WebSocket[Any, Any, Any]) -> None:
    await LiveConnection(socket).serve()
