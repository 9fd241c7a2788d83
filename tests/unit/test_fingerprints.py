"""A case's fingerprint changes with the bytes of every file it names, and only with them."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from maskedit.config import case_from_dict
from maskedit.fingerprints import case_fingerprint, case_state, file_digest, legacy_fingerprint


def _png(path, value: int) -> None:
    Image.fromarray(np.full((8, 8), value, np.uint8)).save(path)


@pytest.mark.parametrize("changed", ["m1.png", "m2.png", "ref.png", "rm.png", "gt.png"])
def test_every_file_a_case_names_is_in_its_fingerprint(tmp_path, changed):
    for name in ("p.png", "m1.png", "m2.png", "ref.png", "rm.png", "gt.png"):
        _png(tmp_path / name, 255)
    plain = {
        "id": "a",
        "image": "p.png",
        "instruction": "red",
        "mask": "m1.png",
        "references": ["ref.png"],
        "reference_mask": "rm.png",
        "ground_truth": "gt.png",
    }
    regions = {
        "id": "r",
        "image": "p.png",
        "regions": [
            {"instruction": "red", "mask": "m1.png"},
            {"instruction": "blue", "mask": "m2.png"},
        ],
    }
    turns = {
        "id": "t",
        "image": "p.png",
        "turns": [
            {"instruction": "red", "mask": "m1.png"},
            {"instruction": "blue", "mask": "m2.png", "ground_truth": "gt.png"},
        ],
    }
    cases = [case_from_dict(doc, tmp_path) for doc in (plain, regions, turns)]
    before = [case_fingerprint(case, None) for case in cases]
    _png(tmp_path / changed, 255)  # the same bytes again: the same fingerprint
    assert [case_fingerprint(case, None) for case in cases] == before
    _png(tmp_path / changed, 0)
    after = [case_fingerprint(case, None) for case in cases]
    named = [
        changed != "m2.png",
        changed in ("m1.png", "m2.png"),
        changed in ("m1.png", "m2.png", "gt.png"),
    ]
    assert [a != b for a, b in zip(after, before, strict=True)] == named


def test_a_folder_written_before_every_file_was_hashed_is_still_done(tmp_path):
    """Its record holds the fingerprint of the image and first mask only: upgrading maskedit
    redoes no finished case; a changed case is still redone."""
    import json

    for name in ("p.png", "m.png", "rm.png"):
        _png(tmp_path / name, 255)
    case = case_from_dict(
        {
            "id": "a",
            "image": "p.png",
            "instruction": "red",
            "mask": "m.png",
            "reference_mask": "rm.png",
        },
        tmp_path,
    )
    folder = tmp_path / "out" / "a"
    folder.mkdir(parents=True)
    old = legacy_fingerprint(case, None)
    assert old != case_fingerprint(case, None)
    from maskedit.record import SCHEMA_VERSION

    record = {
        "schema": SCHEMA_VERSION,
        "versions": {"maskedit": "0"},
        "outputs": {},
        "methods": {},
        "fingerprint": old,
    }
    (folder / "record.json").write_text(json.dumps(record))
    legacy = [lambda: legacy_fingerprint(case, None)]
    assert case_state(folder, case_fingerprint(case, None), legacy).reason == "done"
    assert case_state(folder, case_fingerprint(case, None)).reason == "changed"
    _png(tmp_path / "m.png", 0)
    assert case_state(folder, case_fingerprint(case, None), legacy).reason == "changed"


def test_baseline_chain_is_in_a_turns_fingerprint_only_when_on(tmp_path):
    """Toggling it makes a finished folder stale; off, the fingerprint is the one a case had
    before the key existed (upgrading redoes no finished case)."""
    _png(tmp_path / "p.png", 255)
    raw = {"id": "t", "image": "p.png", "turns": [{"instruction": "red", "box": [1, 1, 4, 4]}]}
    off = case_from_dict(raw, tmp_path)
    on = case_from_dict({**raw, "baseline_chain": True}, tmp_path)
    assert case_fingerprint(on, None) != case_fingerprint(off, None)
    assert legacy_fingerprint(on, None) != legacy_fingerprint(off, None)
    old = off.model_dump(mode="json")
    del old["baseline_chain"]
    old["image"] = file_digest(tmp_path / "p.png")
    old |= {"models": {}, "threshold": None}
    text = json.dumps(old, sort_keys=True, ensure_ascii=True, allow_nan=True)
    assert legacy_fingerprint(off, None) == hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.mark.parametrize("several", ["regions", "turns"])
def test_the_segmenter_is_in_the_fingerprint_when_any_region_clicks(tmp_path, several):
    """A mask file in the first region and a click in the second: the second region's mask is
    the segmenter's, so another segmenter makes the finished folder stale."""
    from maskedit.config import ModelOptions

    _png(tmp_path / "p.png", 255)
    _png(tmp_path / "m.png", 255)
    raw = {
        "id": "a",
        "image": "p.png",
        several: [
            {"instruction": "red", "mask": "m.png"},
            {"instruction": "blue", "point": [3, 3]},
        ],
    }
    case = case_from_dict(raw, tmp_path)
    sam, sam2 = ModelOptions(kind="tiny"), ModelOptions(kind="tiny", segmenter="sam2")
    assert case_fingerprint(case, sam) != case_fingerprint(case, sam2)
    masks_only = case_from_dict(
        {**raw, several: [{"instruction": "red", "mask": "m.png"}]}, tmp_path
    )
    assert case_fingerprint(masks_only, sam) == case_fingerprint(masks_only, sam2)  # no SAM asked


