"""The comparison grid's geometry: panels at a common height, aspect kept, very wide ones capped."""

from __future__ import annotations

import numpy as np

from maskedit.grid import CAPTION_H, MAX_PANEL_ASPECT, PAD, PANEL_H, STRIP_H, make_grid, turns_strip


def test_panels_keep_their_aspect_at_the_common_height():
    grid = make_grid([("a", np.zeros((500, 741, 3), np.uint8)), ("b", np.zeros((60, 40, 3), np.uint8))])
    assert grid.shape == (PAD + CAPTION_H + PANEL_H + PAD, round(741 * PANEL_H / 500) + round(40 * PANEL_H / 60) + 3 * PAD, 3)


def test_a_very_wide_photo_makes_a_grid_of_bounded_width():
    """A 1×3000 photo at the panel height would be 960,000 px wide: five such panels ran a
    machine out of memory. It is scaled to MAX_PANEL_ASPECT heights wide instead."""
    wide = np.full((1, 3000, 3), 200, np.uint8)
    grid = make_grid([("photo", wide), ("thin", np.full((17, 3000, 3), 90, np.uint8))])
    cap = MAX_PANEL_ASPECT * PANEL_H
    assert grid.shape == (PAD + CAPTION_H + PANEL_H + PAD, 2 * cap + 3 * PAD, 3)
    top = PAD + CAPTION_H
    assert (grid[top, PAD : PAD + cap] == 200).all()  # the photo, one pixel high, at the top
    assert (grid[top + round(17 * cap / 3000) - 1, 2 * PAD + cap : 2 * PAD + 2 * cap] == 90).all()
    strip = turns_strip(wide, [("make it red", wide, {})])
    assert strip.shape[1] == 2 * MAX_PANEL_ASPECT * STRIP_H + 3 * PAD
