"""The pedigree chart layout: slots double per generation, unknown parents leave gaps."""

from __future__ import annotations

from bijmantra.domain.germplasm import MAX_CHART_GENERATIONS, ChartNode, ancestry_chart
from hypothesis import given, settings
from hypothesis import strategies as st

PARENTS: dict[str, tuple[str | None, str | None]] = {
    "c": ("m", "f"),
    "m": ("mm", None),
    "f": ("x", "x"),  # selfed: the same ancestor in two slots
}


def test_layout_places_parents_in_their_childs_two_slots() -> None:
    chart = ancestry_chart("c", PARENTS, 2)
    assert chart == [
        ChartNode("c", 0, 0),
        ChartNode("m", 1, 0),
        ChartNode("f", 1, 1),
        ChartNode("mm", 2, 0),
        ChartNode("x", 2, 2),
        ChartNode("x", 2, 3),
    ]


def test_generations_are_bounded() -> None:
    chained = {str(i): (str(i + 1), None) for i in range(50)}
    chart = ancestry_chart("0", chained, 1000)
    assert max(n.generation for n in chart) == MAX_CHART_GENERATIONS
    assert ancestry_chart("0", chained, -3) == [ChartNode("0", 0, 0)]


@settings(max_examples=50)
@given(
    st.integers(0, 8),
    st.dictionaries(
        st.text("ab", max_size=3),
        st.tuples(st.none() | st.text("ab", max_size=3), st.none() | st.text("ab", max_size=3)),
    ),
)
def test_slots_are_unique_within_range_and_each_has_its_child(
    generations: int, parents: dict[str, tuple[str | None, str | None]]
) -> None:
    chart = ancestry_chart("", parents, generations)
    places = {(n.generation, n.slot) for n in chart}
    assert len(places) == len(chart)
    for node in chart:
        assert 0 <= node.slot < 2**node.generation
        assert node.generation == 0 or (node.generation - 1, node.slot // 2) in places
