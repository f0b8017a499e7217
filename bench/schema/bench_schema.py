"""Request validation: the engine's own ``shape`` against JSON-Schema libraries.

The question (issue 18, item 9): may a library replace the hand-written validator? A batch
of germplasm new-requests (the bulk-write path) is checked against the official schema by
``shape`` (the baseline: validate, report every problem with its path, and return the
document in its full response shape) and by ``jsonschema-rs`` and ``jsonschema``, which only
validate. Each library figure is a ratio to the baseline measured in the same run;
``fastjsonschema`` is not installed here (it stops at the first error, which the error
envelope cannot use). Writes ``bench/results/schema.json``.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
from bijmantra.application.brapi.schema import SchemaSet, shape
from bijmantra.kernel import FieldError

ROOT = Path(__file__).resolve().parents[2]
BATCH = 10_000
ROUNDS = 5


def documents(n: int) -> list[dict[str, Any]]:
    return [
        {
            "germplasmName": f"B{i}",
            "germplasmPUI": f"doi:bench/{i}",
            "commonCropName": "Maize",
            "accessionNumber": f"A{i}",
            "acquisitionDate": "2020-01-31",
            "biologicalStatusOfAccessionCode": "500",
            "countryOfOriginCode": "MEX",
            "genus": "Zea",
            "species": "mays",
            "synonyms": [{"synonym": f"S{i}", "type": "Pre-Code"}],
            "donors": [{"donorAccessionNumber": f"D{i}", "donorInstituteCode": "MEX002"}],
            "additionalInfo": {"origin": "bench"},
            "externalReferences": [{"referenceId": f"r{i}", "referenceSource": "bench"}],
        }
        for i in range(n)
    ]


def best_seconds(run: Callable[[], object]) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    schema = SchemaSet("BrAPI-Germplasm").named("GermplasmNewRequest")
    batch = documents(BATCH)

    def hand_written() -> None:
        problems: list[FieldError] = []
        for document in batch:
            shape(schema, document, "", problems)
        assert not problems, problems[:3]

    rs = jsonschema_rs.validator_for(schema)

    def with_jsonschema_rs() -> None:
        for document in batch:
            assert not list(rs.iter_errors(document))

    python = jsonschema.Draft202012Validator(schema)

    def with_jsonschema() -> None:
        for document in batch:
            assert not list(python.iter_errors(document))

    baseline = best_seconds(hand_written)
    result = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "batch": BATCH,
        "baseline": {"name": "shape (validate + shape)", "seconds": round(baseline, 4)},
        "ratios_to_baseline": {
            "jsonschema-rs (validate only)": round(best_seconds(with_jsonschema_rs) / baseline, 2),
            "jsonschema (validate only)": round(best_seconds(with_jsonschema) / baseline, 2),
        },
    }
    write_result("schema.json", result)


def write_result(name: str, result: dict[str, Any]) -> None:
    """``bench/results/<name>``, and the same on stdout."""
    out = ROOT / "bench" / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
