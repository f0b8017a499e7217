"""The typed values the BrAPI rules read documents into: seed-lot transfers, pedigree
nodes and their progeny, and a scale's own definition."""

from __future__ import annotations

from bijmantra.domain.germplasm import (
    InsufficientSeed,
    PedigreeNode,
    apply_transfers,
    find_cycle,
    pedigree_graph,
    progeny_by_parent,
    progeny_of,
    stored_amount,
    transfer_problems,
)
from bijmantra.domain.germplasm.seedlots import SeedLotTransfer
from bijmantra.domain.phenotyping import Scale, UnitPosition, hierarchy_problems
from hypothesis import given, settings
from hypothesis import strategies as st

amounts = st.floats(0, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=100, deadline=None)
@given(
    st.floats(allow_nan=False), st.sampled_from([None, "a", "b"]), st.sampled_from([None, "a", "b"])
)
def test_a_transfer_is_refused_exactly_when_it_moves_nothing_nowhere_or_in_place(
    amount: float, from_lot: str | None, to_lot: str | None
) -> None:
    fields = {field for field, _ in transfer_problems(amount, from_lot, to_lot)}
    assert ("amount" in fields) == (amount <= 0)
    assert ("" in fields) == ((from_lot is None and to_lot is None) or from_lot == to_lot)


def test_a_missing_amount_is_a_problem() -> None:
    assert transfer_problems(None, "a", None) == [("amount", "must be a positive number")]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(amounts, st.booleans()), max_size=20), amounts)
def test_the_ledger_never_creates_or_loses_seed(
    moves: list[tuple[float, bool]], start: float
) -> None:
    transfers = [
        SeedLotTransfer(a, *(("a", "b") if forward else ("b", "a"))) for a, forward in moves
    ]
    try:
        after = apply_transfers({"a": start, "b": start}, transfers)
    except InsufficientSeed:  # an overdraft: nothing is stored
        return
    assert abs(sum(after.values()) - 2 * start) <= 1e-6 * max(1.0, start) * (len(moves) + 1)
    assert min(after.values()) >= 0


def test_whole_balances_are_stored_as_integers() -> None:
    assert stored_amount(12.0) == 12
    assert isinstance(stored_amount(12.0), int)
    assert stored_amount(2.5) == 2.5


def _node(db_id: str, *parents: tuple[str | None, str | None]) -> PedigreeNode:
    return PedigreeNode.from_brapi(
        {
            "germplasmDbId": db_id,
            "germplasmName": db_id.upper(),
            "parents": [{"germplasmDbId": p, "parentType": t} for p, t in parents],
        }
    )


def test_progeny_lists_each_naming_of_the_parent_with_its_role() -> None:
    children = [
        _node("c1", ("p", "FEMALE"), ("q", "MALE")),
        _node("c2", ("p", "SELF"), ("p", "SELF")),
    ]
    found = [(o.germplasm_db_id, o.parent_type) for o in progeny_of("p", children)]
    assert found == [("c1", "FEMALE"), ("c2", "SELF"), ("c2", "SELF")]
    assert progeny_of("nobody", children) == []


_links = st.lists(
    st.tuples(
        st.sampled_from(["p", "q", "r", "", None]), st.sampled_from(["FEMALE", "MALE", None])
    ),
    max_size=3,
)


@settings(max_examples=100, deadline=None)
@given(st.lists(_links, max_size=6))
def test_progeny_by_parent_is_progeny_of_every_parent_in_one_pass(
    links: list[list[tuple[str | None, str | None]]],
) -> None:
    children = [_node(f"c{i}", *named) for i, named in enumerate(links)]
    grouped = progeny_by_parent(children)
    for parent in ("p", "q", "r"):
        assert grouped.get(parent, []) == progeny_of(parent, children)
    assert set(grouped) <= {"p", "q", "r"}


def test_written_nodes_replace_stored_ones_in_the_graph() -> None:
    stored = [_node("a", ("b", "FEMALE")), _node("b")]
    assert find_cycle(pedigree_graph(stored)) is None
    written = [_node("b", ("a", "MALE"), (None, "MALE"))]
    graph = pedigree_graph(stored, written)
    assert graph == {"a": ["b"], "b": ["a"]}
    cycle = find_cycle(graph)
    assert cycle is not None
    assert cycle.path[0] == cycle.path[-1]


def test_a_scale_definition_with_reversed_or_foreign_bounds_and_repeated_categories() -> None:
    reversed_bounds = Scale.from_brapi(
        {"dataType": "Numerical", "validValues": {"minimumValue": "10", "maximumValue": "2"}}
    )
    assert reversed_bounds.definition_problems() == [
        ("", "minimumValue must not exceed maximumValue")
    ]
    foreign = Scale.from_brapi({"dataType": "Date", "validValues": {"minimumValue": "soon"}})
    assert [path for path, _ in foreign.definition_problems()] == [".minimumValue"]
    repeated = Scale.from_brapi(
        {"dataType": "Nominal", "validValues": {"categories": [{"value": "x"}, {"value": "x"}]}}
    )
    assert repeated.definition_problems() == [(".categories", "category values must be distinct")]
    assert Scale.from_brapi({"dataType": "Text"}).definition_problems() == []


def test_the_deprecated_min_and_max_bound_values_only_where_the_current_fields_are_absent() -> None:
    scale = Scale.from_brapi(
        {"dataType": "Numerical", "validValues": {"min": 0, "max": 5, "maximumValue": "3"}}
    )
    assert scale.bounds == (0, "3")
    assert scale.problem("4") == "must be at most 3"
    assert scale.problem("-1") == "must be at least 0"


def test_a_null_relationship_is_skipped_and_a_unit_without_a_level_accepts_any_known_ancestor() -> (
    None
):
    position = UnitPosition.from_brapi(
        {"observationLevelRelationships": [None, {"levelName": "plant"}]}
    )
    assert position.level is None
    assert hierarchy_problems(position) == []
