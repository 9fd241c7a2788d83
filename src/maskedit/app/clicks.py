"""Clicks → SAM prompts, as a history of immutable states.

One `Clicks` value per state; the page keeps a tuple of them, so undo is "drop the last one"
whatever the click did (a point, a first corner, a box). Coordinates are the photo's own pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from maskedit.errors import InputError

CLICK_MODES = ("include", "exclude", "box")


@dataclass(frozen=True)
class Clicks:
    """SAM prompts in image pixels: points (x, y, label 1/0), a box XYXY, a box's first corner."""

    points: tuple[tuple[float, float, int], ...] = ()
    box: tuple[float, float, float, float] | None = None
    corner: tuple[float, float] | None = None

    @property
    def has_region(self) -> bool:
        """SAM needs at least one include point or a box (exclude points alone say nowhere)."""
        return self.box is not None or any(label == 1 for *_, label in self.points)

    def describe(self) -> str:
        inc = sum(label == 1 for *_, label in self.points)
        exc = len(self.points) - inc
        parts = [f"{inc} include", f"{exc} exclude"]
        if self.box is not None:
            parts.append("box " + ",".join(f"{v:g}" for v in self.box))
        if self.corner is not None:
            parts.append(f"box corner at {self.corner[0]:g},{self.corner[1]:g}: click the other")
        return ", ".join(parts)

    def to_record(self) -> dict[str, list | None]:
        """The prompts as record.json keeps them: `points` [[x, y, label], …] and `box`."""
        return {
            "points": [list(p) for p in self.points],
            "box": list(self.box) if self.box else None,
        }


def add_click(clicks: Clicks, x: float, y: float, mode: str) -> Clicks:
    """The prompts after one click at image pixel (x, y) in `mode` (include, exclude or box).

    Box mode takes two clicks: the first sets a corner, the second the opposite corner and
    replaces any earlier box. A point click drops a half-drawn box (its lone corner).
    """
    if mode not in CLICK_MODES:
        raise InputError(f"click mode '{mode}': expected one of {', '.join(CLICK_MODES)}")
    if mode in ("include", "exclude"):
        label = 1 if mode == "include" else 0
        return replace(clicks, points=(*clicks.points, (float(x), float(y), label)), corner=None)
    if clicks.corner is None:
        return replace(clicks, corner=(float(x), float(y)))
    (x0, y0), (x1, y1) = clicks.corner, (float(x), float(y))
    if x0 == x1 or y0 == y1:
        raise InputError(
            f"box: corners ({x0:g}, {y0:g}) and ({x1:g}, {y1:g}) must differ in both x and y"
        )
    box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    return replace(clicks, box=box, corner=None)


def current(history: tuple[Clicks, ...]) -> Clicks:
    """The prompts now: the last state of the history (no clicks yet: empty prompts)."""
    return history[-1] if history else Clicks()


def drop_corner(history: tuple[Clicks, ...]) -> tuple[Clicks, ...]:
    """The history with a half-drawn box (a lone first corner) taken off its last state.

    Called when the click mode changes: the corner belongs to a box nobody is drawing any more.
    The last state is replaced, not added to, so undo does not bring the stray corner back.
    """
    if not history or history[-1].corner is None:
        return history
    return (*history[:-1], replace(history[-1], corner=None))


def undo(history: tuple[Clicks, ...]) -> tuple[Clicks, ...]:
    """The history without its last click."""
    return history[:-1]


def sam_inputs(clicks: Clicks) -> tuple[np.ndarray | None, tuple[float, ...] | None]:
    """`SamPredictor.predict` arguments: points N×3 float (x, y, label) or None, box or None."""
    pts = np.array(clicks.points, dtype=np.float64) if clicks.points else None
    return pts, clicks.box
