"""Standing storage caps per organization (ADR 0343): a write is refused exactly when what
the organization stores plus what the write adds passes its cap, with a refusal a client can
act on (409 ``storage_full``: resource, used, cap), distinct from the daily quota's 429."""

from __future__ import annotations

import pytest
from bijmantra.domain.tenancy.quotas import Resource
from bijmantra.domain.tenancy.storage import (
    DEFAULT_ENROLLED_DEVICES,
    DEFAULT_STORED_ANALYSIS_RESULT_BYTES,
    DEFAULT_STORED_GENOTYPE_CALLS,
    DEFAULT_STORED_UPLOAD_BYTES,
    Standing,
    StorageCaps,
    StoredResource,
    deployment_caps,
    storage_refusal,
)
from bijmantra.kernel import ErrorCode, StorageFull
from hypothesis import given
from hypothesis import strategies as st

AMOUNTS = st.integers(min_value=0, max_value=10**15)


@given(st.sampled_from(StoredResource), AMOUNTS, AMOUNTS, AMOUNTS)
def test_a_write_is_refused_exactly_when_it_would_pass_the_cap(
    resource: StoredResource, used: int, incoming: int, cap: int
) -> None:
    refusal = storage_refusal(Standing(resource, used, cap), incoming)
    assert (refusal is None) == (used + incoming <= cap)
    if refusal is not None:
        assert refusal.code is ErrorCode.STORAGE_FULL
        details = {d.location: d.message for d in refusal.details}
        assert details == {"resource": resource.value, "used": str(used), "cap": str(cap)}


def test_a_write_of_unknown_size_may_start_below_the_cap_only() -> None:
    """An import's calls are known at its end: it asks for 1, what it stores at least."""
    calls = StoredResource.GENOTYPE_CALLS
    assert storage_refusal(Standing(calls, 99, 100), 1) is None
    refused = storage_refusal(Standing(calls, 100, 100), 1)
    assert isinstance(refused, StorageFull)
    assert "genotype calls (100) would pass its cap (100)" in refused.message
    assert "nothing was stored" in refused.message
    assert storage_refusal(Standing(calls, 100, 100), 0) is None  # at commit: exactly the cap
    with pytest.raises(ValueError, match=">= 0"):
        storage_refusal(Standing(calls, 0, 1), -1)


def test_the_deployments_caps_and_an_uncapped_resource() -> None:
    assert deployment_caps().caps == {
        StoredResource.GENOTYPE_CALLS: DEFAULT_STORED_GENOTYPE_CALLS,
        StoredResource.ANALYSIS_RESULT_BYTES: DEFAULT_STORED_ANALYSIS_RESULT_BYTES,
        StoredResource.UPLOAD_BYTES: DEFAULT_STORED_UPLOAD_BYTES,
        StoredResource.ENROLLED_DEVICES: DEFAULT_ENROLLED_DEVICES,
    }
    assert deployment_caps(uploads=0, devices=0).caps.keys() == {
        StoredResource.GENOTYPE_CALLS,
        StoredResource.ANALYSIS_RESULT_BYTES,
    }
    with pytest.raises(ValueError, match=">= 0"):
        StorageCaps({StoredResource.UPLOAD_BYTES: -1})


def test_stored_names_never_collide_with_the_daily_quotas() -> None:
    """Both live in ``domain.organization_quotas``, keyed by name."""
    assert not {r.value for r in StoredResource} & {r.value for r in Resource}
    assert all(r.value.startswith("stored_") for r in StoredResource)
