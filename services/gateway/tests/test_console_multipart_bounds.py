"""A console form sent as multipart is read within the gateway's bounds (ADR 0376): its
CSRF token is looked for in the form before the page's permission is checked, so any
signed-in member could make the gateway hold a field as large as the upload route allows."""

from __future__ import annotations

import uuid
from typing import Any

from bijmantra.gateway.multipart_form import MAX_FIELD_BYTES
from bijmantra.kernel import Principal, TenantId

TOKEN = "viewer-token"


async def test_a_viewers_multipart_form_with_a_huge_field_is_refused_unread(
    gateway_on_fakes: Any,
) -> None:
    principal = Principal("u1", TenantId(uuid.uuid4()), frozenset({"viewer"}))
    async with gateway_on_fakes({TOKEN: principal}) as on:
        page = await on.client.post(
            "/app/genotypes",
            cookies=on.signed_in(principal, TOKEN),
            data={"csrf_token": "csrf", "name": "x" * (MAX_FIELD_BYTES + 1)},
            files={"file": ("a.vcf", b"##fileformat=VCFv4.3\n")},
        )
        assert page.status_code == 413
        assert "text/html" in page.headers["content-type"]
        assert f"at most {MAX_FIELD_BYTES} bytes" in page.text
