"""Result pictures, rendered headless (matplotlib Agg) as PNG and SVG.

Each function returns ``[(name, media_type, bytes), …]`` for one figure in both formats.
Large matrices are block-averaged before drawing: a heatmap needs no more cells than
pixels, and rendering stays a small fraction of the analysis time.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from bijmantra.observability import get_logger
from matplotlib.figure import Figure as MplFigure

log = get_logger(__name__)

FORMATS = (("png", "image/png"), ("svg", "image/svg+xml"))
# Every text is drawn as written. Labels carry the organization's data (sample names, an
# attribute's values, chromosome names), and matplotlib's default reads ``$...$`` in them
# as mathtext: a sample named ``$\frac{$`` raised at ``savefig``, so the job's figures were
# never attached and the worker computed the analysis again on each of the message's
# deliveries, four more times, before dead-lettering it (ADR 0365). Set once for the
# process (rcParams are global; figures are drawn on worker threads).
matplotlib.rcParams["text.parse_math"] = False
HEATMAP_CELLS = 400
# Text from the organization's data is cut to this many characters: matplotlib lays out
# what it is given, and a 100 kB attribute value as a legend entry took 100 s of the shared
# worker's CPU and an 8 MB SVG (ADR 0365).
LABEL_CHARS = 40
# Points are drawn as an image inside the SVG (``rasterized``): one vector marker per variant
# made a GWAS of 10^5 variants a 16 MB Manhattan SVG and an 11 MB QQ SVG, ~10x that at 10^6,
# past what the results can store or a browser open (ADR 0365). Axes and text stay vector.
LEGEND_ENTRIES = 20
TICKS_NAMED = 50
Files = list[tuple[str, str, bytes]]


@dataclass(frozen=True)
class Figure:
    """A picture to draw once the job's numbers are stored: a job completes without waiting
    for matplotlib (~0.5 s of CPU for a GRM heatmap in both formats)."""

    stem: str
    draw: Callable[..., Files]
    args: tuple[Any, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def files(self) -> list[tuple[str, str]]:
        """(name, media type) of each file ``render`` makes."""
        return [(f"{self.stem}.{extension}", media_type) for extension, media_type in FORMATS]

    def render(self) -> Files:
        return self.draw(*self.args, stem=self.stem, **self.options)


def _short(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "\u2026"


def drawn(figures: Sequence[Figure], analysis: str) -> tuple[Files, list[str]]:
    """The files of every figure that can be drawn, and the names of the files of those that
    cannot: one that raises is logged and left out, and reported withheld (ADR 0369) rather
    than left pending. Drawing is deterministic: raising here made the job's message
    redeliver, and each delivery computed the analysis again before failing the same way."""
    files: Files = []
    not_drawn: list[str] = []
    for figure in figures:
        try:
            files += figure.render()
        except Exception:
            log.exception("figure not drawn", analysis=analysis, figure=figure.stem)
            not_drawn += [name for name, _ in figure.files]
    return files, not_drawn


def later(draw: Callable[..., Files], *args: Any, stem: str, **options: Any) -> Figure:
    """``draw(*args, stem=stem, **options)``, to be called when the figure is rendered."""
    return Figure(stem, draw, args, options)


def _save(figure: MplFigure, stem: str) -> Files:
    files = []
    try:
        for extension, media_type in FORMATS:
            buffer = io.BytesIO()
            figure.savefig(buffer, format=extension, dpi=110, bbox_inches="tight")
            files.append((f"{stem}.{extension}", media_type, buffer.getvalue()))
    finally:  # pyplot keeps every open figure: one that failed to save was kept for good
        plt.close(figure)
    return files


def histogram(values: Any, *, stem: str, title: str, xlabel: str, bins: int = 40) -> Files:
    figure, axes = plt.subplots(figsize=(6, 4))
    finite = np.asarray(values, dtype=float)
    axes.hist(finite[np.isfinite(finite)], bins=bins, color="#3b7a57", edgecolor="white")
    axes.set(title=title, xlabel=xlabel, ylabel="count")
    return _save(figure, stem)


def _block_mean(matrix: Any, cells: int) -> Any:
    n = matrix.shape[0]
    if n <= cells:
        return matrix
    edges = np.linspace(0, n, cells + 1).astype(int)
    # Summed in float64 one band of rows at a time: a float64 copy of the whole float32 GRM
    # was the largest allocation of a GRM job (ADR 0338).
    rows = np.stack(
        [matrix[a:b].sum(axis=0, dtype=np.float64) for a, b in itertools.pairwise(edges)]
    )
    both = np.add.reduceat(rows, edges[:-1], axis=1)
    sizes = np.diff(edges)
    return both / np.outer(sizes, sizes)


def heatmap(matrix: Any, *, stem: str, title: str) -> Files:
    figure, axes = plt.subplots(figsize=(6, 5.2))
    shown = _block_mean(matrix, HEATMAP_CELLS)
    image = axes.imshow(shown, cmap="viridis", interpolation="nearest")
    figure.colorbar(image, ax=axes, shrink=0.8, label="relationship")
    axes.set(title=title, xlabel="sample", ylabel="sample")
    return _save(figure, stem)


def scatter(
    x: Any,
    y: Any,
    labels: Sequence[Any],
    *,
    stem: str,
    title: str,
    xlabel: str,
    ylabel: str,
    legend: str,
) -> Files:
    """PCA scores coloured by an attribute: categories get a legend (up to ``LEGEND_ENTRIES``
    of them; more are told apart by colour alone, drawn as one collection), numbers a colour
    bar."""
    figure, axes = plt.subplots(figsize=(6.5, 5))
    x, y = np.asarray(x), np.asarray(y)
    numeric = all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in labels if v is not None
    )
    if labels and numeric and any(v is not None for v in labels):
        values = np.array([np.nan if v is None else float(v) for v in labels])
        points = axes.scatter(x, y, c=values, cmap="plasma", s=18, rasterized=True)
        figure.colorbar(points, ax=axes, label=_short(legend))
    else:
        names = ["(none)" if v is None else str(v) for v in labels] or ["all"] * len(x)
        categories = sorted(set(names))
        number = {category: k for k, category in enumerate(categories)}
        codes = np.array([number[n] for n in names], dtype=np.intp)
        colours = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(categories), 2)))
        if 1 < len(categories) <= LEGEND_ENTRIES:
            for k, category in enumerate(categories):
                mask = codes == k
                axes.scatter(
                    x[mask],
                    y[mask],
                    s=18,
                    color=colours[k],
                    label=_short(category),
                    rasterized=True,
                )
            axes.legend(title=_short(legend), fontsize="small", markerscale=1.2, loc="best")
        else:
            axes.scatter(x, y, s=18, c=colours[codes], rasterized=True)
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return _save(figure, stem)


def manhattan(chrom: Sequence[str], pos: Any, p_values: Any, *, stem: str) -> Files:
    """Chromosomes side by side in the order they first appear, told apart by two colours;
    named on the axis when there are at most ``TICKS_NAMED`` (a scaffold-level assembly has
    tens of thousands). One collection and one pass over the variants: a scatter call and a
    scan of every variant per chromosome took 124 s of CPU for 5,000 contigs (ADR 0365)."""
    figure, axes = plt.subplots(figsize=(9, 4))
    pos_arr = np.asarray(pos, dtype=np.float64)
    score = -np.log10(np.clip(np.asarray(p_values, dtype=np.float64), 1e-300, 1.0))
    names, first, inverse = np.unique(np.asarray(chrom), return_index=True, return_inverse=True)
    order = np.argsort(first)  # chromosome numbers by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    group = rank[inverse.reshape(-1)]
    count = order.size
    low = np.full(count, np.inf)
    high = np.full(count, -np.inf)
    np.minimum.at(low, group, pos_arr)
    np.maximum.at(high, group, pos_arr)
    spread = float(np.ptp(pos_arr)) if pos_arr.size else 0.0
    gap = 1.0 + 0.02 * (spread or 1.0)
    starts = np.concatenate(([0.0], np.cumsum(high - low + gap)[:-1]))
    x = starts[group] + pos_arr - low[group]
    axes.scatter(x, score, s=6, c=np.array(["#1f4e79", "#6fa8dc"])[group % 2], rasterized=True)
    threshold = -np.log10(0.05 / max(len(score), 1))
    axes.axhline(threshold, color="#c0392b", linestyle="--", linewidth=1, label="Bonferroni 5%")
    xlabel = "chromosome"
    if count <= TICKS_NAMED:
        ticks = np.bincount(group, weights=x, minlength=count) / np.maximum(
            np.bincount(group, minlength=count), 1
        )
        shown = [_short(str(names[k])) for k in order]
        axes.set_xticks(ticks.tolist(), shown, rotation=90 if count > 12 else 0)
    else:
        axes.set_xticks([])
        xlabel = f"{count} chromosomes"
    axes.set(title="Manhattan plot", xlabel=xlabel, ylabel="-log10(p)")
    axes.legend(loc="upper right", fontsize="small")
    return _save(figure, stem)


def qq(p_values: Any, *, stem: str) -> Files:
    observed = np.sort(np.clip(np.asarray(p_values, dtype=np.float64), 1e-300, 1.0))
    observed = observed[np.isfinite(observed)]
    expected = (np.arange(1, observed.size + 1) - 0.5) / max(observed.size, 1)
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.scatter(-np.log10(expected), -np.log10(observed), s=6, color="#1f4e79", rasterized=True)
    top = float(max(-np.log10(expected).max(initial=1.0), -np.log10(observed).max(initial=1.0)))
    axes.plot([0, top], [0, top], color="#c0392b", linewidth=1)
    axes.set(title="QQ plot", xlabel="expected -log10(p)", ylabel="observed -log10(p)")
    return _save(figure, stem)


def decay(lags: Any, mean_r2: Any, *, stem: str) -> Files:
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(lags, mean_r2, marker="o", markersize=3, color="#3b7a57")
    axes.set(title="LD decay", xlabel="distance (variants)", ylabel="mean r²")
    return _save(figure, stem)
