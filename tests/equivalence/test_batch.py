"""Several cases in one denoiser batch (`--batch-size`, `maskedit.batch.edit_many`).

A batched call takes lists of prompts, images and generators, so every sample draws its own
seed's noise: each result equals the case edited alone up to the float order of batched kernels
(at most a couple of grey levels), and outside the mask it is the input bit for bit.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from maskedit import edit
from maskedit.batch import edit_many
from maskedit.cli import app
from maskedit.errors import InputError, MaskeditWarning
from maskedit.models import load_models
from maskedit.record import EditResult

pytestmark = pytest.mark.usefixtures("one_torch_thread")
METHODS = ["pixel", "latent", "guidance", "crop"]
TOL = 2  # grey levels: batched vs one-at-a-time kernels


@pytest.fixture(scope="module")
def models():
    return load_models("tiny", need_sam=False)


def _photo(h: int, w: int, shift: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 2 + shift, y * 3, (x + y + shift)], axis=-1).astype(np.uint8)
    img[h // 4 : h // 2, w // 3 : w // 2] = (250, 40 + shift, 40)
    return img


def _request(h=64, w=96, shift=0, seed=1, instruction="make it red", mask=None, **kw):
    img = _photo(h, w, shift)
    if mask is None:
        mask = np.zeros((h, w), bool)
        mask[10 + shift % 7 : 40, 20 : 60 + shift % 11] = True
    settings = kw.pop("settings", None)
    from maskedit.config import EditSettings

    settings = settings or EditSettings(steps=4, seed=seed)
    return dict(image=img, instruction=instruction, mask=mask, settings=settings, **kw)


def _close(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


def test_a_batch_of_four_matches_one_at_a_time(models):
    mask = np.zeros((64, 96), bool)
    mask[12:40, 20:66] = True  # one mask: the crop boxes (and so their sizes) match too
    reqs = [
        _request(
            shift=k * 9, seed=10 + k, instruction=f"make it red {k}", methods=METHODS, mask=mask
        )
        for k in range(4)
    ]
    alone = [edit(models=models, **r) for r in reqs]
    together = edit_many(reqs, models=models, batch_size=4)
    for req, one, many in zip(reqs, alone, together, strict=True):
        assert many.batch == {"baseline": 4}
        for method in ("latent", "guidance", "crop"):
            assert many.method_info[method]["batch"] == 4
        assert many.method_info["guidance"]["masked_unet_calls"] == 4  # one per step
        assert many.method_info["latent"]["blended_steps"] == one.method_info["latent"][
            "blended_steps"
        ]
        assert _close(many.baseline, one.baseline) <= TOL
        outside = ~req["mask"]
        for method in METHODS:
            assert _close(many.outputs[method], one.outputs[method]) <= TOL, method
            assert np.array_equal(many.outputs[method][outside], req["image"][outside])


def test_every_sample_keeps_its_own_seed(models):
    same = [_request(seed=7), _request(seed=7), _request(seed=8)]
    a, b, c = edit_many(same, models=models, batch_size=3)
    assert a.batch == {"baseline": 3}
    assert np.array_equal(a.baseline, b.baseline)  # same seed, same input → same sample
    assert not np.array_equal(a.baseline, c.baseline)  # another seed → other noise


def test_batch_size_one_is_edit_bit_for_bit(models):
    reqs = [_request(shift=k * 5, seed=k, methods=METHODS) for k in range(2)]
    for one, many in zip(
        [edit(models=models, **r) for r in reqs],
        edit_many(reqs, models=models, batch_size=1),
        strict=True,
    ):
        assert many.batch == {}
        for method in METHODS:
            assert np.array_equal(one.outputs[method], many.outputs[method])


def test_sizes_and_settings_that_differ_are_grouped_apart(models):
    from maskedit.config import EditSettings

    reqs = [
        _request(64, 96, shift=0),
        _request(96, 64, shift=1),  # another working size
        _request(64, 96, shift=2),
        _request(64, 96, shift=3, settings=EditSettings(steps=3)),  # other steps
        _request(96, 64, shift=4),
    ]
    results = edit_many(reqs, models=models, batch_size=8)
    assert [r.batch.get("baseline", 1) for r in results] == [2, 2, 2, 1, 2]


def test_all_zeros_and_all_ones_masks_in_a_batch(models):
    h, w = 64, 96
    zeros = _request(mask=np.zeros((h, w), bool), methods=METHODS)
    ones = _request(shift=3, mask=np.ones((h, w), bool), methods=["pixel", "latent", "guidance"])
    z, o = edit_many([zeros, ones], models=models, batch_size=2)
    for method in METHODS:
        assert np.array_equal(z.outputs[method], zeros["image"])
    assert np.array_equal(o.outputs["pixel"], o.baseline)
    # all-ones latent and guidance shared their calls with the all-zeros case's jobs
    assert _close(o.outputs["latent"], o.baseline) <= TOL
    assert _close(o.outputs["guidance"], o.baseline) <= TOL


def test_a_bad_case_fails_alone(models):
    good = _request()
    bad = _request(shift=1)
    bad["mask"] = np.ones((5, 5), bool)  # wrong size
    results = edit_many([good, bad, _request(shift=2)], models=models, batch_size=3)
    assert isinstance(results[1], InputError) and "does not match" in str(results[1])
    assert results[0].batch == {"baseline": 2} and results[2].batch == {"baseline": 2}


def test_a_malformed_request_fails_alone_in_its_slot(models):
    """A misspelt field, a missing instruction or a request that is no request: an InputError
    naming it in its own slot, and the others edit as ever."""
    good = _request()
    no_instruction = {k: v for k, v in good.items() if k != "instruction"}
    results = edit_many([good, dict(good, stepz=3), no_instruction, "make it red", good],
                        models=models, batch_size=2)
    assert isinstance(results[0], EditResult) and isinstance(results[4], EditResult)
    for i, words in [(1, "request 2: unknown field 'stepz' \\(known: image, instruction, "),
                     (2, "request 3: instruction is missing"),
                     (3, "request 4: got str, expected an EditRequest or a dict")]:
        assert isinstance(results[i], InputError), results[i]
        assert re.match(words, str(results[i])), str(results[i])
    with pytest.raises(InputError, match="edit: unknown keyword 'stepz'"):
        edit(models=models, **good, stepz=3)


def test_requests_may_come_from_a_generator_and_bad_arguments_are_checked_first(models):
    results = edit_many((_request(shift=k) for k in range(2)), models=models, batch_size=2)
    assert [r.batch for r in results] == [{"baseline": 2}] * 2

    def unread():
        raise AssertionError("a request was read before the arguments were checked")
        yield

    for size in (0, 2.5, True, "2"):
        with pytest.raises(InputError, match="batch_size: got .*, expected a whole number"):
            edit_many(unread(), models=models, batch_size=size)
    with pytest.raises(InputError, match="models: got StableDiffusionInstructPix2PixPipeline, "
                       "expected maskedit.Models .*Models.from_components"):
        edit_many(unread(), models=models.pipe)
    with pytest.raises(InputError, match="requests: got dict, expected a list"):
        edit_many(_request(), models=models)
    for names in ("ab", 3):  # a string is one name, not one per request
        with pytest.raises(InputError, match="names: got .*, expected a list of names"):
            edit_many(unread(), models=models, names=names)


def test_an_editor_call_that_raises_fails_alone_as_a_run_failure():
    """diffusers' PNDM cannot run 2 steps (a ValueError inside its `step`): that case gets a
    RunFailure naming the call, the cases before and after it keep their results, and `edit`
    raises the same RunFailure, chained to the scheduler's own error."""
    import diffusers

    from maskedit.config import EditSettings
    from maskedit.errors import RunFailure
    from maskedit.models import Models
    from maskedit.tiny import build_tiny_ip2p

    pipe = build_tiny_ip2p()
    pipe.scheduler = diffusers.PNDMScheduler.from_config(pipe.scheduler.config)
    models = Models.from_components(pipe, working_size=64)
    ok, bad = _request(settings=EditSettings(steps=4)), _request(settings=EditSettings(steps=2))
    results = edit_many([ok, bad, ok], models=models, batch_size=1)
    assert isinstance(results[0], EditResult) and isinstance(results[2], EditResult)
    words = (r"the ip2p editor \(StableDiffusionInstructPix2PixPipeline with PNDMScheduler, "
             r"2 steps\) failed: ValueError: operands could not be broadcast")
    assert isinstance(results[1], RunFailure) and re.match(words, str(results[1]))
    with pytest.raises(RunFailure, match=words) as err:
        edit(models=models, **bad)
    assert isinstance(err.value.__cause__, ValueError) and "\n" not in str(err.value)


