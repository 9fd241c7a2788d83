"""What produced a case folder's pictures: the case, the bytes of its input files and the models,
hashed; a finished case is reused only when its fingerprint is the same."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from maskedit.config import Case, ModelOptions
from maskedit.errors import InputError
from maskedit.families import EDITORS
from maskedit.images import SAMPLE_PREFIX
from maskedit.models import Models, pick_dtype
from maskedit.outputs import CaseFolder, inspect_case_folder

_HASHES: dict[tuple[str, int, int, int, int], str] = {}


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, kept for the life of the process per path, size, mtime, inode
    and ctime: a file rewritten with its size and mtime kept (`cp -p`, `rsync -t`) still gets a
    new ctime, which no tool sets back."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as err:
        raise InputError(f"'{path}': cannot be read ({err.strerror or err})") from None
    key = (str(path.absolute()), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        except OSError as err:
            raise InputError(f"'{path}': cannot be read ({err.strerror or err})") from None
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def model_identity(models: Models | ModelOptions | None, case: Case) -> dict[str, Any]:
    """The models that make `case`'s pixels: the options they were loaded with (editor and its
    checkpoint, device, dtype, working size, speed options; the segmenter only when the case
    asks SAM, the phrase model only when it has a phrase)."""
    if models is None:
        return {}
    options = models if isinstance(models, ModelOptions) else getattr(models, "options", None)
    # every region of every turn: a later region's click is SAM's as much as the first one's
    needs_sam = any(p.needs_sam for p in case.all_prompts)
    if options is None:  # models the caller built: what they say about themselves
        described = models.describe()
        return {
            k: described.get(k)
            for k in ("kind", "ip2p", "editor", "device", "working_size", "speedups")
        } | ({"sam": described.get("sam")} if needs_sam else {})
    identity = options.model_dump(
        mode="json",
        include={"kind", "editor", "editor_id", "device", "dtype", "working_size", "speedups"},
    )
    if needs_sam:
        identity |= {"segmenter": options.segmenter, "segmenter_id": options.segmenter_id}
    if any(p.target is not None for p in case.all_prompts):
        identity["text_model"] = options.text_model
    return identity


def _digest(path: str | None) -> str | None:
    """A file named by a case as its bytes' sha256 (a sample image by its name)."""
    if path is None or path.startswith(SAMPLE_PREFIX):
        return path
    return file_digest(path)


def _with_region_digests(region: dict[str, Any]) -> dict[str, Any]:
    region["prompts"]["mask"] = _digest(region["prompts"]["mask"])
    return region


def _with_file_digests(doc: dict[str, Any]) -> dict[str, Any]:
    """A case's dump with every file it names as the digest of its bytes: the image, the mask
    of every region and turn, the reference images, the reference mask and the ground truths."""
    doc["image"] = _digest(doc["image"])
    doc["references"] = [_digest(path) for path in doc["references"]]
    doc["reference_mask"] = _digest(doc["reference_mask"])
    doc["ground_truth"] = _digest(doc["ground_truth"])
    _with_region_digests(doc)
    doc["regions"] = [_with_region_digests(region) for region in doc["regions"]]
    for turn in doc["turns"]:
        turn["ground_truth"] = _digest(turn["ground_truth"])
        turn["regions"] = [_with_region_digests(region) for region in turn["regions"]]
    return doc


def case_fingerprint(case: Case, models: Models | ModelOptions | None) -> str:
    """sha256 over everything that made a case folder's pictures: the case (instruction,
    prompts, settings, captions), the bytes of every file it names (`_with_file_digests`) and
    the models. File paths are left out: moving a manifest with its files changes nothing.
    Scoring is not in it: metrics.json keeps what scored it (`maskedit.scoring.scoring_key`),
    and another threshold or metric network scores the folder again without editing again."""
    return _sha(_with_file_digests(_dump(case)), case, models)


def scored_fingerprint(
    case: Case, models: Models | ModelOptions | None, threshold: float | None = None
) -> str:
    """The fingerprint of folders written when the change threshold was hashed in too: such a
    folder made with this run's threshold is still done, so that upgrading redoes no finished
    case (one made with another threshold is edited again, as it was then)."""
    return _sha(_with_file_digests(_dump(case)), case, models, threshold)


