"""Matplotlib styling in one place: the palette, font sizes and figure helpers every plot uses.

Figures are built with :class:`matplotlib.figure.Figure` rather than pyplot, so
nothing global changes, nothing leaks into pyplot's figure list, and a notebook
shows a returned figure once (pyplot's inline backend would show it twice).
matplotlib is imported inside the functions to keep ``import lussi`` cheap.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = [
    "ERROR_COLOR",
    "LABEL_SIZE",
    "PALETTE",
    "TICK_SIZE",
    "TITLE_SIZE",
    "colors_for",
    "figure_and_axes",
    "finish",
    "model_colors",
    "new_figure",
    "require_columns",
]

# matplotlib's "tab10", spelled out so colours need no matplotlib import.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#d62728",
)
# Red is last in PALETTE so it stays free for marking errors unless >9 models.
ERROR_COLOR = "#d62728"
TICK_SIZE = 10
LABEL_SIZE = 11
TITLE_SIZE = 12


def model_colors(names: Sequence[str]) -> dict[str, str]:
    """One hex colour per model name, by position in ``names``.

    Compute it once from every model in the report and pass it as ``colors=`` to
    each plot so a model keeps its colour across figures.

    Parameters
    ----------
    names : sequence of str
        Model names; duplicates keep their first colour.

    Returns
    -------
    dict of str -> str
        ``{name: "#rrggbb"}``, cycling through 10 colours.
    """
    unique = list(dict.fromkeys(str(n) for n in names))
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(unique)}


def colors_for(names, colors) -> dict[str, str]:
    default = model_colors(names)
    if colors is None:
        return default
    return {name: colors.get(name, default[name]) for name in default}


def figure_and_axes(ax, *, figsize):
    """Return (figure, axes): the caller's axes, or a new pyplot-free figure."""
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def new_figure(*, figsize, ncols):
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(1, ncols)


def finish(ax, *, title=None, xlabel=None, ylabel=None):
    # Tick labels are created lazily at draw time, so their size is set explicitly here.
    ax.tick_params(labelsize=TICK_SIZE)
    if title is not None:
        ax.set_title(title, fontsize=TITLE_SIZE)
    if xlabel is not None:
        ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    if ylabel is not None:
        ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)


def require_columns(df, columns, name):
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; it has {list(df.columns)}")
    if df.empty:
        raise ValueError(f"{name} is empty; nothing to plot")
