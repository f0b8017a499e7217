"""The genotype store's port and the values that cross it: stored variant sets, dosage and call
chunks, and the rows of the genotype views."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

from bijmantra.domain import DomainEvent
from bijmantra.domain.genotyping import CallSet, VariantSet
from bijmantra.domain.genotyping.filters import VariantThresholds


class GenotypeBlock(Protocol):
    """Consecutive variants of an import; ``dosages`` is an int8 (variants x samples) array."""

    @property
    def chrom(self) -> list[str]: ...

    @property
    def pos(self) -> Any: ...

    @property
    def ids(self) -> list[str]: ...

    @property
    def ref(self) -> list[str]: ...

    @property
    def alt(self) -> list[str]: ...

    @property
    def dosages(self) -> Any: ...

    @property
    def calls(self) -> Any:
        """A ``CallBlock`` beside the dosages, or None when the dosages are the calls."""

    def __len__(self) -> int: ...


class GenotypeUpload(Protocol):
    """A genotype file being received and parsed: samples first, then variant blocks."""

    @property
    def skipped(self) -> Mapping[str, int]: ...

    async def sample_names(self) -> list[str]: ...

    def blocks(self) -> AsyncIterator[GenotypeBlock]: ...

    @property
    def contig_lengths(self) -> Mapping[str, int | None]:
        """Contigs the file's header declares, with their lengths where given."""
        ...


class VariantSetWriter(Protocol):
    async def append(self, block: GenotypeBlock) -> None: ...

    async def close(self) -> int:
        """Write what is buffered; return the number of variants stored."""
        ...


@dataclass(frozen=True, slots=True)
class ChunkRead:
    """What ``GenotypeStore.read`` yields: ``columns`` selects (and orders) samples, None = all.

    ``packed``: the reader decodes 2-bit codes itself, so chunks may travel encoded (codec
    ``2bit``); otherwise they are raw int8. ``variants=False``: the reader needs dosages
    only, so chunks carry no chrom/pos/ids (not even read from the database)."""

    variant_set_db_id: str
    columns: Sequence[int] | None = None
    packed: bool = False
    variants: bool = True


@dataclass(frozen=True, slots=True)
class Submatrix:
    """The calls of ``variants`` (indexes, ascending) x ``columns`` of a stored variant set."""

    variant_set_db_id: str
    variants: Sequence[int]
    columns: Sequence[int]


