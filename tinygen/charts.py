"""The charts of `tinygen report`, drawn with matplotlib and returned as base64 PNG (embedded in the HTML, so the
page needs no network). Only this module knows matplotlib; report.py hands it plain numbers and names.

matplotlib is an optional dependency (the `report` extra): require() turns its absence into a one-line hint.
Names from the user (features, classes) are drawn with mathtext off, so a '$' is just a dollar sign.
"""
from __future__ import annotations

import base64
import io
import warnings

import numpy as np

from .errors import TinygenError

INSTALL_HINT = "tinygen report draws its charts with matplotlib: pip install 'tinygen[report]' (or pip install matplotlib)"
DPI = 90
WIDTH_IN = 11.0  # inches at DPI: ~1000 px, the width of the page's content column
BAR_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3")
LABEL_CHARS = 28  # names longer than this are cut in charts (the tables give them whole)


def require():
    """matplotlib's Figure and rc_context, or the install hint as a TinygenError."""
    try:
        from matplotlib import rc_context
        from matplotlib.figure import Figure
    except ImportError:
        raise TinygenError(INSTALL_HINT) from None
    return Figure, rc_context


def short(text, limit: int = LABEL_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _png(fig) -> str:
    buffer = io.BytesIO()
    # no Software/URL text chunk: the file holds pixels only, and the same numbers give the same bytes
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _draw(height_in: float, nrows: int, ncols: int, draw) -> str:
    Figure, rc_context = require()
    with rc_context({"text.parse_math": False, "font.size": 9}), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. a glyph DejaVu Sans lacks in a class name
        fig = Figure(figsize=(WIDTH_IN, height_in), layout="constrained")
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).reshape(-1)
        draw(fig, axes)
        return _png(fig)


def _label_bars(ax, bars, texts) -> None:
    for bar, text in zip(bars, texts):
        if text:
            ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), xytext=(0, 2),
                        textcoords="offset points", ha="center", va="bottom", fontsize=8)


def accuracy(metric_name: str, float_metric: float, dtypes: list[str], metrics: list[float]) -> str:
    """Bars of the simulator's metric per dtype, with the float model's as a dashed line."""
    def draw(fig, axes):
        ax = axes[0]
        bars = ax.bar(dtypes, metrics, color=[BAR_COLORS[i % len(BAR_COLORS)] for i in range(len(dtypes))])
        _label_bars(ax, bars, [f"{m:.4f}" for m in metrics])
        ax.axhline(float_metric, color="black", linestyle="--", linewidth=1, label=f"float model {float_metric:.4f}")
        values = [float_metric, *metrics]
        low, high = min(values), max(values)
        pad = max(0.02, 0.15 * (high - low))
        top = high + pad if metric_name != "accuracy" else min(1.0, high + pad) + 0.01
        ax.set_ylim(max(low - pad, -1.0) if metric_name != "accuracy" else max(0.0, low - pad), top)
        ax.set_ylabel(f"{metric_name} (simulator)")
        ax.legend(loc="lower right")
        ax.set_title(f"{metric_name} per dtype against the float model")
    return _draw(2.8, 1, 1, draw)


def precision(dtype: str, rows: list[dict]) -> str:
    """hls4ml-style precision profile: per tensor, a box plot of log2 |value| over the rows (box: quartiles,
    whiskers: min and max, zeros left out) over a grey band from the format's smallest step to its largest
    magnitude. rows: {"name", "log2_values", "band": (low, high), "clipped": bool, "bound": log2 or None}."""
    def draw(fig, axes):
        ax = axes[0]
        positions = np.arange(len(rows))
        for y, row in zip(positions, rows):
            low, high = row["band"]
            ax.barh(y, high - low, left=low, height=0.8, color="#bbbbbb", alpha=0.6, zorder=1)
            if row["bound"] is not None:
                ax.plot([row["bound"]], [y], marker="x", color="black", markersize=5, zorder=4)
        drawn = [(y, row) for y, row in zip(positions, rows) if len(row["log2_values"])]
        if drawn:
            boxes = ax.boxplot([row["log2_values"] for _, row in drawn], positions=[y for y, _ in drawn], widths=0.5,
                               whis=(0, 100), showfliers=False, patch_artist=True, manage_ticks=False,
                               **_horizontal(), zorder=3)
            for box, (_, row) in zip(boxes["boxes"], drawn):
                box.set_facecolor("#c44e52" if row["clipped"] else "#4c72b0")
                box.set_alpha(0.85)
            for median in boxes["medians"]:
                median.set_color("white")
        for y, row in zip(positions, rows):
            if not len(row["log2_values"]):
                ax.annotate("all zero", (row["band"][0], y), xytext=(3, 0), textcoords="offset points", va="center",
                            fontsize=7, zorder=4)
        ax.set_yticks(positions, [short(row["name"]) for row in rows])
        ax.set_ylim(len(rows) - 0.5, -0.5)  # the first tensor (the inputs) at the top
        ax.set_xlabel("log2 |value|")
        ax.grid(axis="x", alpha=0.3)
        ax.set_title(f"{dtype}: values on the data (boxes) against what each format holds (grey)")
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch
        handles = [Patch(color="#bbbbbb", label=f"{dtype} format: smallest step to largest value"),
                   Patch(color="#4c72b0", label="values (box: quartiles, whiskers: min-max)"),
                   Patch(color="#c44e52", label="values beyond the format (they saturate)")]
        if any(row["bound"] is not None for row in rows):
            handles.append(Line2D([], [], marker="x", color="black", linestyle="", label="proven accumulator bound"))
        fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    return _draw(1.6 + 0.24 * len(rows), 1, 1, draw)