def test_a_call_that_raises_for_one_case_of_a_batch_fails_that_case_alone(models):
    """One request's progress callback raises inside a shared call: the call is run again one
    case at a time, so the others get what they get alone and only that request fails."""
    from maskedit.errors import RunFailure

    def broken(*args):
        raise RuntimeError("progress display closed")

    reqs = [_request(shift=k, seed=k, methods=["pixel", "latent"]) for k in range(3)]
    alone = [edit(models=models, **r) for r in (reqs[0], reqs[2])]
    reqs[1] = {**reqs[1], "progress": broken}
    first, failed, last = edit_many(reqs, models=models, batch_size=3)
    assert isinstance(failed, RunFailure) and "progress display closed" in str(failed)
    for one, many in zip(alone, (first, last), strict=True):
        assert isinstance(many, EditResult), many
        assert many.batch == {}  # the baseline ran again alone: as edited alone, bit for bit
        assert np.array_equal(one.outputs["pixel"], many.outputs["pixel"])
        assert many.method_info["latent"]["batch"] == 2  # the two left shared the latent call
        assert many.method_info["latent"]["blended_steps"] == 4  # the aborted steps not counted
        assert _close(one.outputs["latent"], many.outputs["latent"]) <= TOL


def test_an_interrupt_inside_the_editor_is_not_a_run_failure(models, monkeypatch):
    pipe_class = type(models.pipe)

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipe_class, "__call__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        edit_many([_request(), _request(shift=1)], models=models, batch_size=2)


