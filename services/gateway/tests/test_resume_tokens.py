"""Sealed live-feed resume tokens (ADR 0384): the stream position, shared by every
organization, is readable by gateways holding the secret and by nobody else."""

from __future__ import annotations

import base64
import uuid

import pytest
from bijmantra.application.events.live_feed import FeedItem, ResumePoint, Subscribe
from bijmantra.gateway.resume_tokens import ResumeTokens
from bijmantra.kernel import NotFound, uuid7

SECRET = "a-secret-every-replica-shares-0123456789"
OURS, THEIRS = str(uuid.uuid4()), str(uuid.uuid4())


def token_for(tokens: ResumeTokens, position: int, tenant_id: str = OURS) -> tuple[str, str]:
    event_id = str(uuid7())
    item = FeedItem(event_id, tenant_id, "germplasm.created", b"{}", position=position)
    return event_id, tokens.issue(item)


def resumes(tokens: ResumeTokens, token: str, tenant_id: str = OURS) -> ResumePoint | None:
    return tokens.resume_point(tenant_id, Subscribe(resume_after=token))


def test_another_replica_with_the_secret_reads_the_position_the_token_hides() -> None:
    event_id, token = token_for(ResumeTokens.from_secret(SECRET), 1_234_567)
    seal = token.removeprefix(event_id + ".")
    assert "1234567" not in seal
    assert "12d687" not in base64.urlsafe_b64decode(seal + "==").hex()
    assert resumes(ResumeTokens.from_secret(SECRET), token) == ResumePoint(event_id, 1_234_567)


def test_a_token_moved_altered_foreign_or_under_another_secret_is_an_unknown_event() -> None:
    tokens = ResumeTokens.from_secret(SECRET)
    event_id, token = token_for(tokens, 42)
    _, theirs = token_for(tokens, 43, THEIRS)
    seal = token.removeprefix(event_id + ".")
    forged = [
        f"{uuid7()}.{seal}",  # our seal on another event
        f"{event_id}.{theirs.rpartition('.')[2]}",  # another organization's seal
        *(
            f"{event_id}.{seal[:i]}{'B' if seal[i] == 'A' else 'A'}{seal[i + 1 :]}"
            for i in range(32)
        ),
        f"{event_id}.{seal[:-1]}",
        f"{event_id}.42",  # a position in clear
    ]
    for token_ in forged:
        with pytest.raises(NotFound) as unknown:
            resumes(tokens, token_)
        assert (
            str(unknown.value)
            == f"Event {token_.partition('.')[0]} is not in the event stream (too old, or unknown)"
        )
    for other_tokens, tenant_id in (
        (tokens, THEIRS),  # our token, sent by a member of another organization
        (ResumeTokens.from_secret("another-secret-after-a-rotation-0123456789"), OURS),
        (ResumeTokens.from_secret(""), OURS),  # a process-local key
    ):
        with pytest.raises(NotFound):
            resumes(other_tokens, token, tenant_id)


def test_a_short_secret_is_refused_at_start() -> None:
    with pytest.raises(RuntimeError, match="at least 32"):
        ResumeTokens.from_secret("short")