def _horizontal() -> dict:
    """boxplot's horizontal switch: `orientation` from matplotlib 3.10, `vert` before it."""
    import matplotlib
    major, minor = (int(part) for part in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}


def score_errors(errors: dict[str, np.ndarray], steps: dict[str, float | None]) -> str:
    """One histogram per dtype of (dequantized fixed score - float score), every output of every row."""
    names = list(errors)
    ncols = min(3, len(names))
    nrows = -(-len(names) // ncols)

    def draw(fig, axes):
        for ax, dtype in zip(axes, names):
            error = errors[dtype]
            if not len(error):
                ax.set_title(f"{dtype}: no finite scores")
                continue
            ax.hist(error, bins=40, color="#4c72b0")
            worst = float(np.max(np.abs(error)))
            step = steps.get(dtype)
            ax.set_title(f"{dtype}\nmax |error| {worst:.3g}" + (f", score step {step:.3g}" if step else ""))
            ax.set_xlabel("fixed - float score")
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 3))
        for ax in axes[len(names):]:
            ax.set_visible(False)
        axes[0].set_ylabel("outputs x rows")
    return _draw(2.4 * nrows + 0.4, nrows, ncols, draw)


def confusion(labels: list, matrices: list[tuple[str, np.ndarray]]) -> str:
    """Confusion matrices (rows: true class, columns: predicted), the float model's first."""
    ncols = min(3, len(matrices))
    nrows = -(-len(matrices) // ncols)
    n = len(labels)
    annotate = n <= 12
    cell = max(2.6, min(3.6, 0.3 * n + 1.6))

    def draw(fig, axes):
        ticks = [short(label, 12) for label in labels]
        slanted = n > 3 or max(map(len, ticks), default=0) > 4
        for ax, (title, matrix) in zip(axes, matrices):
            ax.imshow(matrix, cmap="Blues", vmin=0)
            ax.set_title(title)
            ax.set_xticks(range(n), ticks, rotation=45 if slanted else 0, ha="right" if slanted else "center",
                          rotation_mode="anchor")
            ax.set_yticks(range(n), ticks)
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            if annotate:
                top = matrix.max(initial=0)
                for (i, j), count in np.ndenumerate(matrix):
                    ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                            color="white" if top and count > 0.6 * top else "black")
        for ax in axes[len(matrices):]:
            ax.set_visible(False)
    return _draw(cell * nrows, nrows, ncols, draw)


def learning_curves(metric_name: str, marks: list[int], curves: dict[str, list[float]]) -> str:
    """One line per learner of its metric on the data after 0..n updates (the same marks for every line)."""
    def draw(fig, axes):
        ax = axes[0]
        for k, (name, values) in enumerate(curves.items()):
            ax.plot(marks, values, marker="o" if len(marks) <= 30 else None, markersize=3, linewidth=1.5,
                    color=BAR_COLORS[k % len(BAR_COLORS)], label=short(name, 60))
        ax.set_xlabel("updates (partial_fit steps)")
        ax.set_ylabel(metric_name)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
        ax.set_title(f"{metric_name} on the data after each number of updates, from the exported start")
    return _draw(3.0, 1, 1, draw)


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    """The values as one line of block characters, lowest ▁ to highest █ (all equal: all ▄)."""
    low, high = min(values), max(values)
    if high - low <= 1e-12:
        return SPARKS[3] * len(values)
    return "".join(SPARKS[min(len(SPARKS) - 1, int((v - low) / (high - low) * len(SPARKS)))] for v in values)


TARGET_METRICS = (("flash_bytes", "flash B"), ("ram_bytes", "RAM B"), ("stack_bytes", "stack B"),
                  ("cycles_per_inference", "per inference"))


def targets(rows: list[dict], dtypes: list[str], target_names: list[str]) -> str:
    """Grouped bars per target (one bar per dtype) of flash, RAM, stack and cycles or instructions.
    rows: compare_on_target results plus "target" and "dtype" (missing or None values: no bar)."""
    by_key = {(row["target"], row["dtype"]): row for row in rows}
    units = sorted({row.get("cycles_unit") for row in rows if row.get("cycles_unit")})
    # only what some target measured (the host measures no stack or cycles)
    shown = [metric for metric in TARGET_METRICS if any(row.get(metric[0]) is not None for row in rows)] or \
        list(TARGET_METRICS[:1])
    ncols = min(2, len(shown))
    nrows = -(-len(shown) // ncols)

    def draw(fig, axes):
        width = 0.8 / max(1, len(dtypes))
        x = np.arange(len(target_names))
        for ax in axes[len(shown):]:
            ax.set_visible(False)
        for ax, (key, title) in zip(axes, shown):
            for k, dtype in enumerate(dtypes):
                values = [by_key.get((t, dtype), {}).get(key) for t in target_names]
                heights = [0.0 if v is None else float(v) for v in values]
                bars = ax.bar(x + (k - (len(dtypes) - 1) / 2) * width, heights, width, label=dtype,
                              color=BAR_COLORS[k % len(BAR_COLORS)])
                _label_bars(ax, bars, ["n/a" if v is None else f"{v:,.0f}" for v in values])
            ax.set_xticks(x, target_names)
            if key == "cycles_per_inference":
                title = f"{' / '.join(units) or 'cycles'} per inference (mean)"
            ax.set_title(title)
            ax.margins(y=0.15)
            ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], 1.0))  # all-zero bars (no RAM) sit on the axis
        axes[0].legend(fontsize=8)
    return _draw(2.8 * nrows, nrows, ncols, draw)