def test_out_of_memory_in_a_batch_retries_one_at_a_time(models, monkeypatch):
    reqs = [_request(shift=k, seed=k) for k in range(3)]
    alone = [edit(models=models, **r) for r in reqs]
    pipe_class = type(models.pipe)
    real_call = pipe_class.__call__

    def small_gpu(self, *args, **kwargs):
        if isinstance(kwargs.get("prompt"), list):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (test)")
        return real_call(self, *args, **kwargs)

    monkeypatch.setattr(pipe_class, "__call__", small_gpu)
    for one, many in zip(alone, edit_many(reqs, models=models, batch_size=3), strict=True):
        assert many.batch == {}  # each ran alone after the batch did not fit
        assert np.array_equal(one.blended, many.blended)


def test_out_of_memory_mid_loop_counts_steps_once_and_halves_later_batches(models, monkeypatch):
    reqs = [_request(shift=k, seed=k, methods=["pixel", "latent"]) for k in range(4)]
    alone = [edit(models=models, **r) for r in reqs]
    pipe_class = type(models.pipe)
    real_call = pipe_class.__call__
    batched_calls = []

    def small_gpu(self, *args, **kwargs):
        if isinstance(kwargs.get("prompt"), list):
            batched_calls.append(len(kwargs["prompt"]))
            user = kwargs.get("callback_on_step_end")

            def fail_at_step_2(p, step, t, tensors):
                if step == 2:
                    raise torch.cuda.OutOfMemoryError("CUDA out of memory (test)")
                return user(p, step, t, tensors) if user else {}

            kwargs.update(
                callback_on_step_end=fail_at_step_2,
                callback_on_step_end_tensor_inputs=["latents"],
            )
        return real_call(self, *args, **kwargs)

    monkeypatch.setattr(pipe_class, "__call__", small_gpu)
    many = edit_many(reqs, models=models, batch_size=4)
    assert batched_calls == [4, 2, 2]  # baseline at 4, then the latent jobs in halves
    for one, result in zip(alone, many, strict=True):
        assert result.method_info["latent"]["blended_steps"] == 4  # the aborted steps not counted
        for method in ("pixel", "latent"):
            assert np.array_equal(one.outputs[method], result.outputs[method])


