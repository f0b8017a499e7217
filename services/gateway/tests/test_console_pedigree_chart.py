"""The console's pedigree chart over stored pedigree nodes, including rows a write kept before
the edge refused ``null`` list items."""

from __future__ import annotations

from bijmantra.gateway.console.pedigree import ancestry


def test_a_null_parent_kept_by_an_old_write_is_passed_over() -> None:
    pedigree = [
        {
            "germplasmDbId": "child",
            "parents": [
                None,
                {"germplasmDbId": "mum", "germplasmName": "Mum", "parentType": "FEMALE"},
                {"germplasmDbId": "dad", "germplasmName": "Dad", "parentType": "MALE"},
            ],
        },
        {"germplasmDbId": "mum", "parents": [None]},
    ]
    chart = ancestry(pedigree, "child", "Child", generations=2)
    assert sorted((box.db_id, box.name, box.generation) for box in chart.boxes) == [
        ("child", "Child", 0),
        ("dad", "Dad", 1),
        ("mum", "Mum", 1),
    ]
    assert len(chart.edges) == 2
