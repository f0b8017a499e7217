"""Live-feed resume tokens, sealed (ADR 0384).

A token names the event a client last saw and where the stream stored it. That position
counts the messages of every organization (they share one stream), so in clear it told a
member how much the whole platform stored between two of their events. The position is
sealed with AES-SIV under a key every gateway replica derives from ``GATEWAY_RESUME_SECRET``,
the organization and event id bound as associated data: a client can neither read it nor
move it to another event or organization. SIV is deterministic and needs no nonce, so the
number of tokens issued under one key is not bounded as AES-GCM's random nonces would be.
"""

from __future__ import annotations

import base64
import secrets

from bijmantra.application.events.live_feed import (
    FeedItem,
    ResumePoint,
    Subscribe,
    not_in_stream,
    read_resume_token,
)
from bijmantra.observability import get_logger
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = get_logger(__name__)

MIN_SECRET = 32  # characters of GATEWAY_RESUME_SECRET
_PURPOSE = b"bijmantra live-feed resume token v1"  # another purpose derives another key


class ResumeTokens:
    """Issues and opens resume tokens: ``<event id>.<sealed position>``."""

    def __init__(self, secret: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=_PURPOSE).derive(secret)
        self._siv = AESSIV(key)

    @classmethod
    def from_secret(cls, secret: str) -> ResumeTokens:
        """Tokens under ``secret``; without one, under a key of this process alone (a laptop):
        a token then resumes on no other worker or replica and not after a restart."""
        if not secret:
            log.warning("GATEWAY_RESUME_SECRET is unset: resume tokens work on this process only")
            return cls(secrets.token_bytes(MIN_SECRET))
        if len(secret) < MIN_SECRET:
            raise RuntimeError(f"GATEWAY_RESUME_SECRET needs at least {MIN_SECRET} characters")
        return cls(secret.encode())

    def issue(self, item: FeedItem) -> str:
        """The ``resumeAfter`` of a frame whose last event is ``item``."""
        sealed = self._siv.encrypt(
            item.position.to_bytes(8, "big"), _bound(item.tenant_id, item.event_id)
        )
        return f"{item.event_id}.{base64.urlsafe_b64encode(sealed).rstrip(b'=').decode()}"

    def resume_point(self, tenant_id: str, request: Subscribe) -> ResumePoint | None:
        """Where a subscription ``feed_filter`` accepted resumes (``None``: from now). A token
        this organization was not issued for its event — forged, altered, another's, sealed
        under a retired secret — is the ``NotFound`` of an unknown event."""
        if request.resume_after is None:
            return None if request.resume_from is None else ResumePoint(request.resume_from)
        token = read_resume_token(request.resume_after)
        assert token is not None  # feed_filter refused it otherwise
        try:
            sealed = base64.urlsafe_b64decode(token.sealed + "=" * (-len(token.sealed) % 4))
            position = self._siv.decrypt(sealed, _bound(tenant_id, token.event_id))
        except (InvalidTag, ValueError):
            raise not_in_stream(token.event_id) from None
        return ResumePoint(token.event_id, int.from_bytes(position, "big"))


def _bound(tenant_id: str, event_id: str) -> list[bytes]:
    return [tenant_id.encode(), event_id.encode()]