def test_timings_leave_out_other_cases_work(models, monkeypatch):
    import time

    import maskedit.case as case_module

    real = case_module.image_and_source
    slow_shape = (64, 97, 3)

    def as_image(image):
        if getattr(image, "shape", None) == slow_shape:
            time.sleep(4.0)  # another case, slow to read
        return real(image)

    monkeypatch.setattr(case_module, "image_and_source", as_image)
    fast = _request()
    slow = _request(64, 97, shift=1)
    (result, _) = edit_many([fast, slow], models=models, batch_size=2)
    call = result.timings["edit"]
    assert call < 2.5, result.timings  # the 4-step tiny call (~0.1 s), not the 4 s read


def test_mask_from_the_edit_runs_alone_in_a_batch(models):
    """The relevance recorder must see only its own case's forwards."""
    reqs = [_request(mask=None), _request(shift=2, seed=4)]
    reqs[0] = {k: v for k, v in reqs[0].items() if k != "mask"} | {"mask_from": "edit"}
    one = edit(models=models, **reqs[0])
    many = edit_many(reqs, models=models, batch_size=2)
    assert many[0].batch == {} and many[1].batch == {}
    assert np.array_equal(many[0].alpha, one.alpha)
    assert np.array_equal(many[0].blended, one.blended)


@pytest.mark.parametrize(
    ("editor", "methods"), [("ip2p-xl", METHODS), ("kontext", ["pixel", "latent", "crop"])]
)
def test_sdxl_ip2p_and_kontext_batch_like_one_at_a_time(editor, methods):
    mask = np.zeros((64, 96), bool)
    mask[12:40, 20:66] = True
    models = load_models("tiny", need_sam=False, editor=editor)
    reqs = [
        _request(shift=k * 9, seed=k, instruction=f"make it red {k}", methods=methods, mask=mask)
        for k in range(3)
    ]
    for req in reqs:  # the editor's own guidance defaults
        req["settings"] = req["settings"].model_copy(update={"text_cfg": None, "image_cfg": None})
    alone = [edit(models=models, **r) for r in reqs]
    together = edit_many(reqs, models=models, batch_size=3)
    for req, one, many in zip(reqs, alone, together, strict=True):
        assert many.batch == {"baseline": 3}
        assert many.method_info["latent"]["batch"] == 3
        assert many.method_info["latent"]["blended_steps"] == 4  # per-step blend, every step
        for method in methods:
            assert _close(many.outputs[method], one.outputs[method]) <= TOL, method
            assert np.array_equal(many.outputs[method][~mask], req["image"][~mask])


def _manifest(tmp_path, n: int = 4) -> None:
    for k in range(n):
        Image.fromarray(_photo(60, 90, k * 10)).save(tmp_path / f"p{k}.png")
    lines = ["defaults: {steps: 2}", "cases:"]
    for k in range(n):
        lines.append(
            f" - {{id: c{k}, image: p{k}.png, instruction: make it red {k}, "
            f"box: [10, 10, 50, 40], seed: {k}}}"
        )
    (tmp_path / "m.yaml").write_text("\n".join(lines) + "\n")


def test_run_with_batch_size_writes_every_case_like_the_plain_run(tmp_path):
    _manifest(tmp_path)
    runner = CliRunner()
    args = ["run", str(tmp_path / "m.yaml"), "--models", "tiny", "--clip", "none"]
    one = runner.invoke(app, [*args, "--out", str(tmp_path / "one")])
    many = runner.invoke(
        app, [*args, "--out", str(tmp_path / "many"), "--batch-size", "3", "--vae-tiling", "off"]
    )
    assert one.exit_code == 0 and many.exit_code == 0, many.output
    assert "4 done, 0 already finished" in many.stdout
    for k in range(4):
        a, b = tmp_path / "one" / f"c{k}", tmp_path / "many" / f"c{k}"
        rec = json.loads((b / "record.json").read_text())
        assert rec["batch"] == ({"baseline": 3} if k < 3 else {})  # c3 ran alone
        assert rec["models"]["speedups"]["vae_tiling"] == "off"
        orig = np.asarray(Image.open(a / "original.png"))
        mask = np.asarray(Image.open(a / "mask.png")) > 0
        blend = np.asarray(Image.open(b / "blended.png"))
        assert _close(blend, np.asarray(Image.open(a / "blended.png"))) <= TOL
        assert np.array_equal(blend[~mask], orig[~mask])
    rows = (tmp_path / "many" / "results.jsonl").read_text().splitlines()
    assert len(rows) == 8  # baseline + pixel per case, rebuilt from the folders
    again = runner.invoke(  # the same run again: its speed options are part of what made it
        app, [*args, "--out", str(tmp_path / "many"), "--batch-size", "3", "--vae-tiling", "off"]
    )
    assert again.exit_code == 0 and "0 done, 4 already finished" in again.stdout


