"""How much one organization may keep, in total, of what it stores until deleted (ADR 0343).

The daily quotas (``quotas``, ADR 0340) bound how fast an organization's genotype calls,
analysis results and uploaded files grow, not how much of them it holds: they are kept until
deleted. A ``StoredResource`` has a standing cap per organization. What the organization
holds is read from the stored data itself at each heavy write (no counter to keep right on
delete, erasure, move or restore), and ``storage_refusal`` decides whether the write may add
its amount to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from bijmantra.kernel import FieldError, StorageFull


class StoredResource(StrEnum):
    """What an organization keeps until it deletes it, and its unit. The names sit beside
    the daily ``Resource``s in ``domain.organization_quotas`` (an operator's own caps)."""

    GENOTYPE_CALLS = "stored_genotype_calls"  # variants x samples of every variant set
    ANALYSIS_RESULT_BYTES = "stored_analysis_result_bytes"  # tables, artifacts and figures
    UPLOAD_BYTES = "stored_upload_bytes"  # file contents kept beside live documents (images)
    # Devices registered and not revoked: each may keep one retained MQTT publish, up to a
    # batch's bound, on the device edge (ADR 0361).
    ENROLLED_DEVICES = "stored_enrolled_devices"


_NOUNS = {
    StoredResource.GENOTYPE_CALLS: "genotype calls",
    StoredResource.ANALYSIS_RESULT_BYTES: "bytes of analysis results",
    StoredResource.UPLOAD_BYTES: "bytes of uploaded files",
    StoredResource.ENROLLED_DEVICES: "enrolled devices",
}
# 10^12 calls is 250 GB packed (2 bits a call): 50 of the largest daily imports (ADR 0340),
# e.g. 1,000,000 samples x 1,000,000 variants; more than any breeding program holds today.
DEFAULT_STORED_GENOTYPE_CALLS = 10**12
# ~25 days of the daily quota (8 GiB): hundreds of GRMs of the largest job (~0.4 GB each).
DEFAULT_STORED_ANALYSIS_RESULT_BYTES = 200 << 30
# 12,800 of the largest images (8 MiB), ~100,000 photographs of a usual 1 MiB.
DEFAULT_STORED_UPLOAD_BYTES = 100 << 30
# Enrolled (not revoked) devices: a field station's sensors many times over. On the device edge
# each may hold a retained MQTT publish of up to 4 MiB (the batch bound): 4 GiB at most per
# organization (ADR 0361).
DEFAULT_ENROLLED_DEVICES = 1000


@dataclass(frozen=True, slots=True)
class StorageCaps:
    """The deployment's cap per organization of each stored resource; a resource not named is
    not capped. An organization's own cap, where an operator set one, replaces it."""

    caps: Mapping[StoredResource, int]

    def __post_init__(self) -> None:
        for resource, cap in self.caps.items():
            if cap < 0:
                raise ValueError(f"a cap of {resource} needs to be >= 0, not {cap}")


@dataclass(frozen=True, slots=True)
class Standing:
    """What an organization holds of ``resource`` now, and its cap (its own or the
    deployment's)."""

    resource: StoredResource
    used: int
    cap: int


NO_CAPS = StorageCaps({})  # tools and tests that cap nothing


def storage_refusal(standing: Standing, incoming: int) -> StorageFull | None:
    """None when ``incoming`` more fits under the cap; else the refusal (409 ``storage_full``).

    Where the write's amount is not known before it is done (an import before it streams),
    ``incoming`` is 1, what it stores at least: an organization at its cap is refused and one
    below it may start. At commit ``used`` holds the write's own rows and ``incoming`` is 0."""
    if incoming < 0:
        raise ValueError(f"an incoming amount is >= 0, not {incoming}")
    used, cap = standing.used, standing.cap
    if used + incoming <= cap:
        return None
    if standing.resource is StoredResource.ENROLLED_DEVICES:
        # No count in the words: refused at commit, ``used`` includes the refused device.
        message = (
            f"This organization has reached its limit of {cap:,} enrolled devices: the "
            "device was not registered. Revoke a device it no longer uses, or ask an "
            "operator to raise the limit"
        )
    else:
        noun = _NOUNS[standing.resource]
        message = (
            f"This organization's stored {noun} ({used:,}) would pass its cap ({cap:,}) "
            "with this write: nothing was stored. Delete some, or ask an operator to raise "
            "the cap"
        )
    return StorageFull(
        message,
        [
            FieldError("resource", standing.resource.value),
            FieldError("used", str(used)),
            FieldError("cap", str(cap)),
        ],
    )


def deployment_caps(
    *,
    calls: int = DEFAULT_STORED_GENOTYPE_CALLS,
    results: int = DEFAULT_STORED_ANALYSIS_RESULT_BYTES,
    uploads: int = DEFAULT_STORED_UPLOAD_BYTES,
    devices: int = DEFAULT_ENROLLED_DEVICES,
) -> StorageCaps:
    """A deployment's caps; 0 leaves that resource uncapped."""
    named = {
        StoredResource.GENOTYPE_CALLS: calls,
        StoredResource.ANALYSIS_RESULT_BYTES: results,
        StoredResource.UPLOAD_BYTES: uploads,
        StoredResource.ENROLLED_DEVICES: devices,
    }
    return StorageCaps({r: n for r, n in named.items() if n > 0})
