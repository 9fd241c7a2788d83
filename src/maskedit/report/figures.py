"""A case's pictures on the report page: links into the run folder, the size each is shown at,
which can be decoded, and which the record names but the folder no longer holds."""

from __future__ import annotations

import html
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

from PIL import Image

from maskedit.errors import MaskeditWarning


def escape(value: Any) -> str:
    """Text (or a value) as HTML, quotes included."""
    return html.escape(str(value), quote=True)


def href(out_dir: Path, path: Path) -> str:
    """A link from report.html (in `out_dir`) to a file inside the run folder, URL-quoted."""
    rel = path.resolve().relative_to(out_dir.resolve())
    return escape("/".join(quote(part) for part in rel.parts))


FIGURE_HEIGHT, FIGURE_WIDTH = 200, 1040  # a case's pictures: this tall, unless that is too wide


def shown_size(size: tuple[int, int]) -> tuple[int, int]:
    """The size a picture is shown at: FIGURE_HEIGHT tall, or FIGURE_WIDTH wide for a wide one,
    its aspect kept (a 1200×64 strip is not stretched); at least a few pixels either way."""
    w, h = size
    shown_w, shown_h = FIGURE_HEIGHT * w / h, FIGURE_HEIGHT
    if shown_w > FIGURE_WIDTH:
        shown_w, shown_h = FIGURE_WIDTH, FIGURE_WIDTH * h / w
    return max(4, round(shown_w)), max(4, round(shown_h))


def figure(
    out_dir: Path, path: Path, caption: str, alt: str, size: tuple[int, int] | None = None
) -> str:
    """A picture linked to its full-size file; its size keeps the page's layout while the
    browser loads it (pictures load as they scroll into view)."""
    link = href(out_dir, path)
    w, h = shown_size(size) if size else (None, FIGURE_HEIGHT)
    dims = f' height="{h}"' if w is None else f' width="{w}" height="{h}"'
    if size and min(size) * 50 < max(size):  # a sliver: its shown size, not its aspect's height
        dims += f' style="width: {w}px; height: {h}px"'
    return (
        f'<figure><a href="{link}"><img src="{link}" alt="{escape(alt)}"{dims} loading="lazy"></a>'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def readable(path: Path) -> tuple[int, int] | None:
    """The picture's (width, height) when Pillow can decode it; a zero-byte or truncated file is
    one warning and None: it is left out of the page (the page is still written)."""
    try:
        with Image.open(path) as img:
            img.load()
            return img.size
    except Exception as err:  # noqa: BLE001 - Pillow raises many kinds; each is one warning
        detail = " ".join(str(err).split())[:160] or type(err).__name__
        warnings.warn(
            f"'{path}': not a readable image ({detail}); left out of the report",
            MaskeditWarning,
            3,
        )
        return None


def missing_files(case_dir: Path, record: dict[str, Any]) -> list[str]:
    """The pictures the record names that the case folder no longer holds (deleted or moved by
    hand): the page says so where they would be, instead of leaving them out without a word."""
    named = record.get("outputs") if isinstance(record.get("outputs"), dict) else {}
    methods = record.get("methods") if isinstance(record.get("methods"), dict) else {}
    names = [*named.values(), *methods.values()]
    plain = [n for n in names if isinstance(n, str) and n.endswith(".png") and "/" not in n]
    return sorted({n for n in plain if not (case_dir / n).is_file()})
