"""What crosses the genotyping boundary: import specs and summaries, stored sets, chunks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ImportSpec:
    variant_set_name: str
    source_format: str
    common_crop_name: str
