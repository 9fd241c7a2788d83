"""`run_manifest_ray` on a local 2-CPU Ray instance: the same files as a local run, resume after a
killed worker, and ray stays out of `import maskedit.runner, maskedit.cli`."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray")

from maskedit.config import load_manifest  # noqa: E402
from maskedit.errors import InputError, MissingWeightsError, RunFailure  # noqa: E402
from maskedit.ray_runner import KILL_MARKER_ENV, KILL_ON_CASE_ENV, run_manifest_ray  # noqa: E402

pytestmark = pytest.mark.integration  # a local Ray instance: outside the default run, in CI's

TINY = {"kind": "tiny", "device": "cpu", "need_sam": True}  # CPU here and in the actors
CASES = ["box", "mask", "point", "points"]
TABLES = ["results.jsonl", "run_log.jsonl", "summary.csv"]


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance for the module; run_manifest_ray uses it and leaves it running."""
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


def _manifest(root: Path) -> Path:
    """Four cases, one per kind of region (box, mask file, click, clicks with an exclude)."""
    h, w = 60, 90
    y, x = np.mgrid[0:h, 0:w]
    Image.fromarray(np.stack([x * 2, y * 3, x + y], -1).astype(np.uint8)).save(root / "photo.png")
    mask = np.zeros((h, w), np.uint8)
    mask[10:40, 20:70] = 255
    Image.fromarray(mask).save(root / "m.png")
    (root / "m.yaml").write_text(
        "defaults: {steps: 3}\n"
        "cases:\n"
        " - {id: point, image: photo.png, instruction: make it red, point: [40, 30]}\n"
        " - {id: mask, image: photo.png, instruction: make it blue, mask: m.png, seed: 5,"
        " methods: [pixel, latent]}\n"
        " - {id: box, image: photo.png, instruction: make it green, box: [10, 5, 60, 50],"
        " seed: 7}\n"
        " - {id: points, image: photo.png, instruction: snow, points: [[40, 30, 1], [5, 5, 0]],"
        " seed: 9, captions: {target: a snowy photo}}\n"
    )
    return root / "m.yaml"


def _entries(out: Path) -> list[str]:
    """What a run left in `out` (a folder the run made and wrote nothing to is removed)."""
    if not out.exists():
        return []
    return sorted(p.name for p in out.iterdir() if p.name != ".maskedit.lock")


def _without_timings(record_file: Path) -> dict:
    record = json.loads(record_file.read_text())
    record.pop("timings_s")
    return record


def test_ray_run_equals_local_run(tmp_path, ray_local):
    from maskedit.models import clip_for_metrics as clip_for
    from maskedit.models import load_models
    from maskedit.runner import run_manifest

    manifest = load_manifest(_manifest(tmp_path))
    local, remote = tmp_path / "local", tmp_path / "ray"
    clip = clip_for("auto", tiny=True, device="cpu")
    summary = run_manifest(manifest, load_models(**TINY), local, progress=False, clip=clip)
    assert sorted(summary.done) == CASES
    summary = run_manifest_ray(manifest, remote, model_options=TINY, num_actors=2, progress=False)
    assert sorted(summary.done) == CASES and not summary.failed

    assert _entries(remote) == _entries(local) == CASES + TABLES
    for case in CASES:
        files = sorted(p.name for p in (local / case).iterdir())
        assert sorted(p.name for p in (remote / case).iterdir()) == files
        for name in files:
            if name.endswith(".png") or name == "metrics.json":
                assert (remote / case / name).read_bytes() == (local / case / name).read_bytes(), (
                    f"{case}/{name}"
                )
        assert _without_timings(remote / case / "record.json") == _without_timings(
            local / case / "record.json"
        )
    for table in ("results.jsonl", "summary.csv"):
        assert (remote / table).read_text() == (local / table).read_text(), table
    rows = [json.loads(line) for line in (remote / "results.jsonl").read_text().splitlines()]
    assert [(r["case_id"], r["method"]) for r in rows] == [
        ("box", "baseline"), ("box", "pixel"),
        ("mask", "baseline"), ("mask", "pixel"), ("mask", "latent"),
        ("point", "baseline"), ("point", "pixel"),
        ("points", "baseline"), ("points", "pixel"),
    ]  # fmt: skip
    assert all("clip_score" in r for r in rows)  # the tiny CLIP scored them on the actors too


