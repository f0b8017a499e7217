"""``/app/ws``: the live event feed for console pages, authenticated by the session cookie.

The console's page holds no token, so it cannot sign in to ``/ws`` with the upgrade's
``bearer.<token>`` subprotocol (ADR 0382); this endpoint finds the session behind the
cookie and serves the same protocol (``gateway.live``) with the session's access token.
The upgrade must come from the console's own origin: a cookie alone would let any site
open a socket in the user's name (cross-site WebSocket hijacking).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from bijmantra.application.console import ConsoleSessions, SignedIn
from bijmantra.gateway.console.web import COOKIE, PREFIX, PUBLIC
from bijmantra.gateway.live import LiveConnection
from bijmantra.kernel import Principal, Unauthorized
from litestar import WebSocket, websocket

CLOSE_FORBIDDEN = 4403
CLOSE_UNAUTHORIZED = 4401


class SessionLiveConnection(LiveConnection):
    """The feed's connection, signed in already: its first frame need not carry a token."""

    def __init__(self, socket: WebSocket[Any, Any, Any], signed_in: SignedIn) -> None:
        super().__init__(socket)
        self._signed_in = signed_in
        self._sessions: ConsoleSessions = socket.app.state.console_sessions
        self._cookie = socket.cookies.get(COOKIE)

    async def _authenticate(self) -> Principal:
        self._token = self._signed_in.session.access_token
        return self._signed_in.principal

    async def _still_authorized(self) -> None:
        """While its session lasts: signed out (everywhere, or the session ended) closes the
        socket at the next ping, as its token would expire; a refreshed token carries on."""
        current = await self._sessions.current(self._cookie)
        if current is None:
            raise Unauthorized("The console session has ended")
        self._token = current.session.access_token
        await super()._still_authorized()


def same_origin(socket: WebSocket[Any, Any, Any]) -> bool:
    origin = socket.headers.get("origin")
    return bool(origin) and urlsplit(origin).netloc == socket.headers.get("host")


@websocket(f"{PREFIX}/ws", opt={"public": True, PUBLIC: True}, name="console:ws")
async def console_feed(socket: WebSocket[Any, Any, Any]) -> None:
    if not same_origin(socket):
        await socket.close(CLOSE_FORBIDDEN, "cross-origin")
        return
    sessions: ConsoleSessions = socket.app.state.console_sessions
    signed_in = await sessions.current(socket.cookies.get(COOKIE))
    if signed_in is None:
        await socket.close(CLOSE_UNAUTHORIZED, "sign in")
        return
    await SessionLiveConnection(socket, signed_in).serve()


ROUTES = [console_feed]