class GenotypeStore(Protocol):
    """Variant sets whose calls are stored as compressed dosage chunks, never one row per call."""

    async def create(self, variant_set: VariantSet) -> VariantSetWriter: ...

    async def seal(self, variant_set: VariantSet) -> None: ...

    async def get(self, variant_set_db_id: str) -> StoredVariantSet | None: ...

    def read(self, request: ChunkRead) -> AsyncIterator[GenotypeChunk]:
        """The chunks of ``request.variant_set_db_id`` in variant order, as ``request`` asks."""
        ...

    def read_calls(
        self, variant_set_db_id: str, start: int, stop: int, columns: Sequence[int] | None
    ) -> AsyncIterator[CallChunk]:
        """The calls of variants ``start`` to ``stop`` (exclusive), chunk by chunk, with the
        variants' fixed columns but no alleles (REF and ALT ""): a VCF line bounds an allele,
        so a range's can be gigabytes that no call shows (ADR 0376); ``columns`` as for
        :meth:`read`."""
        ...

    async def variant_set_rows(
        self, where: GenotypeFilter, offset: int, limit: int
    ) -> tuple[list[VariantSetRow], int]:
        """Matching variant sets in import order, and how many match."""
        ...

    async def call_set_rows(
        self, where: GenotypeFilter, offset: int, limit: int
    ) -> tuple[list[CallSetRow], int]:
        """Matching call sets by variant set (import order) and column, and how many match."""
        ...

    async def variant_rows(
        self, where: GenotypeFilter, offset: int, limit: int, *, alleles: bool = True
    ) -> tuple[list[VariantRow], int]:
        """Matching variants by variant set and index, and how many match. Their REF and ALT
        are "" unless ``alleles``; with them, a page whose alleles pass ``MAX_PAGE_BYTES``
        together is refused (``page_too_large``, ADR 0376): a VCF line bounds an allele."""
        ...

    async def alt_allele_counts(
        self, variants: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], int]:
        """How many ALT alleles each existing ``(variant set, index)`` has; absent ones are
        left out. The alleles themselves stay in the store, however long they are."""
        ...

    def export(
        self, variant_set_db_id: str, file_format: str, samples: Sequence[str]
    ) -> AsyncIterator[bytes]:
        """The set's calls as a genotype file (``EXPORT_FORMATS``), header first, one
        piece per chunk: memory is one chunk whatever the set's size."""
        ...

    async def extract(self, source: Submatrix, variant_set: VariantSet) -> int:
        """Create ``variant_set`` holding the calls of ``source``; the number of variants
        written."""
        ...

    async def passing_variants(
        self, candidates: Submatrix, thresholds: VariantThresholds
    ) -> list[int]:
        """Which of the ``candidates`` variants meet ``thresholds`` over the dosages of its
        columns; one pass over the chunks, one chunk in memory."""
        ...

    async def update_calls(self, variant_set_db_id: str, edits: Sequence[CallEdit]) -> None:
        """Replace these calls in their chunks (locked for the transaction), keeping the
        dosage codes the kernels read in step with them."""
        ...

    async def hold(self, variant_set_db_id: str) -> bool:
        """Keep the set from being deleted until the unit of work ends, for a reader whose
        statements span its chunks (a stream, an export, an extract); a delete under way is
        waited for. False when the organization has no such set (ADR 0345)."""
        ...

    async def locked(self, variant_set_db_id: str) -> VariantSetRow | None:
        """The set, locked until the unit of work ends: an analysis requested of it meanwhile
        waits, then finds it gone (ADR 0345). None when the organization has no such set."""
        ...

    async def delete(self, variant_set_db_id: str) -> None:
        """Remove a set :meth:`locked` found, with its call sets, variants and chunks, in
        statements of bounded size within the unit of work."""
        ...

    async def flush(self) -> list[DomainEvent]: ...


@dataclass(frozen=True, slots=True)
class StoredVariantSet:
    variant_set_db_id: str
    name: str
    source_format: str
    n_variants: int
    call_sets: list[CallSet]
    skipped: dict[str, int]
    created_at: str

    def document(self) -> dict[str, Any]:
        return {
            "variantSetDbId": self.variant_set_db_id,
            "variantSetName": self.name,
            "sourceFormat": self.source_format,
            "variantCount": self.n_variants,
            "callSetCount": len(self.call_sets),
            "variantsSkipped": self.skipped,
            "created": self.created_at,
            "callSets": [
                {
                    "callSetDbId": c.call_set_db_id,
                    "sampleName": c.sample_name,
                    "germplasmDbId": c.germplasm_db_id,
                    "ploidy": c.ploidy,
                }
                for c in self.call_sets
            ],
        }


@dataclass(frozen=True, slots=True)
class GenotypeChunk:
    """Dosages of ``n_variants`` consecutive variants from ``variant_start``, int8 row-major.

    ``codec`` is ``raw`` (int8) or ``2bit`` (``bijmantra.genomics.packing``), the latter
    only for readers that asked for packed chunks.
    """

    variant_start: int
    n_variants: int
    n_samples: int
    codec: str
    dosages: bytes
    chrom: list[str] = field(default_factory=list)
    pos: list[int] = field(default_factory=list)
    variant_db_ids: list[str] = field(default_factory=list)


