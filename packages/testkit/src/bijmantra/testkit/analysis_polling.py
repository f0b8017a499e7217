"""Waiting on an analysis through ``/api/v1`` until it ends, as a client of a running stack."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

FINISHED = frozenset({"completed", "failed", "cancelled"})


async def finished_analysis(
    client: httpx.AsyncClient,
    analysis_db_id: str,
    patience: float = 120,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The analysis's document once its status is final; fails the test after ``patience``
    seconds, naming the last document seen."""
    deadline = time.monotonic() + patience
    document: dict[str, Any] = {}
    while time.monotonic() < deadline:
        path = f"/api/v1/analyses/{analysis_db_id}"
        document = (await client.get(path, headers=headers)).json()["data"]
        if document["status"] in FINISHED:
            return document
        await asyncio.sleep(0.1)
    raise AssertionError(f"analysis {analysis_db_id} did not finish: {document}")
