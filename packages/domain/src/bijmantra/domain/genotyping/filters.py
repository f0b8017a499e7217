"""Variant filters of the allele matrix: minor-allele frequency, call rate, heterozygosity.

A documented extension of BrAPI (what Gigwa users ask for; ADR 0199): ``minMaf``,
``minCallRate`` and ``maxHeterozygosity``, each a fraction from 0 to 1, in a query string
or a search body. Statistics are over the dosage view (biallelic, diploid calls) of the
call sets the request selects.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bijmantra.kernel import FieldError, ValidationFailed

MAX_FILTERED_VARIANTS = 500_000  # variants a filtered read may weigh (their rows are held)


@dataclass(frozen=True, slots=True)
class VariantThresholds:
    min_maf: float | None = None
    min_call_rate: float | None = None
    max_heterozygosity: float | None = None

    @property
    def active(self) -> bool:
        return any(
            bound is not None
            for bound in (self.min_maf, self.min_call_rate, self.max_heterozygosity)
        )


def _fraction(params: Mapping[str, Any], name: str) -> float | None:
    raw = params.get(name)
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValidationFailed("Invalid filter", [FieldError(name, "a number from 0 to 1")])
    try:
        value = float(raw)
    except ValueError:
        raise ValidationFailed(
            "Invalid filter", [FieldError(name, "a number from 0 to 1")]
        ) from None
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise ValidationFailed("Invalid filter", [FieldError(name, "a number from 0 to 1")])
    return value


def variant_thresholds(params: Mapping[str, Any]) -> VariantThresholds:
    return VariantThresholds(
        _fraction(params, "minMaf"),
        _fraction(params, "minCallRate"),
        _fraction(params, "maxHeterozygosity"),
    )
