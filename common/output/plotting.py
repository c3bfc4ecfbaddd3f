"""Matplotlib helpers: every figure has a title, axis labels with units and a legend, and is saved as PNG."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path


def _label(v) -> str:
    """A bar's value as a reader writes it: 31,239 / 4.85 / 0.266 (never 3.12e+04)."""
    if v is None:
        return "n/a"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def line_plot(
    path: Path,
    series: dict[str, tuple[list, list]],
    title: str,
    xlabel: str,
    ylabel: str,
    ideal: tuple[list, list] | None = None,
    logx: bool = False,
    logy: bool = False,
) -> Path:
    """series: {label: (xs, ys)}; `ideal` draws a dashed reference line (e.g. linear scaling)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", label=label)
    if ideal:
        ax.plot(*ideal, linestyle="--", color="grey", label="ideal (linear)")
    if logx:
        ax.set_xscale("log", base=2)
    xs_all = sorted({x for xs, _ in series.values() for x in xs})
    if xs_all and all(float(x).is_integer() for x in xs_all) and len(xs_all) <= 12:
        ax.set_xticks(xs_all, [f"{x:g}" for x in xs_all])  # GPU counts / levels, not 1.2 GPUs
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    return save(fig, path)


def bar_plot(
    path: Path,
    labels: list[str],
    values: dict[str, list[float | None]],
    title: str,
    ylabel: str,
    hline: float | None = None,
    hline_label: str | None = None,
) -> Path:
    """Grouped bars: values = {series name: one value per label}."""
    import numpy as np

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(labels) + 3), 4.5))
    n = max(len(values), 1)
    width = 0.8 / n
    x = np.arange(len(labels))
    for i, (name, vals) in enumerate(values.items()):
        bars = ax.bar(x + (i - (n - 1) / 2) * width, [v if v is not None else 0 for v in vals], width, label=name)
        ax.bar_label(bars, labels=[_label(v) for v in vals], fontsize=8)
    if hline is not None:
        ax.axhline(hline, linestyle="--", color="grey", label=hline_label)
    ax.set_xticks(x, labels)
    ax.set(title=title, ylabel=ylabel)
    ax.grid(axis="y", alpha=0.3)
    # headroom above the tallest bar (its label) and the line, where the legend goes in one row: never over data
    top = max([v for vals in values.values() for v in vals if v is not None] + [hline or 0, 0])
    if top > 0:
        ax.set_ylim(top=top * 1.3)
    ax.legend(loc="upper left", ncol=len(values) + (hline is not None), fontsize=8, frameon=False)
    return save(fig, path)


def stacked_bar_plot(
    path: Path,
    labels: list[str],
    stacks: dict[str, list[float]],
    title: str,
    ylabel: str,
    total_label: str | None = None,
) -> Path:
    """One bar per label, its parts stacked (stacks = {part: one value per label}); the total on top of each."""
    import numpy as np

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(labels) + 3), 4.8))
    x, bottom = np.arange(len(labels)), np.zeros(len(labels))
    for name, vals in stacks.items():
        v = np.array([x or 0.0 for x in vals], dtype=float)
        ax.bar(x, v, 0.7, bottom=bottom, label=name)
        bottom += v
    ax.bar_label(ax.containers[-1], labels=[_label(t) for t in bottom], fontsize=8)
    ax.set_xticks(x, labels, rotation=30 if len(labels) > 6 else 0, ha="right" if len(labels) > 6 else "center")
    ax.set(title=title, ylabel=ylabel)
    ax.grid(axis="y", alpha=0.3)
    if bottom.max() > 0:  # headroom above the bars for the legend, in one row: never over a bar
        ax.set_ylim(top=bottom.max() * 1.35)
    ax.legend(title=total_label, loc="upper left", ncol=len(stacks), fontsize=8, title_fontsize=8, frameon=False)
    return save(fig, path)


def panels_plot(path: Path, panels: list[tuple[str, dict[str, tuple[list, list]]]], title: str, xlabel: str) -> Path:
    """Line plots side by side, each on its own y axis: panels = [(y label, {series: (xs, ys)})]."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.5))
    for ax, (ylabel, series) in zip(axes if len(panels) > 1 else [axes], panels, strict=True):
        for label, (xs, ys) in series.items():
            ax.plot(xs, ys, marker="o", label=label)
        xs_all = sorted({x for xs, _ in series.values() for x in xs})
        if xs_all and all(float(x).is_integer() for x in xs_all):
            ax.set_xticks(xs_all, [f"{x:g}" for x in xs_all])
        ax.set(xlabel=xlabel, ylabel=ylabel)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return save(fig, path)


