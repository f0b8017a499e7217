"""Checks that a use case answers what the published contract says (ADR 0250)."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

T = TypeVar("T")


def answers_as(document: Any, kind: type[T]) -> T:
    """``document`` as a client receives it (encoded by domain-api, decoded by the client),
    read strictly as the declared ``kind``: a missing, extra or mistyped field raises."""
    return msgspec.json.decode(msgspec.json.encode(document), type=kind)
