"""Rate-limit and idempotency rules: route classes, quotas, the GCRA step, key scoping."""

from __future__ import annotations

import math
import uuid

import pytest
from bijmantra.application.protection.idempotency import (
    IdempotencyPolicy,
    StoredResponse,
    scoped_key,
    valid_key,
)
from bijmantra.application.protection.ratelimit import (
    Quota,
    RouteClass,
    classify,
    default_policy,
    gcra_step,
    parse_policy,
)
from bijmantra.kernel import TenantId
from hypothesis import example, given, settings
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("method", "path", "content_type", "expected"),
    [
        ("GET", "/brapi/v2/germplasm", "", RouteClass.READ),
        ("HEAD", "/api/v1/audit", "", RouteClass.READ),
        ("GET", "/brapi/v2/search/germplasm/abc", "", RouteClass.READ),
        ("POST", "/brapi/v2/search/germplasm", "application/json", RouteClass.SEARCH),
        ("POST", "/brapi/v2/germplasm", "application/json; charset=utf-8", RouteClass.WRITE),
        ("POST", "/brapi/v2/germplasm", "", RouteClass.WRITE),
        ("PUT", "/brapi/v2/images/x/imagecontent", "image/png", RouteClass.UPLOAD),
        ("POST", "/api/v1/genotypes/imports", "multipart/form-data; boundary=x", RouteClass.UPLOAD),
        ("POST", "/api/v1/genotypes/imports", "text/plain", RouteClass.UPLOAD),
        ("POST", "/app/germplasm/x", "application/x-www-form-urlencoded", RouteClass.WRITE),
        ("POST", "/app/variantsets", "multipart/form-data; boundary=x", RouteClass.UPLOAD),
        ("DELETE", "/api/v1/organizations/x", "", RouteClass.WRITE),
    ],
)
def test_route_classes(method: str, path: str, content_type: str, expected: RouteClass) -> None:
    assert classify(method, path, content_type) is expected


def test_policy_text_overrides_named_classes_only() -> None:
    policy = parse_policy("read=10/5, upload=2/1", window_seconds=30)
    assert policy.quotas[RouteClass.READ].organization == Quota(10, 30)
    assert policy.quotas[RouteClass.READ].client == Quota(5, 30)
    assert policy.quotas[RouteClass.WRITE] == default_policy(30).quotas[RouteClass.WRITE]
    tenant = TenantId(uuid.uuid4())
    org, client = policy.buckets(RouteClass.UPLOAD, tenant, "alice")
    assert (org.key, client.key) == (f"upload:org:{tenant}", f"upload:client:{tenant}:alice")


@pytest.mark.parametrize("text", ["read=10", "reads=1/1", "read=0/1", "read=a/b", "write=5/-1"])
def test_bad_policy_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="rate limits"):
        parse_policy(text)


def test_a_burst_of_limit_passes_then_one_per_interval() -> None:
    quota = Quota(4, 1.0)  # 250 ms interval
    tat: float | None = None
    answers = []
    for now in (0, 0, 0, 0, 0, 100, 250, 260, 500):
        step = gcra_step(tat, now, quota)
        if step.allowed:
            tat = step.tat_ms
        answers.append((step.allowed, step.remaining))
    assert answers == [
        (True, 3), (True, 2), (True, 1), (True, 0),
        (False, 0), (False, 0), (True, 0), (False, 0), (True, 0),
    ]  # fmt: skip
    refused = gcra_step(tat, 510, quota)
    assert not refused.allowed
    assert math.isclose(refused.retry_after_ms, 240)


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(1, 20),
    window=st.floats(0.1, 10),
    gaps=st.lists(st.floats(0, 2000), min_size=1, max_size=200),
)
# Exactly one interval apart after a long gap: float sums once refused this request.
@example(
    limit=1,
    window=0.35191402383526194,
    gaps=[
        351.91402383526196,
        351.91402383526196,
        1451.7052028930304,
        351.91402383526196,
        1878.3340378971732,
    ],
)
def test_gcra_never_lets_more_than_burst_plus_rate_through(
    limit: int, window: float, gaps: list[float]
) -> None:
    """Over any run, allowed <= limit + elapsed / interval; spaced requests always pass."""
    quota = Quota(limit, window)
    tat: float | None = None
    now, allowed = 0.0, 0
    for gap in gaps:
        now += gap
        step = gcra_step(tat, now, quota)
        if step.allowed:
            tat, allowed = step.tat_ms, allowed + 1
        assert step.allowed or step.retry_after_ms > 0
        if gap >= quota.interval_ms:
            assert step.allowed
    assert allowed <= limit + now / quota.interval_ms + 1e-9


def test_idempotency_keys_are_scoped_and_validated() -> None:
    a, b = TenantId(uuid.uuid4()), TenantId(uuid.uuid4())
    assert scoped_key(a, "u", "k") != scoped_key(b, "u", "k")
    assert scoped_key(a, "u", "k") != scoped_key(a, "v", "k")
    assert "k" not in scoped_key(a, "u", "k").split(":", 1)[1]
    assert valid_key("8e03978e-40d5-43e8-bc93-6894a57f9324")
    assert not valid_key("")
    assert not valid_key("x" * 256)
    assert not valid_key("caf\u00e9")
    assert not valid_key("a\nb")


def test_only_results_of_running_the_request_are_kept() -> None:
    policy = IdempotencyPolicy()
    assert [policy.keeps(s) for s in (200, 201, 400, 404, 409, 422)] == [True] * 6
    assert [policy.keeps(s) for s in (408, 429, 500, 502, 503)] == [False] * 5
    assert not policy.keeps(409, "storage_full")  # refused for a full storage (ADR 0343)
    assert policy.keeps(409, "conflict")
    kept = StoredResponse.of(
        201, [("Content-Type", "application/json"), ("x-request-id", "r1")], b"{}", body_kept=True
    )
    assert kept.headers == (("content-type", "application/json"),)
    assert StoredResponse.of(201, [], b"big", body_kept=False).body == b""
