"""Figures draw the organization's data as plain text (ADR 0365): a sample, an attribute's
value or a chromosome named with ``$...$`` was read as mathtext and, malformed, raised at
``savefig``. The completed job's figures then stayed pending for good, and the worker
computed the analysis again on each redelivery of its message before dead-lettering it."""

from __future__ import annotations

import time
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytest
from bijmantra.analytics_worker import plots

MARKUP = ["$\\frac{$", "$x^x^x^x$", "$" + "\\sqrt{" * 40 + "x" + "}" * 40 + "$", "a $ b"]


def _drawn(figure: plots.Figure) -> list[tuple[str, str, bytes]]:
    files = figure.render()
    assert [(name, media) for name, media, _ in files] == figure.files
    assert files[0][2].startswith(b"\x89PNG")
    assert b"<svg" in files[1][2]
    return files


def test_markup_in_labels_is_drawn_as_written() -> None:
    before = set(plt.get_fignums())
    n = len(MARKUP) * 3
    x, y = np.linspace(0, 1, n), np.linspace(1, 0, n)
    labels = [MARKUP[i % len(MARKUP)] for i in range(n)]
    _drawn(
        plots.later(
            plots.scatter,
            x,
            y,
            labels,
            stem="pca",
            title="Principal components",
            legend="$\\frac{$",
            xlabel="PC1",
            ylabel="PC2",
        )
    )
    chrom = [MARKUP[i // 3] for i in range(n)]
    _drawn(plots.later(plots.manhattan, chrom, np.arange(n), np.full(n, 0.5), stem="manhattan"))
    assert set(plt.get_fignums()) == before


def test_a_figure_that_fails_to_save_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    figure, _ = plt.subplots()

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ValueError("cannot draw")

    monkeypatch.setattr(figure, "savefig", refuse)
    with pytest.raises(ValueError, match="cannot draw"):
        plots._save(figure, "broken")
    assert figure.number not in plt.get_fignums()


def test_a_figure_that_cannot_be_drawn_is_left_out_and_the_others_drawn() -> None:
    """Drawing is deterministic: a figure that raised made the job's message redeliver, and
    the worker computed the whole analysis again on each delivery (ADR 0365)."""

    def broken(*, stem: str) -> plots.Files:
        raise RuntimeError(f"{stem} cannot be drawn")

    fine = plots.later(plots.qq, np.linspace(0.01, 1, 20), stem="qq")
    files, not_drawn = plots.drawn([plots.later(broken, stem="broken"), fine], "analysis-1")
    assert [name for name, _, _ in files] == [name for name, _ in fine.files]
    assert not_drawn == ["broken.png", "broken.svg"]


def test_a_manhattan_plot_of_thousands_of_contigs_is_drawn_in_one_pass() -> None:
    """A scatter call and a scan of every variant per chromosome: 5,000 contigs (a draft
    assembly's scaffolds; imports allow 50,000) took 124 s of the shared worker's CPU."""
    n = 5000
    chrom = [f"scaffold_{i}" for i in range(n)]
    started = time.monotonic()
    _drawn(plots.later(plots.manhattan, chrom, np.arange(n), np.full(n, 0.5), stem="manhattan"))
    assert time.monotonic() - started < 30


def test_long_labels_and_many_categories_are_drawn_quickly() -> None:
    """A 100 kB attribute value as a legend entry took 100 s and an 8 MB SVG; 3,000
    categories were 3,000 scatter calls, each testing every label."""
    x = np.linspace(0, 1, 3000)
    started = time.monotonic()
    files = _drawn(
        plots.later(
            plots.scatter,
            x[:10],
            x[:10],
            ["x" * 100_000 if i % 2 else "b" for i in range(10)],
            stem="pca",
            title="t",
            legend="y" * 100_000,
            xlabel="PC1",
            ylabel="PC2",
        )
    )
    assert len(files[1][2]) < 1_000_000
    _drawn(
        plots.later(
            plots.scatter,
            x,
            x,
            [f"sample {i}" for i in range(3000)],
            stem="pca",
            title="t",
            legend="sampleName",
            xlabel="PC1",
            ylabel="PC2",
        )
    )
    assert time.monotonic() - started < 30


def test_the_svg_of_a_large_gwas_holds_its_points_as_an_image() -> None:
    """One vector marker per variant: 10^5 variants made a 16 MB Manhattan SVG and an 11 MB
    QQ SVG (10x that at 10^6)."""
    n = 100_000
    p = np.random.default_rng(7).uniform(size=n)
    chrom = ["1"] * (n // 2) + ["2"] * (n - n // 2)
    for figure in (
        plots.later(plots.manhattan, chrom, np.arange(n), p, stem="manhattan"),
        plots.later(plots.qq, p, stem="qq"),
    ):
        svg = _drawn(figure)[1][2]
        assert len(svg) < 1_000_000, len(svg)
