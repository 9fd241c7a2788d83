"""Photos of odd sizes through every editor and every method, and the sizes an editor cannot take.

At any size: the outputs have the photo's size and dtype, outside the mask they are the photo bit
for bit, an all-zeros mask gives the photo back and an all-ones mask the unmasked edit. A size (or
a reference image) an editor's pipeline refuses is one line, before the pipeline is called.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import maskedit
from maskedit import EditSettings, InputError
from maskedit.cli import app
from maskedit.editing.editors import working_hw
from maskedit.editing.source_area import unresizable
from maskedit.errors import MaskeditWarning
from maskedit.families import EDITORS

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FAST = dict(steps=2, seed=5)  # Qwen's scheduler needs two steps


@pytest.fixture(scope="module")
def loaded() -> dict:
    return {}


def _models(loaded: dict, editor: str):
    if editor not in loaded:
        loaded[editor] = maskedit.load_models("tiny", editor=editor, need_sam=False)
    return loaded[editor]


def _methods(editor: str) -> tuple[str, ...]:
    guided = ("guidance",) if EDITORS[editor].masked_guidance else ()
    return ("pixel", "latent", "crop", *guided)


def _photo(hw: tuple[int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*hw, 3), dtype=np.uint8)


SLOW = pytest.mark.slow
SIZES = [(33, 17), *(pytest.param(hw, marks=SLOW) for hw in [(3, 2), (1, 1), (1, 50), (257, 513)])]


@pytest.mark.parametrize("hw", SIZES)
@pytest.mark.parametrize("editor", list(EDITORS))
def test_every_method_at_odd_sizes(loaded, editor, hw):
    """The photo's last row and its first pixel (the border, one pixel, one-pixel rows), all
    ones, all zeros; sides that are no multiple of any editor's."""
    models, methods, photo = _models(loaded, editor), _methods(editor), _photo(hw)
    settings = EditSettings(methods=methods, **FAST)
    part = np.zeros(hw, bool)
    part[-1], part[0, 0] = True, True
    limit = EDITORS[editor].family.max_image_aspect
    if limit is not None and max(hw) / min(hw) > limit:  # FLUX.2: no working size is taken
        with pytest.raises(InputError, match="working size .* no working size fixes"):
            maskedit.edit(photo, "make it gold", models=models, mask=part, settings=settings)
        return
    res = maskedit.edit(photo, "make it gold", models=models, mask=part, settings=settings)
    for method in methods:
        out = res.outputs[method]
        assert out.shape == photo.shape and out.dtype == np.uint8, method
        assert np.array_equal(out[~part], photo[~part]), method
    ones = maskedit.edit(photo, "make it gold", models=models, mask=np.ones(hw), settings=settings)
    for method in methods:  # crop's box is the whole photo: the baseline's own call
        assert np.array_equal(ones.outputs[method], ones.baseline), method
    masked = tuple(m for m in methods if m != "pixel")  # pixel would run the baseline again
    with pytest.warns(MaskeditWarning, match="the mask is empty"):
        zeros = maskedit.edit(photo, "make it gold", models=models, mask=np.zeros(hw),
                              settings=settings, methods=masked, baseline=False)  # fmt: skip
    for method in masked:
        assert np.array_equal(zeros.outputs[method], photo), method


# --- what FLUX.2 [klein] refuses: images more elongated than 8:1 ---------------------------------


