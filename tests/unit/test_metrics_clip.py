"""CLIP metrics on a tiny random CLIP: torchmetrics agreement, region score, directional formula."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maskedit.errors import InputError
from maskedit.metrics import (
    clip_cosine,
    clip_directional,
    clip_score,
    clip_score_region,
    clip_text_features,
)
from maskedit.tiny import build_tiny_clip

TOL = 1e-5


@pytest.fixture(scope="module")
def clip():
    return build_tiny_clip(seed=0)


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    """Three non-square uint8 images: the processor's resize and crop are part of the check."""
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(3)]


# image index, caption: with seed 0 the tiny model scores some pairs above 0 and clamps others
PAIRS = [(i, text) for i in range(3) for text in ("a red shirt", "a playful robot dog")]


class _FeaturesAsTensors(torch.nn.Module):
    """torchmetrics 1.9 calls ``.norm`` on ``get_*_features``, which transformers >= 5 returns as a
    ``BaseModelOutputWithPooling`` (Lightning-AI/torchmetrics#3407, fixed upstream in #3408).
    Unwrap ``pooler_output`` (the projected embedding) so the same model can be scored."""

    def __init__(self, model):
        super().__init__()
        self.model, self.config = model, model.config

    @staticmethod
    def _unwrap(out):
        return out if isinstance(out, torch.Tensor) else out.pooler_output

    def get_image_features(self, *args, **kwargs):
        return self._unwrap(self.model.get_image_features(*args, **kwargs))

    def get_text_features(self, *args, **kwargs):
        return self._unwrap(self.model.get_text_features(*args, **kwargs))


def test_tiny_clip_is_deterministic_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, _ = build_tiny_clip(seed=0)
    b, _ = build_tiny_clip(seed=0)
    c, _ = build_tiny_clip(seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    sa, sb, sc = (m.state_dict() for m in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


@pytest.mark.parametrize("index, text", PAIRS)
def test_clip_score_agrees_with_torchmetrics(clip, images, index, text):
    multimodal = pytest.importorskip("torchmetrics.multimodal")
    model, processor = clip
    # CLIPScore accepts a callable returning (model, processor) instead of a hub id
    metric = multimodal.CLIPScore(model_name_or_path=lambda: (_FeaturesAsTensors(model), processor))
    image = images[index]
    ref = metric(torch.from_numpy(image).permute(2, 0, 1), text).item()
    assert abs(clip_score(model, processor, image, text) - ref) <= TOL


def test_scores_cover_both_sides_of_the_clamp(clip, images):
    model, processor = clip
    cosines = [clip_cosine(model, processor, images[i], text) for i, text in PAIRS]
    assert min(cosines) < 0 < max(cosines)  # otherwise the agreement test misses the clamp
    assert all(-1 <= c <= 1 for c in cosines)


@pytest.mark.parametrize("index, text", PAIRS)
def test_clip_score_is_hundred_times_clamped_cosine(clip, images, index, text):
    model, processor = clip
    cosine = clip_cosine(model, processor, images[index], text)
    assert clip_score(model, processor, images[index], text) == pytest.approx(
        100 * max(cosine, 0.0), abs=TOL
    )


def test_region_score_is_the_score_of_the_masked_image(clip, images):
    model, processor = clip
    image = images[0]
    mask = np.zeros(image.shape[:2], bool)
    mask[5:30, 10:40] = True
    blacked = image.copy()
    blacked[~mask] = 0
    for text in ("a red shirt", "a playful robot dog"):
        region = clip_score_region(model, processor, image, mask, text)
        assert region == clip_score(model, processor, blacked, text)
    full = np.ones(image.shape[:2], bool)
    assert clip_score_region(model, processor, image, full, "a red shirt") == clip_score(
        model, processor, image, "a red shirt"
    )


def test_region_score_refuses_a_non_bool_mask(clip, images):
    model, processor = clip
    with pytest.raises(InputError, match="bool"):
        clip_score_region(model, processor, images[0], np.ones((40, 48), np.uint8), "x")
    with pytest.raises(InputError, match="uint8"):
        clip_score(model, processor, images[0].astype(np.float32), "x")


def test_text_features_do_not_depend_on_batch_padding(clip):
    model, processor = clip
    alone = clip_text_features(model, processor, ["a cat"])
    padded = clip_text_features(model, processor, ["a cat", "a much longer caption than that"])
    torch.testing.assert_close(alone[0], padded[0], atol=1e-6, rtol=0)


def test_directional_matches_the_formula(clip, images):
    """cos(E_img(out) - E_img(in), E_txt(out) - E_txt(in)) on L2-normalised embeddings, computed
    here through CLIPModel.forward (which normalises itself) and numpy."""
    model, processor = clip
    image_in, image_out = images[0], images[1]
    caption_in, caption_out = "a photo of a cat", "a photo of a robot cat"
    inputs = processor(
        text=[caption_in, caption_out],
        images=[image_in, image_out],  # HxWx3 arrays: a different route into the processor
        return_tensors="pt",
        padding=True,
    )
    with torch.no_grad():
        out = model(**inputs)
    img = out.image_embeds.numpy().astype(np.float64)
    txt = out.text_embeds.numpy().astype(np.float64)
    d_img, d_txt = img[1] - img[0], txt[1] - txt[0]
    expected = d_img @ d_txt / (np.linalg.norm(d_img) * np.linalg.norm(d_txt))
    ours = clip_directional(model, processor, image_in, image_out, caption_in, caption_out)
    assert ours == pytest.approx(expected, abs=TOL)


def test_directional_symmetries(clip, images):
    model, processor = clip
    a, b = images[0], images[1]
    forward = clip_directional(model, processor, a, b, "a cat", "a dog")
    assert -1 <= forward <= 1
    # reversing both directions keeps the angle; reversing one flips its sign
    assert clip_directional(model, processor, b, a, "a dog", "a cat") == pytest.approx(forward)
    assert clip_directional(model, processor, a, b, "a dog", "a cat") == pytest.approx(-forward)
    # no image change, no direction: 0.0, not NaN
    assert clip_directional(model, processor, a, a, "a cat", "a dog") == 0.0
    assert clip_directional(model, processor, a, b, "a cat", "a cat") == 0.0
