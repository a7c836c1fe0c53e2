"""The report's plots: matplotlib figures rendered to SVG ``data:`` URIs, one style for all.

Figures are built with :class:`matplotlib.figure.Figure` directly (the Agg/SVG canvases, no
pyplot and no global backend switch), text is drawn as paths so the page needs no font, and the
SVG carries no date, so the same run.json gives the same page.

Fonts: DejaVu Sans (matplotlib's own), then the first CJK-capable font installed
(:data:`CJK_FONTS`: Noto Sans CJK, Source Han Sans, WenQuanYi; Debian's ``fonts-noto-cjk`` or
``fonts-wqy-microhei``), as matplotlib's per-glyph fallback: a Chinese domain or title in a label
is drawn, not boxes. Without such a font the CJK glyphs are missing (and matplotlib warns).

Data marks (bars) are drawn in :data:`MARK_COLORS` only, solid, so a test can find them in the
rendered page; threshold lines in :data:`LINE_COLORS`. Histograms split into series (kept and
dropped: stacked; input and output lengths: side by side in each bucket).
"""
from __future__ import annotations

import base64
import functools
import io
import math
from typing import Sequence

import matplotlib
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from llamacorpus.report.data import Bars, FunnelStep, LanguageRow, Threshold, human

KEPT, DROPPED, ERRORS, OTHER = "#3b6ea8", "#e08a3c", "#c0392b", "#9aa5b1"
DROPPED_LIGHT = "#f3c9a2"  # what a step removed, in the funnel (solid: no alpha, so it is findable)
MARK_COLORS = (KEPT, DROPPED, OTHER, DROPPED_LIGHT)
LINE_COLORS = ("#7d3c98", "#117a65", "#b7950b", "#2e4053", "#a04000", "#c0392b")
#: CJK-capable font families, the first one installed is the fallback after DejaVu Sans
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "Noto Sans CJK KR", "Source Han Sans SC",
             "Source Han Sans", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Droid Sans Fallback", "AR PL UMing CN")
_CJK_FILES = ("notosanscjk", "sourcehansans", "wqy-microhei", "wqy-zenhei", "droidsansfallback", "uming")
WIDTH = 10.0  # inches (1000 px at the page's 100 dpi): about the page's content column
STYLE = {
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "grid.color": "#e3e7ec", "grid.linewidth": 0.6, "axes.axisbelow": True,
    "svg.fonttype": "path", "svg.hashsalt": "llamacorpus-report", "figure.dpi": 100,
}


@functools.lru_cache(maxsize=1)
def font_families() -> tuple[str, ...]:
    """DejaVu Sans, then the first installed family of :data:`CJK_FONTS` (fonts installed after
    matplotlib built its font cache are found by file name and added)."""
    names = {f.name for f in font_manager.fontManager.ttflist}
    found = next((f for f in CJK_FONTS if f in names), None)
    if found is None:
        for path in font_manager.findSystemFonts():
            flat = path.rsplit("/", 1)[-1].lower().replace("-", "").replace("_", "")
            if any(key.replace("-", "") in flat for key in _CJK_FILES):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        names = {f.name for f in font_manager.fontManager.ttflist}
        found = next((f for f in CJK_FONTS if f in names), None)
    return ("DejaVu Sans", found) if found else ("DejaVu Sans",)


def _style() -> dict:
    return {**STYLE, "font.family": list(font_families())}


def _figure(height: float, ncols: int = 1, left: float = 0.7, bottom: float = 0.5, top: float = 0.35) -> tuple[Figure, list]:
    """A figure ``height`` inches tall with margins in inches (fixed margins: matplotlib's layout
    engines double the drawing time)."""
    with matplotlib.rc_context(_style()):
        fig = Figure(figsize=(WIDTH, height))
        fig.subplots_adjust(left=left / WIDTH, right=1 - 0.15 / WIDTH, bottom=bottom / height, top=1 - top / height,
                            wspace=0.08 if ncols > 1 else 0.2)
        axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def _label_margin(labels: Sequence[str]) -> float:
    """Inches of left margin for horizontal-bar labels (8 pt text, about 0.07 in a character)."""
    return 0.2 + 0.068 * max((len(x) for x in labels), default=4)


def _legend_above(ax) -> None:
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=3, frameon=False, borderaxespad=0.1)


def to_data_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    with matplotlib.rc_context(_style()):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _count_axis(ax, axis: str = "x") -> None:
    fmt = FuncFormatter(lambda v, _: human(v))
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(fmt)


def funnel_plot(steps: Sequence[FunnelStep]) -> str:
    """Documents and characters left after each step (bars), what each step took (lighter)."""
    names = [s.step for s in steps][::-1]
    fig, (docs, chars) = _figure(1.0 + 0.3 * max(len(steps), 2), ncols=2, left=_label_margin(names), top=0.35)
    y = list(range(len(names)))
    for ax, before, after, title in (
            (docs, [s.documents_in for s in steps], [s.kept for s in steps], "documents"),
            (chars, [max(s.chars_in, s.chars_out) for s in steps], [s.chars_out for s in steps], "characters")):
        ax.barh(y, before[::-1], color=DROPPED_LIGHT, label="dropped, errored or removed")
        ax.barh(y, after[::-1], color=KEPT, label="kept")
        ax.set_xlabel(title)
        _count_axis(ax)
    docs.set_yticks(y, names)
    chars.set_yticks(y, [""] * len(names))
    _legend_above(chars)
    return to_data_uri(fig)


