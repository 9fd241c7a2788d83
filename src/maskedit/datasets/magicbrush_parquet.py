"""MagicBrush as the Hugging Face copy ships it (``osunlp/MagicBrush``: parquet files) → the
folder layout of the released zips, so one converter reads both.

The parquet rows are ``img_id``, ``turn_index``, ``source_img``, ``mask_img``, ``instruction``,
``target_img`` (images as ``{"bytes", "path"}``); the copy has the train and dev splits, no
descriptions (so no captions), and masks that mark the region in white.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from maskedit.datasets import check_case_id
from maskedit.errors import InputError
from maskedit.outputs import atomic_write_text

COLUMNS = ("img_id", "turn_index", "source_img", "mask_img", "instruction", "target_img")
DEFAULT_SPLIT = "dev"  # the split papers evaluate on (the test split ships only as a zip)


def parquet_files(root: Path, split: str) -> list[Path]:
    """The split's parquet files below ``root`` (``data/dev-00000-of-00002-….parquet``), in
    order; [] when ``root`` holds none at all; a one-line error when it holds other splits."""
    every = sorted(root.rglob("*.parquet")) if root.is_dir() else []
    mine = [p for p in every if p.name.split("-")[0] == split]
    if every and not mine:
        found = sorted({p.name.split("-")[0] for p in every})
        raise InputError(
            f"'{root}': no {split}-*.parquet file (its parquet files are of {', '.join(found)})"
        )
    return mine


def _rows(files: Iterable[Path]) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            "reading MagicBrush's parquet files needs pyarrow (pip install pyarrow)"
        ) from None
    rows = []
    for path in files:
        try:
            table = pq.read_table(path)
        except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
            raise InputError(f"'{path}': not a readable parquet file ({err})") from None
        missing = [c for c in COLUMNS if c not in table.column_names]
        if missing:
            raise InputError(f"'{path}': no column {', '.join(missing)} (MagicBrush has {COLUMNS})")
        rows += [{**row, "file": path} for row in table.select(list(COLUMNS)).to_pylist()]
    return rows


def _image(row: dict[str, Any], column: str) -> tuple[bytes, str]:
    """The encoded image of a row's cell, checked to be one PIL reads, and its file ending."""
    from PIL import Image, UnidentifiedImageError

    cell = row[column]
    data = cell.get("bytes") if isinstance(cell, dict) else cell
    where = f"'{row['file']}' image {row['img_id']!r} turn {row['turn_index']}: {column}"
    if not isinstance(data, bytes) or not data:
        raise InputError(f"{where}: no image bytes")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
            kind = img.format or "PNG"
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise InputError(f"{where}: not a readable image ({err})") from None
    return data, ".jpg" if kind == "JPEG" else f".{kind.lower()}"


def unpack_magicbrush_parquet(files: list[Path], dest: Path) -> Path:
    """Write the rows of ``files`` as the zip layout below ``dest`` and return ``dest``:
    ``images/<img_id>/<img_id>-input.png``, ``-mask<k>.png``, ``-output<k>.png`` and
    ``edit_sessions.json``. The bytes are written as stored, never re-encoded. A turn's source is
    named after the output of the turn before when it is that image (as the zip's sessions say),
    else ``<img_id>-input<k>.png``."""
    sessions: dict[str, list[dict[str, Any]]] = {}
    by_image: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(files):
        if not isinstance(row["img_id"], str) or not isinstance(row["turn_index"], int):
            raise InputError(f"'{row['file']}': a row's img_id or turn_index is missing")
        by_image.setdefault(row["img_id"], []).append(row)
    if not by_image:
        raise InputError(f"'{files[0]}': no rows")
    for img_id, rows in sorted(by_image.items()):
        rows.sort(key=lambda r: r["turn_index"])
        indices = [r["turn_index"] for r in rows]
        if indices != list(range(1, len(rows) + 1)):
            raise InputError(f"'{rows[0]['file']}' image {img_id!r}: turns {indices}, not 1 to n")
        folder = dest / "images" / check_case_id(img_id, f"'{rows[0]['file']}' image {img_id!r}")
        folder.mkdir(parents=True, exist_ok=True)
        written: dict[bytes, str] = {}  # image bytes -> the file holding them
        session = []
        for row in rows:
            k = row["turn_index"]
            if not isinstance(row["instruction"], str) or not row["instruction"].strip():
                raise InputError(f"'{row['file']}' image {img_id!r} turn {k}: no instruction")
            names = {}
            for key, column, stem in (
                ("input", "source_img", f"{img_id}-input{k if k > 1 else ''}"),
                ("mask", "mask_img", f"{img_id}-mask{k}"),
                ("output", "target_img", f"{img_id}-output{k}"),
            ):
                data, suffix = _image(row, column)
                if key == "input" and data in written:  # the output of the turn before
                    names[key] = written[data]
                    continue
                names[key] = stem + suffix
                (folder / names[key]).write_bytes(data)
                if key != "mask":
                    written.setdefault(data, names[key])
            session.append({**names, "instruction": row["instruction"]})
        sessions[img_id] = session
    text = json.dumps(sessions, indent=1, ensure_ascii=False) + "\n"
    atomic_write_text(dest / "edit_sessions.json", text)
    return dest