def test_a_resumed_run_fills_its_batches(tmp_path):
    import shutil

    _manifest(tmp_path)
    args = ["run", str(tmp_path / "m.yaml"), "--models", "tiny", "--clip", "none",
            "--out", str(tmp_path / "o"), "--batch-size", "2"]
    assert CliRunner().invoke(app, args).exit_code == 0
    for k in (0, 2):
        shutil.rmtree(tmp_path / "o" / f"c{k}")
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0 and "2 done, 2 already finished" in res.stdout
    for k in (0, 2):  # the two cases left share one call although c1 sat between them
        rec = json.loads((tmp_path / "o" / f"c{k}" / "record.json").read_text())
        assert rec["batch"] == {"baseline": 2}


def test_a_case_that_cannot_share_does_not_take_a_place_in_a_batch(tmp_path):
    """A case with other steps sorts before four that match: the four share one call of four,
    not three plus one left alone."""
    _manifest(tmp_path, 5)
    text = (tmp_path / "m.yaml").read_text().replace("seed: 4}", "seed: 4, steps: 1}")
    (tmp_path / "m.yaml").write_text(text)
    args = ["run", str(tmp_path / "m.yaml"), "--models", "tiny", "--clip", "none",
            "--out", str(tmp_path / "o"), "--batch-size", "4"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0 and "5 done, 0 already finished" in res.stdout, res.output
    batches = [
        json.loads((tmp_path / "o" / f"c{k}" / "record.json").read_text())["batch"]
        for k in range(5)
    ]
    assert batches == [{"baseline": 4}] * 4 + [{}]


def test_a_run_out_of_memory_keeps_its_later_batches_half_as_large(tmp_path, monkeypatch):
    """A batch that did not fit halves the batches after it, in the run's later chunks too."""
    from maskedit.tiny import build_tiny_ip2p

    pipe_class = type(build_tiny_ip2p())
    real_call = pipe_class.__call__
    batched_calls = []

    def small_gpu(self, *args, **kwargs):
        if isinstance(kwargs.get("prompt"), list):
            batched_calls.append(len(kwargs["prompt"]))
            if len(kwargs["prompt"]) > 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (test)")
        return real_call(self, *args, **kwargs)

    monkeypatch.setattr(pipe_class, "__call__", small_gpu)
    _manifest(tmp_path, 8)
    args = ["run", str(tmp_path / "m.yaml"), "--models", "tiny", "--clip", "none",
            "--out", str(tmp_path / "o"), "--batch-size", "4"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0 and "8 done, 0 already finished" in res.stdout, res.output
    assert batched_calls == [4, 2, 2]  # not 4 again for the second chunk of four


def test_batch_size_with_ray_is_refused(tmp_path):
    _manifest(tmp_path, 1)
    res = CliRunner().invoke(
        app,
        ["run", str(tmp_path / "m.yaml"), "--out", str(tmp_path / "o"), "--models", "tiny",
         "--ray", "--batch-size", "2"],
    )
    assert res.exit_code == 2 and "--batch-size works on one machine" in res.output
    assert not (tmp_path / "o").exists()


def test_each_requests_warnings_name_it(models):
    """Two empty masks in one batch: each warning says which request (or the `name` a dict
    carries) it is about, not just "the mask is empty" twice."""
    empty = np.zeros((64, 96), bool)
    reqs = [_request(mask=empty), _request(shift=5), {**_request(mask=empty), "name": "case 'b'"}]
    with pytest.warns(MaskeditWarning) as caught:
        results = edit_many(reqs, models=models, batch_size=3)
    assert all(isinstance(r, EditResult) for r in results)
    said = [str(w.message) for w in caught if "mask is empty" in str(w.message)]
    assert said == [
        "request 1: the mask is empty: nothing may change, so the output is the input",
        "case 'b': the mask is empty: nothing may change, so the output is the input",
    ]