def cdf_plot(path: Path, samples: dict[str, list[float]], title: str, xlabel: str, logx: bool = False) -> Path:
    import numpy as np

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, vals in samples.items():
        v = np.sort(np.asarray([x for x in vals if x is not None], dtype=float))
        if v.size:
            ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", label=f"{label} (n={v.size})")
    if logx:
        ax.set_xscale("log")
        readable_log_axis(ax, ax.xaxis)
    ax.set(title=title, xlabel=xlabel, ylabel="share of requests <= x")
    ax.grid(alpha=0.3)
    ax.legend()
    return save(fig, path)


def class_cdf_plot(
    path: Path,
    per_group: dict[str, dict[str, list[float]]],
    title: str,
    xlabel: str,
    target: float | None = None,
    target_label: str | None = None,
) -> Path:
    """CDFs on a log x axis, one colour per group (e.g. a scheduler variant), one line style per class within it
    (the first class solid, the second dashed, ...); `target` draws a vertical line (an SLO)."""
    import numpy as np

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    styles = ["-", "--", ":", "-."]
    for i, (group, classes) in enumerate(per_group.items()):
        for j, (klass, vals) in enumerate(classes.items()):
            v = np.sort(np.asarray([x for x in vals if x is not None], dtype=float))
            if v.size:
                ax.step(
                    v,
                    np.arange(1, v.size + 1) / v.size,
                    where="post",
                    color=f"C{i % 10}",
                    linestyle=styles[j % len(styles)],
                    label=f"{group} / {klass} (n={v.size})",
                )
    if target is not None:
        ax.axvline(target, color="red", linestyle=":", label=target_label)
    ax.set_xscale("log")
    readable_log_axis(ax, ax.xaxis)
    ax.set(title=title, xlabel=xlabel, ylabel="share of requests <= x")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save(fig, path)


def timeline_plot(path: Path, requests: list[dict], title: str, colors: dict[str, str] | None = None) -> Path:
    """One horizontal line per request: arrival -> first token (thin) -> finish (thick), coloured by class."""
    plt = pyplot()
    colors = colors or {}
    fig, ax = plt.subplots(figsize=(9, 5))
    seen = set()
    for i, r in enumerate(sorted(requests, key=lambda r: r["scheduled_s"] or 0)):
        if r.get("end_s") is None or r.get("first_token_s") is None:
            continue
        c = colors.get(r["klass"], None)
        lab = r["klass"] if r["klass"] not in seen else None
        seen.add(r["klass"])
        ax.plot([r["scheduled_s"], r["first_token_s"]], [i, i], color=c, alpha=0.45, linewidth=1, label=lab)
        ax.plot([r["first_token_s"], r["end_s"]], [i, i], color=c, linewidth=2.5)
    ax.set(
        title=title,
        xlabel="time since start (s)   thin: waiting for first token, thick: decoding",
        ylabel="request (by arrival)",
    )
    ax.legend()
    return save(fig, path)