def legacy_fingerprint(
    case: Case, models: Models | ModelOptions | None, threshold: float | None = None
) -> str:
    """The fingerprint of folders written when only the image and the first mask were hashed by
    content (the other files by path), with the change threshold: such a folder is still done,
    so that upgrading maskedit redoes no finished case."""
    doc = _dump(case)
    doc["image"] = _digest(doc["image"])
    if case.prompts.mask is not None:
        doc["prompts"]["mask"] = file_digest(case.prompts.mask)
    return _sha(doc, case, models, threshold)


def older_fingerprints(
    case: Case, models: Models | ModelOptions | None, threshold: float | None
) -> tuple[Callable[[], str], ...]:
    """The fingerprints earlier versions wrote for `case`, newest first, each computed only
    when a folder's fingerprint is not the current one: with this run's threshold hashed in,
    then (another threshold given) with the default one, which most folders were made with:
    such a folder is scored again (it keeps no scoring key), not edited again."""
    thresholds = dict.fromkeys((threshold, None))
    return tuple(
        functools.partial(version, case, models, t)
        for t in thresholds
        for version in (scored_fingerprint, legacy_fingerprint)
    )


def _dump(case: Case) -> dict[str, Any]:
    """The case as JSON; `baseline_chain` only when on, so that a case without it keeps the
    fingerprint it had before the key existed (and toggling it makes the folder stale)."""
    doc = case.model_dump(mode="json")
    if not doc.get("baseline_chain"):
        doc.pop("baseline_chain", None)
    return doc


_UNSCORED = object()  # the current fingerprint hashes no threshold (not even None)


def _sha(doc: dict[str, Any], case: Case, models, threshold: Any = _UNSCORED) -> str:
    doc["models"] = model_identity(models, case)
    if threshold is not _UNSCORED:
        doc["threshold"] = threshold
    text = json.dumps(doc, sort_keys=True, ensure_ascii=True, allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def case_state(
    case_dir: Path,
    fingerprint: str,
    older: Iterable[Callable[[], str]] = (),
    models: Models | ModelOptions | None = None,
) -> CaseFolder:
    """The case folder's state, with `complete` split: `done` (the same fingerprint, or one of
    the `older` ones, and made on the same kind of device in the same dtype as `models` run)
    or `changed`."""
    found = inspect_case_folder(case_dir)
    if found.state != "complete":
        return found
    written = found.record.get("fingerprint")
    done = written == fingerprint or any(written == fingerprint_of() for fingerprint_of in older)
    done = done and same_precision(found.record, models)
    return replace(found, reason="done" if done else "changed")


def same_precision(record: dict[str, Any], models: Models | ModelOptions | None) -> bool:
    """Whether the folder's record says it was made on the kind of device (cpu, cuda, mps) and
    in the dtype that `models` run in.

    The fingerprint holds the device and dtype asked for, and by default nobody asks: the same
    run on a laptop (fp32) and on a GPU (fp16) gives other pixels, so a folder made on the one
    is not the other's. What cannot be known here (a record from before, options not yet
    loaded on a machine whose device is not this one) counts as the same."""
    made = record.get("models") if isinstance(record.get("models"), dict) else {}
    made_device = str(made.get("device") or "").partition(":")[0] or None
    made_dtype = made.get("ip2p", {}).get("dtype") if isinstance(made.get("ip2p"), dict) else None
    device, dtype = _precision(models)
    return (None in (made_device, device) or made_device == device) and (
        None in (made_dtype, dtype) or made_dtype == dtype
    )


def _precision(models: Models | ModelOptions | None) -> tuple[str | None, str | None]:
    """(device kind, dtype name) that `models` run in; options say them only when given."""
    if isinstance(models, Models):
        return models.device.type, str(models.pipe.dtype).removeprefix("torch.")
    if not isinstance(models, ModelOptions) or models.device is None:
        return None, None  # e.g. Ray's driver: the actors pick their own device
    device = torch.device(models.device)
    if models.kind == "tiny":  # built in fp32 whatever the device and --dtype
        return device.type, "float32"
    return device.type, str(pick_dtype(device, models.dtype, EDITORS[models.editor])).removeprefix(
        "torch."
    )
