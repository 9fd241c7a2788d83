"""MagicBrush as the Hugging Face copy ships it (``osunlp/MagicBrush``: parquet files) → the
folder layout of the released zips, so one converter reads both.

The parquet rows are ``img_id``, ``turn_index``, ``source_img``, ``mask_img``, ``instruction``,
``target_img`` (images as ``{"bytes", "path"}``); the copy has the train and dev splits, no
descriptions (so no captions), and masks that mark the region in white.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from maskedit.datasets import check_case_id
from maskedit.errors import InputError
from maskedit.outputs import atomic_write_text

COLUMNS = ("img_id", "turn_index", "source_img", "mask_img", "instruction", "target_img")
FILES = {"input": "source_img", "mask": "mask_img", "output": "target_img"}  # session key: column
SESSION_KEYS = ("input", "mask", "output", "instruction")  # a turn of edit_sessions.json
# The copy holds train and dev; the test split, which MagicBrush's paper reports, is the zip.
DEFAULT_SPLIT = "dev"


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


def _rows(files: Iterable[Path]) -> Iterator[dict[str, Any]]:
    """The rows of the files, a few at a time: a split's images are gigabytes (train's ~25 GB)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            "reading MagicBrush's parquet files needs pyarrow (pip install pyarrow)"
        ) from None
    for path in files:
        try:
            parquet = pq.ParquetFile(path)
            missing = [c for c in COLUMNS if c not in parquet.schema_arrow.names]
            if missing:
                raise InputError(
                    f"'{path}': no column {', '.join(missing)} (MagicBrush has {COLUMNS})"
                )
            for batch in parquet.iter_batches(batch_size=16, columns=list(COLUMNS)):
                for row in batch.to_pylist():
                    yield {**row, "file": path}
        except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
            raise InputError(f"'{path}': not a readable parquet file ({err})") from None


def _bytes(cell: Any) -> Any:
    """An image cell's encoded bytes (the datasets library stores {"bytes", "path"})."""
    return cell.get("bytes") if isinstance(cell, dict) else cell


def _image(row: dict[str, Any], column: str) -> tuple[bytes, str]:
    """The encoded image of a row's cell, checked to be one PIL reads, and its file ending."""
    from PIL import Image, UnidentifiedImageError

    data = _bytes(row[column])
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


def _file_names(turns: list[dict[str, Any]], img_id: str) -> None:
    """Each turn's input, mask and output file names, the zip's way: a source that is an image
    written before (the output of the turn before) is named after that file."""
    written: dict[str, str] = {}  # image digest -> its file
    for k, turn in enumerate(turns, start=1):
        digest, suffix = turn["source_img"]
        stem = f"{img_id}-input{k if k > 1 else ''}"
        turn["input"] = written.get(digest) or written.setdefault(digest, stem + suffix)
        turn["write_input"] = turn["input"] == stem + suffix
        turn["mask"] = f"{img_id}-mask{k}{turn['mask_img'][1]}"
        turn["output"] = f"{img_id}-output{k}{turn['target_img'][1]}"
        written.setdefault(turn["target_img"][0], turn["output"])


def unpack_magicbrush_parquet(files: list[Path], dest: Path) -> Path:
    """Write the rows of ``files`` as the zip layout below ``dest`` and return ``dest``:
    ``images/<img_id>/<img_id>-input.png``, ``-mask<k>.png``, ``-output<k>.png`` and
    ``edit_sessions.json``. The bytes are written as stored, never re-encoded, and never held
    all at once: the files are read twice, first for the turns (and the images' digests), then
    to write the images. A turn's source is named after the output of the turn before when it is
    that image (as the zip's sessions say), else ``<img_id>-input<k>.png``."""
    by_image: dict[str, dict[int, dict[str, Any]]] = {}
    for row in _rows(files):
        img_id, k = row["img_id"], row["turn_index"]
        if not isinstance(img_id, str) or not isinstance(k, int):
            raise InputError(f"'{row['file']}': a row's img_id or turn_index is missing")
        where = f"'{row['file']}' image {img_id!r}"
        check_case_id(img_id, where)
        if not isinstance(row["instruction"], str) or not row["instruction"].strip():
            raise InputError(f"{where} turn {k}: no instruction")
        turn: dict[str, Any] = {"instruction": row["instruction"]}
        for column in FILES.values():
            data, suffix = _image(row, column)
            turn[column] = (hashlib.sha256(data).hexdigest(), suffix)
        if k in by_image.setdefault(img_id, {}):
            raise InputError(f"{where}: turn {k} twice")
        by_image[img_id][k] = turn
    if not by_image:
        raise InputError(f"'{files[0]}': no rows")
    sessions = {}
    for img_id, turns in sorted(by_image.items()):
        if sorted(turns) != list(range(1, len(turns) + 1)):
            raise InputError(f"image {img_id!r}: turns {sorted(turns)}, not 1 to n")
        ordered = [turns[k] for k in sorted(turns)]
        _file_names(ordered, img_id)
        sessions[img_id] = [{key: t[key] for key in SESSION_KEYS} for t in ordered]
    for row in _rows(files):
        turn = by_image[row["img_id"]][row["turn_index"]]
        folder = dest / "images" / row["img_id"]
        folder.mkdir(parents=True, exist_ok=True)
        for key, column in FILES.items():
            if key != "input" or turn["write_input"]:
                (folder / turn[key]).write_bytes(_bytes(row[column]))
    text = json.dumps(sessions, indent=1, ensure_ascii=False) + "\n"
    atomic_write_text(dest / "edit_sessions.json", text)
    return dest
