"""A role change or removal ends the member's access tokens issued up to it, and none issued
after it (ADR 0324): stamps and issue times to the millisecond, the stamp written again once
the change is committed. To the second, a token minted just after a promotion, in the same
second, was refused as revoked (the console's sign-in right after a role change failed)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from bijmantra.application.revocation import TokenFacts, is_revoked, millisecond_stamp
from bijmantra.application.tenancy import ChangeMemberRoles, Organization, RemoveMember, UserRecord
from bijmantra.kernel import Principal, TenantId
from bijmantra.testkit.fakes import FakeRevocationList
from bijmantra.testkit.identity_fakes import IdentityTables
from bijmantra.testkit.sensors import SettableClock
from bijmantra.testkit.tenancy_fakes import FakeTenancyUnitOfWork

TENANT = TenantId(uuid.UUID("0193a000-0000-7000-8000-00000000d001"))
MEMBER = uuid.UUID("0193a000-0000-7000-8000-0000000000b1")
CHANGED_AT = 1_796_581_164.2  # the change starts 0.2 s into a second
TRANSACTION = timedelta(milliseconds=400)  # and commits 0.4 s later, still in that second


class SlowCommit(FakeTenancyUnitOfWork):
    """A transaction whose commit happens a while after it started, as on a loaded host."""

    def __init__(self, tables: IdentityTables, tenant: TenantId, clock: SettableClock) -> None:
        super().__init__(tables, tenant)
        self._clock = clock

    async def commit(self) -> None:
        self._clock.advance(TRANSACTION)
        await super().commit()


class World:
    def __init__(self) -> None:
        self.tables = IdentityTables()
        created = datetime(2026, 1, 1, tzinfo=UTC)
        organization = Organization(TENANT, "Demo", created)
        self.tables.register_member(
            organization, UserRecord(MEMBER, "m@x.org", "M", "-"), frozenset({"viewer"})
        )
        self.tables.register_member(
            organization, UserRecord(uuid.uuid4(), "a@x.org", "A", "-"), frozenset({"admin"})
        )
        self.clock = SettableClock(datetime.fromtimestamp(CHANGED_AT, UTC))
        self.revocations = FakeRevocationList()
        self.admin = Principal("admin", TENANT, frozenset({"admin"}))

    def unit_of_work(self, tenant: TenantId) -> SlowCommit:
        return SlowCommit(self.tables, tenant, self.clock)

    async def revoked(self, issued_at: float) -> bool:
        facts = TokenFacts("jti", TENANT, str(MEMBER), millisecond_stamp(issued_at))
        return is_revoked(facts, await self.revocations.state(facts))


async def test_a_token_minted_right_after_a_role_change_in_the_same_second_works() -> None:
    world = World()
    change = ChangeMemberRoles(world.unit_of_work, world.revocations, clock=world.clock)
    await change(world.admin, TENANT, MEMBER, ["breeder"])
    committed = CHANGED_AT + TRANSACTION.total_seconds()
    assert not await world.revoked(committed + 0.05)  # the member signs in with the new roles
    assert await world.revoked(CHANGED_AT - 0.1)  # held before the change
    assert await world.revoked(CHANGED_AT + 0.2)  # minted with the old roles, before the commit


async def test_a_removed_members_tokens_minted_before_the_commit_end_too() -> None:
    world = World()
    remove = RemoveMember(world.unit_of_work, world.revocations, clock=world.clock)
    await remove(world.admin, TENANT, MEMBER)
    assert await world.revoked(CHANGED_AT + TRANSACTION.total_seconds() - 0.01)


def test_stamps_keep_milliseconds_and_never_round_up() -> None:
    assert millisecond_stamp(1_796_581_164.2349) == 1_796_581_164.234
    assert millisecond_stamp(1_796_581_164.9999) < 1_796_581_165