def test_a_benchmark_case_is_scored_on_ray_with_the_local_networks(tmp_path, ray_local):
    """A PIE-Bench case: the actors load the metric networks a local run loads for it (LPIPS and
    the structure DINO), so metrics.json is the same file."""
    from maskedit.metric_models import MetricChoices
    from maskedit.models import load_models
    from maskedit.runner import run_manifest

    _manifest(tmp_path)
    (tmp_path / "pie.yaml").write_text(
        "cases:\n - {id: pie, image: photo.png, instruction: make it red, mask: m.png, steps: 2,"
        " benchmark: {name: pie-bench, mask_source: annotation}}\n"
    )
    manifest = load_manifest(tmp_path / "pie.yaml")
    local, remote = tmp_path / "local", tmp_path / "ray"
    clip, backbones = MetricChoices().load({"pie-bench"}, tiny=True, device="cpu")
    models = load_models(**TINY)
    run_manifest(manifest, models, local, progress=False, clip=clip, backbones=backbones)
    summary = run_manifest_ray(manifest, remote, model_options=TINY, num_actors=1, progress=False)
    assert summary.done == ["pie"] and not summary.failed
    metrics = (remote / "pie" / "metrics.json").read_text()
    assert metrics == (local / "pie" / "metrics.json").read_text()
    assert "bg_lpips" in metrics and "structure_distance" in metrics


def test_killed_worker_is_retried_and_every_case_written_once(tmp_path, monkeypatch, ray_local):
    manifest = load_manifest(_manifest(tmp_path))
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".point.k2x9q0ab.partial"  # what a worker killed mid-write in an earlier run left
    stale.mkdir()
    (stale / "original.png").write_bytes(b"half")
    marker = tmp_path / "killed"
    monkeypatch.setenv(KILL_ON_CASE_ENV, "mask")
    monkeypatch.setenv(KILL_MARKER_ENV, str(marker))

    summary = run_manifest_ray(manifest, out, model_options=TINY, num_actors=2, progress=False)

    assert marker.is_file()  # the actor did die on its first try of "mask"
    assert sorted(summary.done) == CASES and not summary.failed and not summary.skipped
    assert _entries(out) == CASES + TABLES  # no .partial folder, no case twice
    assert all((out / case / "record.json").is_file() for case in CASES)
    log = [json.loads(line) for line in (out / "run_log.jsonl").read_text().splitlines()]
    assert sorted(r["case_id"] for r in log) == CASES and {r["status"] for r in log} == {"ok"}
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    keys = [(r["case_id"], r["method"]) for r in rows]
    assert len(keys) == len(set(keys)) == 9 and {k[0] for k in keys} == set(CASES)

    # a rerun finds everything done: nothing dispatched, nothing rewritten, the same tables
    stamps = {case: (out / case / "record.json").stat().st_mtime_ns for case in CASES}
    results = (out / "results.jsonl").read_text()
    summary = run_manifest_ray(manifest, out, model_options=TINY, progress=False)
    assert sorted(summary.skipped) == CASES and not summary.done
    assert {case: (out / case / "record.json").stat().st_mtime_ns for case in CASES} == stamps
    assert (out / "results.jsonl").read_text() == results


def test_cuda_without_gpu_is_one_clear_error(tmp_path, ray_local):
    manifest = load_manifest(_manifest(tmp_path))
    with pytest.raises(RunFailure, match="--device cuda: the Ray cluster has no GPU"):
        run_manifest_ray(
            manifest, tmp_path / "out", model_options={**TINY, "device": "cuda"}, progress=False
        )
    assert _entries(tmp_path / "out") == []


