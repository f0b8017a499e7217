"""A console form sent as multipart is read within the gateway's bounds (ADR 0376): its
CSRF token is looked for in the form before the page's permission is checked, so any
signed-in member could make the gateway hold a field as large as the upload route allows."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from bijmantra.gateway.multipart_form import MAX_FIELD_BYTES, read_url_encoded
from bijmantra.kernel import Principal, TenantId
from litestar._parsers import parse_url_encoded_form_data
from litestar.exceptions import ClientException

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


def test_an_url_encoded_form_reads_as_litestars_and_refuses_what_is_not_utf8() -> None:
    """The gateway reads url-encoded forms itself (ADR 0383): valid forms as Litestar did,
    bytes that are not UTF-8 a 400 (Litestar kept them as U+FFFD)."""
    body = b"a=1&b=x+y%21&a=2&c=&d&%C3%A9=%E2%82%AC"
    assert read_url_encoded(body) == parse_url_encoded_form_data(body)
    for bad in (b"name=%FF", b"name=%ED%A0%80", b"%FF=1"):
        with pytest.raises(ClientException, match="not UTF-8"):
            read_url_encoded(bad)
