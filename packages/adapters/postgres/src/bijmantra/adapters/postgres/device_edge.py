"""Whether an organization still needs its stream on the device edge (ADR 0386): a device
of it holds a credential. The edge reclaims a stream only while this answer holds, so when
the answer is no, the organization's devices not revoked and its registrations are held
until the transaction ends: a claim (which locks its device's row) or a registration
(which takes the enrolled devices' lock as it adds the device) waits for the reclaiming."""

from __future__ import annotations

from bijmantra.adapters.postgres.storage import lock_stored
from bijmantra.domain.sensors import CONNECTABLE, EnrolmentState
from bijmantra.domain.tenancy.storage import StoredResource
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_CONNECTABLE = sorted(state.value for state in CONNECTABLE)
_ANY_CONNECTABLE = text(
    "SELECT EXISTS (SELECT 1 FROM domain.sensor_devices WHERE state = ANY(:states))"
)
# Row-level security keeps it to the unit of work's organization.
_HOLD_NOT_REVOKED = text(
    "SELECT state FROM domain.sensor_devices WHERE state <> :revoked FOR SHARE"
)


async def devices_can_connect(connection: AsyncConnection) -> bool:
    """True when a device is claimed or commissioned; False with the rest held."""
    found = await connection.execute(_ANY_CONNECTABLE, {"states": _CONNECTABLE})
    if found.scalar_one():
        return True
    await lock_stored(connection, StoredResource.ENROLLED_DEVICES)
    held = await connection.execute(_HOLD_NOT_REVOKED, {"revoked": EnrolmentState.REVOKED.value})
    # A claim committed between the two reads: the row locked is its newest version.
    return any(state in _CONNECTABLE for (state,) in held)
