"""The report's plots, drawn with matplotlib's object API and Agg canvas (no pyplot, no global
backend switch) into PNG data URIs."""

from __future__ import annotations

import base64
import io
from collections.abc import Collection
from typing import Any

import numpy as np

from maskedit.tables import UNMASKED_METHODS


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png_uri(fig) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return _data_uri(buf.getvalue(), "image/png")


def scatter_plot(
    rows: list[dict[str, Any]], methods: list[str], unmasked: Collection[str] = UNMASKED_METHODS
) -> str:
    """IoU against the first CLIP column present (else leakage), one colour per method (or
    series, `maskedit.report.html`); the ``unmasked`` ones drawn as crosses."""
    ykey = next((k for k in ("clip_score", "clip_cosine") if any(k in r for r in rows)), "leakage")
    ylabel = {
        "clip_score": "CLIPScore (100·max(cos, 0))",
        "clip_cosine": "CLIP cosine (image, instruction)",
        "leakage": "leakage (share of change outside mask)",
    }[ykey]
    fig = _figure(5.6, 4.2)
    ax = fig.add_subplot()
    drawn = 0
    for i, method in enumerate(methods):
        pts = [
            (r["iou"], r[ykey])
            for r in rows
            if r["method"] == method and r.get("iou") is not None and r.get(ykey) is not None
        ]
        if pts:
            x, y = zip(*pts, strict=True)
            marker = "x" if method in unmasked else "o"
            ax.scatter(x, y, label=method, marker=marker, s=36, color=f"C{i}", alpha=0.85)
            drawn += len(pts)
    ax.set_xlabel("IoU (change map vs mask)")
    ax.set_ylabel(ylabel)
    ax.set_xlim(-0.02, 1.02)
    ax.set_title(f"IoU vs {ykey.replace('_', ' ')} (one point per case)")
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(title="method", fontsize=9)
    else:  # an empty mask has no IoU: say so rather than show an empty frame
        ax.text(
            0.5,
            0.5,
            "no output has an IoU:\nevery mask scored against is empty",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=10,
            color="#666",
        )
    return _png_uri(fig)


def psnr_plot(rows: list[dict[str, Any]], methods: list[str]) -> str:
    """Background PSNR per method: a box of the finite values, points, and ∞ drawn on top."""
    fig = _figure(5.6, 4.2)
    ax = fig.add_subplot()
    finite = [
        [r["bg_psnr"] for r in rows if r["method"] == m and r.get("bg_psnr") is not None]
        for m in methods
    ]
    inf = [
        sum(
            1
            for r in rows
            if r["method"] == m and r.get("bg_psnr") is None and r.get("bg_mse") == 0
        )
        for m in methods
    ]
    values = [v for vs in finite for v in vs]
    top = (max(values) if values else 40.0) + 8.0
    rng = np.random.default_rng(0)  # fixed jitter: the same run gives the same picture
    for i, vs in enumerate(finite):
        if len(vs) > 1:
            ax.boxplot([vs], positions=[i], widths=0.5, showfliers=False)
        if vs:
            ax.scatter(i + rng.uniform(-0.12, 0.12, len(vs)), vs, s=18, color=f"C{i}", zorder=3)
        if inf[i]:
            ax.scatter([i], [top], marker="^", s=70, color=f"C{i}", zorder=3)
            ax.annotate(
                f"identical ×{inf[i]}",
                (i, top),
                textcoords="offset points",
                xytext=(0, 8),
                ha="center",
                fontsize=9,
            )
    ax.axhline(top - 4.0, color="#bbb", lw=0.8, ls="--")
    ax.set_xticks(range(len(methods)), [m.replace(" · ", "\n") for m in methods])  # fit
    ax.set_xlim(-0.6, len(methods) - 0.4)
    ax.set_ylim(min(values, default=top - 20.0) - 3.0, top + 6.0)
    # finite ticks below the dashed line, and one "∞" tick for identical backgrounds
    ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t < top - 4.0]
    ax.set_yticks([*ticks, top], [f"{t:g}" for t in ticks] + ["∞"])
    ax.set_ylabel("background PSNR (dB), higher = better kept")
    ax.set_title("Background PSNR per method")
    ax.grid(axis="y", alpha=0.3)
    return _png_uri(fig)