class CallBlock(Protocol):
    """Calls of consecutive variants x call sets (``bijmantra.genomics.calls.CallMatrix``):
    allele indexes ``(variants, samples, width)`` (-1 missing, -2 past the ploidy), phase,
    and FORMAT values by key (NaN where absent)."""

    @property
    def alleles(self) -> Any: ...

    @property
    def phased(self) -> Any: ...

    @property
    def fields(self) -> Any: ...

    def __len__(self) -> int: ...

    def pick(self, rows: Sequence[int]) -> Self:
        """The given variants (rows), in that order."""
        ...

    def joined(self, following: Sequence[Self]) -> Self:
        """These calls followed by those of the next variants."""
        ...

    def texts(
        self, sep_phased: str, sep_unphased: str, unknown: str, expand_homozygotes: bool
    ) -> list[list[str]]:
        """Every call spelled as BrAPI asks, ``(variants, samples)``."""
        ...

    def texts_json(
        self, sep_phased: str, sep_unphased: str, unknown: str, expand_homozygotes: bool
    ) -> bytes:
        """The same spellings as a JSON array of rows (a page's bytes, no str per call)."""
        ...

    def coded_texts(
        self, sep_phased: str, sep_unphased: str, unknown: str, expand_homozygotes: bool
    ) -> tuple[bytes, list[bytes]] | None:
        """The same spellings as one byte per call (row-major) naming one of the distinct
        spellings (JSON strings); None past 256 distinct calls."""
        ...

    def field_texts(self, name: str, unknown: str) -> list[list[str]]:
        """One FORMAT field (DS, GQ, DP) as text, ``unknown`` where absent."""
        ...


@dataclass(frozen=True, slots=True)
class CallChunk:
    """Calls of ``len(chrom)`` consecutive variants from ``variant_start``."""

    variant_start: int
    chrom: list[str]
    pos: list[int]
    names: list[str]
    ref: list[str]
    alt: list[str]  # comma-joined ALT alleles, "" for none
    calls: CallBlock


NOWHERE = 2**62


@dataclass(frozen=True, slots=True)
class GenotypeFilter:
    """Which rows a view reads; an empty tuple means any."""

    variant_set_db_ids: tuple[str, ...] = ()
    call_set_db_ids: tuple[str, ...] = ()
    call_set_names: tuple[str, ...] = ()
    germplasm_db_ids: tuple[str, ...] = ()
    variants: tuple[tuple[str, int], ...] = ()  # (variant set, variant index)
    reference_set_db_ids: tuple[str, ...] = ()  # the variant set's reference set
    references: tuple[tuple[str, str], ...] = ()  # (reference set, contig name)
    chrom: str | None = None
    start: int = 0  # 1-based positions, inclusive
    end: int = NOWHERE


@dataclass(frozen=True, slots=True)
class VariantSetRow:
    variant_set_db_id: str
    name: str
    source_format: str
    n_variants: int
    n_call_sets: int
    created: str
    reference_set_db_id: str | None = None


@dataclass(frozen=True, slots=True)
class CallSetRow:
    call_set_db_id: str
    sample_name: str
    germplasm_db_id: str
    variant_set_db_id: str
    column: int
    ploidy: int
    created: str


@dataclass(frozen=True, slots=True)
class VariantRow:
    variant_set_db_id: str
    index: int
    chrom: str
    pos: int
    name: str
    ref: str
    alt: str  # comma-joined, "" for none
    reference_set_db_id: str | None = None  # its variant set's (ADR 0273)

    @property
    def db_id(self) -> str:
        return variant_db_id(self.variant_set_db_id, self.index)


def variant_db_id(variant_set_db_id: str, index: int) -> str:
    return f"{variant_set_db_id}:{index}"


@dataclass(frozen=True, slots=True)
class CallEdit:
    """One call a ``PUT /calls`` replaces: where it is in the chunks and what it becomes."""

    variant_index: int
    column: int
    alleles: tuple[int, ...]  # -1 for a missing allele
    phased: bool
    n_alt: int  # the variant's ALT alleles, for the kernels' dosage of the call
    fields: dict[str, float] = field(default_factory=dict)  # DS/GQ/DP given; others cleared