def test_a_file_rewritten_with_its_size_and_mtime_kept_is_hashed_again(tmp_path):
    """`cp -p` / `rsync -t` keep size and mtime; the digest still follows the bytes."""
    import os
    import time

    path = tmp_path / "m.png"
    path.write_bytes(b"a" * 100)
    before, stat = file_digest(path), path.stat()
    time.sleep(0.01)  # a ctime the rewrite can tell apart
    path.write_bytes(b"b" * 100)  # the same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    assert file_digest(path) != before


def _made_on(device: str | None, dtype: str | None) -> dict:
    ip2p = {} if dtype is None else {"dtype": dtype}
    return {"models": {"ip2p": ip2p, **({} if device is None else {"device": device})}}


@pytest.mark.parametrize(
    "made, options, same",
    [
        (("cuda:0", "float16"), {"device": "cuda"}, True),  # ip2p's published dtype on a GPU
        (("cuda", "float16"), {"device": "cuda:1"}, True),  # another GPU of the same kind
        (("cuda:0", "float16"), {"device": "cpu"}, False),  # made on a GPU, now on a laptop
        (("cpu", "float32"), {"device": "cuda"}, False),
        (("cuda", "float32"), {"device": "cuda"}, False),  # --dtype fp32 then, fp16 now
        (("cuda", "float32"), {"device": "cuda", "dtype": "fp32"}, True),
        (("cuda", "bfloat16"), {"device": "cuda", "editor": "kontext"}, True),  # FLUX: bf16
        (("cpu", "float32"), {}, True),  # no device asked: Ray's driver cannot know the actors'
        ((None, None), {"device": "cuda"}, True),  # a record from before: nothing to compare
        (("cuda:0", "float32"), {"kind": "tiny", "device": "cuda"}, True),  # tiny: always fp32
        (("cuda:0", "float16"), {"kind": "tiny", "device": "cuda", "dtype": "fp16"}, False),
    ],
)
def test_a_folder_is_done_only_on_the_device_kind_and_dtype_it_was_made_in(made, options, same):
    from maskedit.config import ModelOptions
    from maskedit.fingerprints import same_precision

    assert same_precision(_made_on(*made), ModelOptions(**options)) is same


def test_a_run_redoes_a_case_made_on_another_device_and_dtype(tmp_path):
    """The default run asks for no device or dtype, so the fingerprint is the same on a laptop
    and on a GPU; the loaded models' own device and dtype tell the folders apart."""
    from typer.testing import CliRunner

    from maskedit.cli import app

    _png(tmp_path / "p.png", 90)
    (tmp_path / "m.yaml").write_text(
        "cases:\n  - {id: a, image: p.png, instruction: red, box: [1, 1, 6, 6], steps: 2}\n"
    )
    run = ["run", str(tmp_path / "m.yaml"), "--out", str(tmp_path / "o"), "--models", "tiny"]
    runner = CliRunner()
    assert runner.invoke(app, [*run, "--clip", "none"]).exit_code == 0
    assert "0 done, 1 already finished" in runner.invoke(app, [*run, "--clip", "none"]).stdout
    record_file = tmp_path / "o" / "a" / "record.json"
    record = json.loads(record_file.read_text())
    assert (record["models"]["device"], record["models"]["ip2p"]["dtype"]) == ("cpu", "float32")
    record["models"]["device"], record["models"]["ip2p"]["dtype"] = "cuda:0", "float16"
    record_file.write_text(json.dumps(record))  # as if this folder had been made on a GPU
    res = runner.invoke(app, [*run, "--clip", "none"])
    assert res.exit_code == 0 and "1 done (1 redone" in " ".join(res.stdout.split()), res.output
    assert json.loads(record_file.read_text())["models"]["device"] == "cpu"


def test_scoring_is_compared_on_what_the_run_knows():
    """A kept key agrees with what the run names (a network "auto" picks is named only once
    loaded); a folder without a kept scoring was scored with older formulas, and another
    formula version disagrees."""
    from maskedit.scoring import FORMULAS, Scorers, same_scoring, scoring_key

    kept = scoring_key(Scorers(threshold=20.0))
    nets = {"clip": None, "lpips": None, "structure": None, "dino": None}
    assert kept == {"formulas": FORMULAS, "threshold": 20.0, **nets}
    assert same_scoring(kept, scoring_key(Scorers(threshold=20.0)))
    assert not same_scoring(kept, scoring_key(Scorers(threshold=None)))
    assert not same_scoring(None, scoring_key(Scorers(threshold=5.0)))
    assert not same_scoring(
        {**kept, "formulas": FORMULAS - 1}, scoring_key(Scorers(threshold=20.0))
    )
    assert same_scoring({**kept, "clip": "openai/clip-vit-base-patch32"}, {"threshold": 20.0})
    assert not same_scoring(kept, {"threshold": 30.0})
    assert not same_scoring({}, {"threshold": None})  # a damaged key: scored with what?
    assert not same_scoring({"clip": None}, {"threshold": None})  # one cut short