def readable_log_axis(ax, axis) -> None:
    """A log axis labelled as a reader writes numbers: 10 20 50 100 1,000 across decades, four plain ticks across
    less than a decade (matplotlib would label its minor ticks 1.2x10^3 1.3x10^3 ..., on top of each other)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    ax.autoscale_view()
    lo, hi = sorted(axis.get_view_interval())
    axis.set_major_locator(MaxNLocator(4) if 0 < lo and hi < 10 * lo else LogLocator(subs=(1, 2, 5)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: _label(v)))
    axis.set_minor_formatter(NullFormatter())


def _wrap_titles(fig) -> None:
    """Break a title that is wider than its panel onto more lines (a long SLO text would run off the figure)."""
    for ax in fig.axes:
        title = ax.get_title()
        chars = int(ax.get_position().width * fig.get_figwidth() * 72 / 6.6)  # ~6.6 pt a character at 12 pt
        if title and len(title) > chars > 10:
            ax.set_title(wrap_title(title, chars))


def wrap_title(title: str, chars: int) -> str:
    """`title` on lines of at most `chars` characters; a number keeps its unit ("500 ms", "2 GPUs") on its line."""
    glued = re.sub(r"(\d) (?=[A-Za-z%$/])", "\\1\u00a0", title)  # textwrap does not break at a no-break space
    return "\n".join(textwrap.wrap(glued, chars))


def subtitled(fig, sub: str):
    """The figure with `sub` (the model, devices, workload: results.figure_subtitle) above its panels."""
    if sub:  # ~5 pt a character at 9 pt
        fig.suptitle(wrap_title(sub, int(fig.get_figwidth() * 72 / 5)), fontsize=9)
    return fig


def _legends_aside(fig) -> None:
    """A legend of more than four entries goes beside its axes: inside, so many entries cover the data."""
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is not None and len(leg.get_texts()) > 4:
            title = leg.get_title().get_text() or None
            ax.legend(
                *ax.get_legend_handles_labels(), title=title, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1)
            )


def _thousands(fig) -> None:
    """Numeric linear axes that reach 10,000 read with thousands separators (30,000, not 30000)."""
    from matplotlib.ticker import ScalarFormatter, StrMethodFormatter

    for ax in fig.axes:
        for axis, scale, lim in (
            (ax.yaxis, ax.get_yscale(), ax.get_ylim()),
            (ax.xaxis, ax.get_xscale(), ax.get_xlim()),
        ):
            numeric = isinstance(axis.get_major_formatter(), ScalarFormatter)  # not a bar chart's named categories
            if numeric and scale == "linear" and max(abs(v) for v in lim) >= 10_000:
                axis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))


def save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _wrap_titles(fig)
    _thousands(fig)
    _legends_aside(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path


def day_fleet_plot(
    path: Path,
    hours: list[float],
    demand: list[float],
    fleets: dict[str, tuple[list, list]],
    over: list[bool],
    title: str,
    zoom: tuple[float, float],
) -> Path:
    """Replicas over a day (top) and over the hours `zoom` (bottom, shaded on top): each fleet's serving replicas
    (solid) and what it pays for (dotted, where it differs: replicas still starting), the demand in replicas' worth
    (black, on top); `over`: windows whose demand exceeded what the last fleet's serving replicas held (red).
    `fleets`: {label: (serving, paid)} per window; `hours`: each window's start, plus the day's end."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(2, 1, figsize=(11, 7.5))
    top = max(max(max(p) for _, p in fleets.values()), max(demand)) * 1.12 + 0.5
    for ax, (a, b) in zip(axes, [(0.0, 24.0), zoom], strict=True):
        for i, (label, (live, paid)) in enumerate(fleets.items()):
            c = f"C{i}"
            ax.step(hours, list(live) + list(live[-1:]), where="post", color=c, lw=1.4, label=f"{label}: serving")
            if list(paid) != list(live):
                ax.step(hours, list(paid) + list(paid[-1:]), where="post", color=c, lw=1, ls=":",
                        label=f"{label}: paid (serving + starting)")  # fmt: skip
        ax.step(hours, list(demand) + list(demand[-1:]), where="post", color="black", lw=0.7,
                label="demand, in replicas' worth")  # fmt: skip
        for k, o in enumerate(over):
            if o and hours[k + 1] > a and hours[k] < b:
                ax.axvspan(hours[k], hours[k + 1], color="red", alpha=0.3, lw=0)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(xlim=(a, b), ylim=(0, top), ylabel="replicas")
        ax.grid(alpha=0.3)
    axes[0].axvspan(*zoom, color="grey", alpha=0.12, lw=0)
    if any(over):
        axes[0].plot([], [], color="red", alpha=0.3, lw=6, label=f"over the SLO ({list(fleets)[-1]})")
    axes[0].set(title=title, xlabel="hour of the day")
    axes[0].set_xticks(range(0, 25, 3))
    axes[1].set(title=f"zoom: {_hm(zoom[0])}-{_hm(zoom[1])} (grey above)", xlabel="hour of the day")
    axes[1].xaxis.set_major_formatter(lambda x, _: _hm(x))
    axes[0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save(fig, path)


def _hm(hours: float) -> str:
    m = round(hours * 60)
    return f"{m // 60:02d}:{m % 60:02d}"


def pareto_plot(
    path: Path,
    curves: dict[str, list[tuple[float, float]]],
    slo_per_user: float | None,
    title: str,
    dev: str = "GPU",
    marks: dict[str, tuple[float, float]] | None = None,
    failed: dict[str, tuple[list[tuple[float, float]], str]] | None = None,
    sweeps: dict[str, tuple[list[tuple[float, float]], str]] | None = None,
) -> Path:
    """Output tok/s per GPU (x) against output tok/s per user (y, 1000 / median TPOT), one curve per layout
    from its capacity probes in the order given (by offered rate); a dashed line at the per-user speed the TPOT
    target allows; `marks`: each layout's point at its capacity (a star); `failed`: its probes that missed the SLO
    (crosses) and why; `sweeps`: a load sweep's levels, one client to saturation (dotted), and their name."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 5))
    for i, (label, pts) in enumerate(curves.items()):
        pts = [p for p in pts if p[0] is not None and p[1] is not None]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=f"C{i % 10}", label=label)
        if failed and failed.get(label, ([], ""))[0]:
            xs, why = failed[label]
            ax.scatter(*zip(*xs, strict=True), marker="X", s=90, color=f"C{i % 10}", edgecolor="black", zorder=4,
                       label=f"{label}: missed ({why})")  # fmt: skip
        if sweeps and sweeps.get(label, ([], ""))[0]:
            pts, name = sweeps[label]
            ax.plot(
                *zip(*pts, strict=True),
                linestyle=":",
                marker="s",
                markersize=4,
                color=f"C{i % 10}",
                label=f"{label}: {name}",
            )
        if marks and label in marks:
            ax.scatter(
                *marks[label],
                marker="*",
                s=220,
                color=f"C{i % 10}",
                edgecolor="black",
                zorder=5,
                label=f"{label}: capacity",
            )
    if slo_per_user:
        ax.axhline(slo_per_user, linestyle="--", color="grey", label=f"TPOT SLO ({slo_per_user:.0f} tok/s per user)")
    ax.set(
        title=title,
        xlabel=f"output tokens / s per {dev} (cost side)",
        ylabel="output tokens / s per user (1000 / median TPOT)",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the axes: never over a point
    return save(fig, path)


def scatter_plot(
    path: Path,
    points: dict[str, tuple[float | None, float | None]],
    title: str,
    xlabel: str,
    ylabel: str,
    hline: float | None = None,
    hline_label: str | None = None,
    best: str | None = None,
) -> Path:
    """One labelled point per entry (x, y), log axes: a trade-off frontier between two latencies; `hline` draws a
    target (an SLO) across, `best` rings the point that won."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (label, (x, y)) in enumerate(points.items()):
        if x is None or y is None:
            continue
        ax.scatter([x], [y], color=f"C{i % 10}", s=40, label=label)
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7)
        if label == best:
            ax.scatter([x], [y], s=260, facecolors="none", edgecolors="green", linewidths=2, label=f"best: {label}")
    if hline is not None:
        ax.axhline(hline, color="red", linestyle=":", label=hline_label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    readable_log_axis(ax, ax.xaxis)
    readable_log_axis(ax, ax.yaxis)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return save(fig, path)
