"""The SMTA report's Content-Type names its charset once (ADR 0365): the handler gave
``text/csv; charset=utf-8`` and Litestar appended its own, so clients read
``text/csv; charset=utf-8; charset=utf-8``, a parameter repeated, which RFC 9110 leaves
undefined."""

from __future__ import annotations

import uuid
from typing import Any

from bijmantra.kernel import Principal, TenantId

TOKEN = "viewer-token"


async def test_the_smta_report_names_its_charset_once(gateway_on_fakes: Any) -> None:
    viewer = Principal("v1", TenantId(uuid.uuid4()), frozenset({"viewer"}))
    async with gateway_on_fakes({TOKEN: viewer}) as on:
        answer = await on.client.get(
            "/api/v1/agreements/smta-report", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        assert answer.headers["cache-control"] == "no-store"
