"""Article profiles as files a person reads: a CSV table and a PNG of the escalation score over
time (or, when no article has a usable date, in the order the articles were given)."""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import matplotlib.dates as mdates

from apps.views.profile import ArticleProfile
from eval.figures import plt, save_figure
from model.articles import parse_date
from model.atomic_files import write_text_atomic
from model.labels import LABELS

# A longer stretch without articles starts a new panel of the timeline.
TIMELINE_GAP_DAYS = 365


@dataclass
class EscalationPlot:
    """What the plot shows: articles placed on it, and those left out for want of a single-day date."""

    path: Path
    plotted: int
    undated: list[str]
    over_time: bool


def profile_table(profiles: Sequence[ArticleProfile]) -> str:
    """Fixed-width table for the terminal, one row per article."""
    header = f"{'article':<22} {'date':<12} {'sent':>4}  " + "  ".join(f"{label[:5]:>5}" for label in LABELS) + "  escalation"
    rows = [header]
    for p in profiles:
        counts = "  ".join(f"{p.counts[label]:>5}" for label in LABELS)
        rows.append(f"{p.article_id[:22]:<22} {(p.date or '-')[:12]:<12} {p.sentences:>4}  {counts}  {p.escalation:>+10.3f}")
    return "\n".join(rows)


def write_profile_csv(profiles: Sequence[ArticleProfile], path: str | Path) -> None:
    """One row per article (ArticleProfile.to_row), written atomically."""
    rows = [p.to_row() for p in profiles]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["article_id"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


def _timeline_groups(points: list[tuple[dt.date, ArticleProfile]]) -> list[list[tuple[dt.date, ArticleProfile]]]:
    """Dated points split wherever a year or more passes without an article, so that articles
    from 1987 and 2018 each get a readable panel instead of two dots at the ends of one axis."""
    groups: list[list[tuple[dt.date, ArticleProfile]]] = []
    for point in points:
        if not groups or (point[0] - groups[-1][-1][0]).days > TIMELINE_GAP_DAYS:
            groups.append([])
        groups[-1].append(point)
    return groups


def plot_escalation(profiles: Sequence[ArticleProfile], path: str | Path, title: str = "escalation by article") -> EscalationPlot:
    """Escalation score per article over time when any is dated, else in input order (PNG, written atomically)."""
    days = [(parse_date(p.date) if p.date else None) for p in profiles]
    over_time = any(days)
    if over_time:
        groups = _timeline_groups(sorted(((d, p) for d, p in zip(days, profiles) if d), key=lambda point: point[0]))
    else:
        groups = [list(enumerate(profiles, start=1))]
    undated = [p.article_id for d, p in zip(days, profiles) if d is None] if over_time else []
    fig, axes = plt.subplots(1, len(groups), sharey=True, squeeze=False, figsize=(max(8, 3.2 * len(groups)), 3.8))
    for ax, points in zip(axes[0], groups):
        xs, ys = [x for x, _ in points], [p.escalation for _, p in points]
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.axhspan(0, 1, color="#ea4335", alpha=0.05)
        ax.axhspan(-1, 0, color="#34a853", alpha=0.05)
        ax.plot(xs, ys, color="#5f6368", linewidth=0.8, alpha=0.6)
        ax.scatter(xs, ys, c=ys, cmap="RdYlGn_r", vmin=-1, vmax=1, s=[12 + 2 * p.sentences for _, p in points],
                   edgecolors="#202124", linewidths=0.5, zorder=3)
        if over_time:
            locator = mdates.AutoDateLocator(minticks=2, maxticks=6)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
            if xs[0] == xs[-1]:
                ax.set_xlim(xs[0] - dt.timedelta(days=15), xs[0] + dt.timedelta(days=15))
    axes[0][0].set_ylim(-1, 1)
    axes[0][0].set_ylabel("escalation score")
    fig.supxlabel("article date (marker size: sentences)" if over_time else "article, in input order (marker size: sentences)",
                  fontsize=10)
    plotted = sum(len(points) for points in groups)
    note = f"; {len(undated)} without a single-day date left out" if undated else ""
    fig.suptitle(f"{title}: {plotted} articles{note}", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    return EscalationPlot(Path(path), plotted, undated, over_time)