def _split(low: float, high: float, log_x: bool) -> float:
    return math.sqrt(low * high) if log_x and low > 0 else (low + high) / 2


def histogram_plot(bars: Bars, xlabel: str, lines: Sequence[Threshold] = (), stacked: bool = True) -> str:
    """A histogram over the distribution's buckets, with the thresholds as dashed lines. Its
    ``parts`` are stacked (kept below dropped: they partition the bar) or, with ``stacked`` False,
    drawn side by side in each bucket (input lengths beside output lengths)."""
    series = list(bars.parts.items()) or [("", bars.counts)]
    rows = math.ceil((len(lines) + (len(series) if bars.parts else 0)) / 3)
    fig, (ax,) = _figure(2.6 + 0.2 * rows, top=0.15 + 0.2 * rows)
    colors = [KEPT, DROPPED, OTHER] if stacked else [OTHER, KEPT, DROPPED]
    if stacked:
        widths = [h - lo for lo, h in zip(bars.lows, bars.highs)]
        bottom = [0] * len(bars.lows)
        for (name, counts), color in zip(series, colors):
            ax.bar(bars.lows, counts, width=widths, bottom=bottom, align="edge", color=color, edgecolor="white",
                   linewidth=0.4, label=name or None)
            bottom = [b + c for b, c in zip(bottom, counts)]
    else:
        mids = [_split(lo, h, bars.log_x) for lo, h in zip(bars.lows, bars.highs)]
        for i, ((name, counts), color) in enumerate(zip(series, colors)):
            lefts = bars.lows if i == 0 else mids
            rights = mids if i == 0 else bars.highs
            ax.bar(lefts, counts, width=[r - lo for lo, r in zip(lefts, rights)], align="edge", color=color,
                   edgecolor="white", linewidth=0.3, label=name)
    if bars.log_x:
        ax.set_xscale("log")
    if lines and bars.lows:  # every threshold in view, also one beyond the values
        low, high = min(bars.lows[0], *(t.value for t in lines)), max(bars.highs[-1], *(t.value for t in lines))
        pad = (high / low) ** 0.03 if bars.log_x and low > 0 else None
        ax.set_xlim(low / pad, high * pad) if pad else ax.set_xlim(low - 0.03 * (high - low), high + 0.03 * (high - low))
    for i, t in enumerate(lines):
        ax.axvline(t.value, color=LINE_COLORS[i % len(LINE_COLORS)], linestyle="--", linewidth=1.3, label=t.label)
    if lines or bars.parts:
        _legend_above(ax)
    ax.set_xlabel(xlabel + (" (log scale)" if bars.log_x else ""))
    ax.set_ylabel("documents")
    _count_axis(ax, "y")
    return to_data_uri(fig)


def stacked_bars(labels: Sequence[str], parts: Sequence[tuple[str, str, Sequence[int]]], title: str) -> str:
    """Horizontal bars, one per label, each split into ``parts`` = (name, colour, counts)."""
    fig, (ax,) = _figure(1.0 + 0.2 * max(len(labels), 2), left=_label_margin(labels), top=0.5)
    y = list(range(len(labels)))[::-1]
    left = [0] * len(labels)
    for name, color, counts in parts:
        ax.barh(y, counts, left=left, color=color, label=name)
        left = [a + b for a, b in zip(left, counts)]
    ax.set_yticks(y, list(labels))
    ax.set_title(title, loc="left")
    if len(parts) > 1:
        _legend_above(ax)
    ax.set_xlabel("documents")
    _count_axis(ax)
    return to_data_uri(fig)


def language_plot(rows: Sequence[LanguageRow], top: int = 15) -> str:
    shown, rest = list(rows[:top]), rows[top:]
    labels = [r.language for r in shown]
    kept = [r.documents - sum(r.dropped.values()) for r in shown]
    dropped = [sum(r.dropped.values()) for r in shown]
    if rest:
        labels.append(f"{len(rest)} others")
        kept.append(sum(r.documents - sum(r.dropped.values()) for r in rest))
        dropped.append(sum(sum(r.dropped.values()) for r in rest))
    return stacked_bars(labels, [("kept", KEPT, kept), ("dropped", DROPPED, dropped)], "documents per language")


def mixture_plot(sources: Sequence[str], target: Sequence[float], realised: Sequence[float] | None) -> str:
    """Target share against realised share of the final mixture, per source."""
    fig, (ax,) = _figure(2.6, top=0.4)
    x = list(range(len(sources)))
    width = 0.38 if realised is not None else 0.6
    ax.bar([i - (width / 2 if realised is not None else 0) for i in x], [100 * t for t in target], width,
           color=OTHER, label="target (recipe)")
    if realised is not None:
        ax.bar([i + width / 2 for i in x], [100 * r for r in realised], width, color=KEPT, label="realised (shards)")
    ax.set_xticks(x, list(sources))
    ax.set_ylabel("share of tokens (%)")
    _legend_above(ax)
    return to_data_uri(fig)