@pytest.mark.parametrize("editor", ["flux2-klein", "flux2-klein-base"])
def test_flux2_refuses_working_sizes_over_8_to_1_in_one_line(loaded, editor):
    """`check_image_input` refuses the source at working size; so does maskedit, first."""
    models = _models(loaded, editor)
    assert working_hw(models.pipe, (64, 512), 512) == (64, 512)  # 8:1 exactly is taken
    with pytest.raises(InputError, match=r"working size 608×64: .* more elongated than 8:1"):
        working_hw(models.pipe, (64, 600), 600)
    for hw, mask in (((64, 600), np.ones((64, 600))), ((600, 64), np.ones((600, 64)))):
        with pytest.raises(InputError, match="more elongated than 8:1"):
            maskedit.edit(_photo(hw), "x", models=models, mask=mask,
                          settings=EditSettings(working_size=600, **FAST))  # fmt: skip
    # the crop method around a thin region with no margin: its box is 64×600 on a 200×640 photo
    photo, thin = _photo((200, 640)), np.zeros((200, 640), bool)
    thin[100, 20:620] = True
    with pytest.raises(InputError, match="more elongated than 8:1"):
        maskedit.edit(photo, "x", models=models, mask=thin, baseline=False,
                      settings=EditSettings(methods=("crop",), crop_margin=0.0, working_size=600,
                                            **FAST))  # fmt: skip


def test_flux2_refuses_references_over_8_to_1_in_one_line(loaded):
    models, photo = _models(loaded, "flux2-klein"), _photo((64, 96))
    with pytest.raises(InputError, match=r"reference 1: 513×64 is too elongated; .* up to 8:1"):
        maskedit.edit(photo, "x", models=models, mask=np.ones((64, 96)),
                      references=[_photo((64, 513))], settings=EditSettings(**FAST))  # fmt: skip


def test_cli_says_so_in_one_line(tmp_path):
    Image.fromarray(_photo((64, 600))).save(tmp_path / "p.png")
    Image.fromarray(np.ones((64, 600), bool)).save(tmp_path / "m.png")
    res = CliRunner().invoke(app, ["edit", str(tmp_path / "p.png"), "-i", "x", "--mask",
                                   str(tmp_path / "m.png"), "--models", "tiny", "--editor",
                                   "flux2-klein",
                                   "--working-size", "600", "--out", str(tmp_path / "o")])  # fmt: skip
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and "TINY RANDOM" not in ln]
    assert len(lines) == 1 and "more elongated than 8:1" in lines[0], res.stderr
    assert not (tmp_path / "o").exists()


# --- what Qwen-Image-Edit-Plus cannot resize: very elongated references -------------------------


def test_qwen_plus_refuses_references_it_would_resize_to_nothing(loaded):
    """Plus resizes each reference to ~the working area in 32-px steps: a 50×1 one at 128×64
    would be 640×0 (PIL's ValueError mid-call, before this check)."""
    models, photo = _models(loaded, "qwen-edit-plus"), _photo((64, 128))
    with pytest.raises(InputError, match=r"reference 1: 50×1 is too elongated .* 640×0 px"):
        maskedit.edit(photo, "x", models=models, mask=np.ones((64, 128)),
                      references=[_photo((1, 50))], settings=EditSettings(**FAST))  # fmt: skip
    # 40×1 fits the 128×128 working size (640×32 px) but not the crop's 128×64 (0 px tall)
    square, row = _photo((128, 128)), np.zeros((128, 128), bool)
    row[60, :] = True
    res = maskedit.edit(square, "x", models=models, mask=row, references=[_photo((1, 40))],
                        settings=EditSettings(**FAST))  # fmt: skip
    assert res.working_hw == (128, 128)
    with pytest.raises(InputError, match=r"reference 1: 40×1 .* working size 128×64"):
        maskedit.edit(square, "x", models=models, mask=row, references=[_photo((1, 40))],
                      baseline=False,
                      settings=EditSettings(methods=("crop",), crop_margin=0.0, **FAST))  # fmt: skip


def test_qwen_plus_vision_language_images_stay_under_200_to_1(loaded):
    """Its 384² condition image goes to Qwen2-VL, whose `smart_resize` refuses over 200:1: 300×1
    becomes 6656×32 (208:1), 250×1 6080×32 (190:1)."""
    pipe = _models(loaded, "qwen-edit-plus").pipe
    assert "6656×32 px for the vision-language model" in unresizable(pipe, (1, 300), 256 * 320)
    assert unresizable(pipe, (1, 250), 256 * 320) is None
    assert unresizable(_models(loaded, "qwen-edit").pipe, (1, 300), 256 * 320) is None