def test_models_failing_on_a_node_are_one_clear_error(tmp_path, ray_local):
    """As a local run: the loader's one-line error (here an empty checkpoint folder), not a Ray
    traceback."""
    manifest = load_manifest(_manifest(tmp_path))
    (tmp_path / "nothing-here").mkdir()  # a folder, so the driver's flag check lets it through
    missing = {**TINY, "kind": "real", "ip2p": str(tmp_path / "nothing-here")}
    with pytest.raises(MissingWeightsError, match=r"not a complete checkpoint .*\(Ray node "):
        run_manifest_ray(manifest, tmp_path / "out", model_options=missing, progress=False)
    assert _entries(tmp_path / "out") == []


def test_bad_model_options_fail_before_ray_starts(tmp_path):
    """Checked on the driver before Ray or the run lock: one line naming the flag, no node."""
    manifest = load_manifest(_manifest(tmp_path))
    with pytest.raises(InputError, match=r"^--models 'nope': expected 'tiny' or 'real'$"):
        run_manifest_ray(
            manifest, tmp_path / "out", model_options={**TINY, "kind": "nope"}, progress=False
        )
    assert not (tmp_path / "out").exists()


def test_a_turns_case_runs_on_ray_like_here(tmp_path, monkeypatch, ray_local):
    """A manifest case with turns on an actor: the same turn folders as the local runner."""
    from maskedit.models import load_models
    from maskedit.runner import run_manifest

    y, x = np.mgrid[0:60, 0:90]
    Image.fromarray(np.stack([x * 2, y * 3, x + y], -1).astype(np.uint8)).save(tmp_path / "p.png")
    mask = np.zeros((60, 90), np.uint8)
    mask[10:30, 10:40] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    (tmp_path / "m.yaml").write_text(
        "cases:\n - id: walk\n   image: p.png\n   steps: 2\n   turns:\n"
        "     - {instruction: make it red, mask: m.png}\n"
        "     - {instruction: make it blue, box: [50, 5, 85, 40]}\n"
    )
    monkeypatch.chdir(tmp_path.parent)  # relative paths: the actors must get absolute ones
    manifest = load_manifest(Path(tmp_path.name) / "m.yaml")
    local, remote = tmp_path / "local", tmp_path / "ray"
    assert run_manifest(manifest, load_models(**TINY), local, progress=False).done == ["walk"]
    summary = run_manifest_ray(manifest, remote, model_options=TINY, num_actors=1, progress=False)
    assert summary.done == ["walk"] and not summary.failed
    for turn in ("t01", "t02"):
        for name in ("original.png", "mask.png", "blended.png", "baseline.png"):
            a = (local / "walk" / "turns" / turn / name).read_bytes()
            assert a == (remote / "walk" / "turns" / turn / name).read_bytes(), (turn, name)
    record = json.loads((remote / "walk" / "record.json").read_text())
    assert record["turns"]["path"] == ["t01", "t02"]


def test_another_clip_on_ray_scores_finished_cases_again_and_edits_nothing(tmp_path, ray_local):
    """A finished folder scored with another CLIP than the one the flags name: Ray's driver
    sends it to an actor, which scores it again from its folder; no picture changes."""
    from maskedit.metric_models import MetricChoices
    from maskedit.models import clip_for_metrics, load_models
    from maskedit.runner import run_manifest

    manifest = load_manifest(_manifest(tmp_path))
    out = tmp_path / "out"
    clip = clip_for_metrics("auto", tiny=True, device="cpu")
    run_manifest(manifest, load_models(**TINY), out, progress=False, clip=clip)
    pictures = {p: p.read_bytes() for p in sorted(out.glob("*/*.png"))}
    summary = run_manifest_ray(
        manifest, out, model_options=TINY, metrics=MetricChoices(clip="none"), progress=False
    )
    assert sorted(summary.rescored) == CASES and not summary.failed, summary
    assert {p: p.read_bytes() for p in sorted(out.glob("*/*.png"))} == pictures
    for case in CASES:
        doc = json.loads((out / case / "metrics.json").read_text())
        assert doc["scoring"]["clip"] is None
        assert not any("clip_score" in row for row in doc["rows"])
    again = run_manifest_ray(
        manifest, out, model_options=TINY, metrics=MetricChoices(clip="none"), progress=False
    )
    assert sorted(again.skipped) == CASES


def test_runner_and_cli_do_not_import_ray():
    code = "import sys, maskedit.runner, maskedit.cli; print('ray' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "False"
