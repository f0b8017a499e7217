"""The in-memory ``StorageReader`` (ADR 0343): what an organization stores, summed from the
fake database's own committed sets, contents and results, as PostgreSQL sums its rows; the
caps as a test sets them (the fake unit of work checks nothing at commit; PostgreSQL's does)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bijmantra.application.analysis import Artifact
from bijmantra.domain.tenancy.storage import Standing, StoredResource
from bijmantra.kernel import TenantId
from bijmantra.testkit.genotype_fakes import _StoredSet


@dataclass
class StorageCapTables:
    """``caps``: the deployment's (a resource not named is not capped); ``own``: an operator's
    cap for one organization."""

    caps: dict[StoredResource, int] = field(default_factory=dict)
    own: dict[tuple[TenantId, StoredResource], int] = field(default_factory=dict)


class FakeStorageReader:
    def __init__(
        self,
        tables: StorageCapTables,
        tenant: TenantId,
        variant_sets: Mapping[tuple[TenantId, str], _StoredSet],
        contents: Mapping[tuple[TenantId, str, str], tuple[str, bytes]],
        results: Mapping[tuple[TenantId, str], tuple[dict[str, bytes], list[Artifact]]],
    ) -> None:
        self._tables, self._tenant = tables, tenant
        self._sets, self._contents, self._results = variant_sets, contents, results

    async def standing(self, resource: StoredResource) -> Standing | None:
        deployment = self._tables.caps.get(resource)
        if deployment is None:
            return None
        cap = self._tables.own.get((self._tenant, resource), deployment)
        return Standing(resource, self._used(resource), cap)

    def _used(self, resource: StoredResource) -> int:
        mine = self._tenant
        if resource is StoredResource.GENOTYPE_CALLS:
            return sum(
                s.variant_set.n_variants * len(s.variant_set.call_sets)
                for (tenant, _), s in self._sets.items()
                if tenant == mine
            )
        if resource is StoredResource.UPLOAD_BYTES:
            return sum(
                len(c) for (tenant, _, _), (_, c) in self._contents.items() if tenant == mine
            )
        return sum(
            sum(map(len, tables.values())) + sum(len(a.data or b"") for a in artifacts)
            for (tenant, _), (tables, artifacts) in self._results.items()
            if tenant == mine
        )
