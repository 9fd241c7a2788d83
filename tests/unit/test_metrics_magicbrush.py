"""MagicBrush's metrics against its evaluation script's computation, re-stated, on tiny random models.

The reference is OSU-NLP-Group/MagicBrush evaluation/image_eval.py: `eval_distance` (L1, L2),
`eval_clip_i` (CLIP-I with OpenAI CLIP's preprocessing; DINO with its own transform and
`model(x)`, the DINO ViT's final-norm CLS token) and `eval_clip_t` (CLIP-T), all cosines taken with
`1 - scipy.spatial.distance.cosine`. torchvision's transforms are used where installed, else their
PIL path is re-stated.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from metric_backbones import tiny_dino
from PIL import Image
from scipy import spatial

from maskedit.errors import InputError
from maskedit.metrics import (
    clip_i,
    clip_t,
    dino_similarity,
    l1_distance,
    l2_distance,
    magicbrush_metrics,
)
from maskedit.tiny import build_tiny_clip

TOL = 1e-5
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(scope="module")
def clip():
    return build_tiny_clip(seed=0)


@pytest.fixture(scope="module")
def dino():
    return tiny_dino(patch_size=16, image_size=224, seed=1)  # ViT-S/16's patch and input size


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    """An output of another size and aspect than the ground truth (both non-square)."""
    rng = np.random.default_rng(11)
    gt = rng.integers(0, 256, (240, 300, 3), dtype=np.uint8)
    y, x = np.mgrid[0:250, 0:330]
    edit = np.stack([x * 255 // 330, y * 255 // 250, (x * y) % 256], axis=-1).astype(np.uint8)
    return edit, gt


def _to_tensor(pil: Image.Image) -> torch.Tensor:
    """transforms.ToTensor(): HxWxC uint8 -> CxHxW float32 on [0, 1]."""
    return torch.from_numpy(np.array(pil, dtype=np.uint8).transpose(2, 0, 1)).float().div(255)


def _transform(pil: Image.Image, resize: int, crop: int, mean, std) -> torch.Tensor:
    """Compose([Resize(resize, bicubic), CenterCrop(crop), ToTensor(), Normalize(mean, std)])."""
    try:
        from torchvision import transforms

        t = transforms.Compose(
            [
                transforms.Resize(resize, interpolation=transforms.InterpolationMode.BICUBIC),
                transforms.CenterCrop(crop),
                transforms.ToTensor(),
                transforms.Normalize(mean, std),
            ]
        )
        return t(pil)
    except ImportError:
        pass
    w, h = pil.size
    if w <= h:
        size = (resize, int(resize * h / w))
    else:
        size = (int(resize * w / h), resize)
    if size != pil.size:
        pil = pil.resize(size, Image.BICUBIC)
    left, top = int(round((size[0] - crop) / 2.0)), int(round((size[1] - crop) / 2.0))
    x = _to_tensor(pil.crop((left, top, left + crop, top + crop)))
    return (x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]


def _scipy_cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return 1 - spatial.distance.cosine(a.view(a.shape[1]), b.view(b.shape[1]))


def _features(out) -> torch.Tensor:
    return out if isinstance(out, torch.Tensor) else out.pooler_output


@pytest.mark.parametrize("metric", ["l1", "l2"])
def test_distances_agree_with_eval_distance(pair, metric):
    edit, gt = pair
    criterion = torch.nn.L1Loss() if metric == "l1" else torch.nn.MSELoss()
    for gen in (edit, gt[::-1].copy()):  # resized to gt's size, and already at it
        gen_img = Image.fromarray(gen).convert("RGB")
        gt_img = Image.fromarray(gt).convert("RGB")
        gen_img = gen_img.resize(gt_img.size)
        ref = criterion(_to_tensor(gen_img), _to_tensor(gt_img)).item()
        ours = (l1_distance if metric == "l1" else l2_distance)(gen, gt)
        assert ref > 0.01 and abs(ours - ref) <= TOL
    assert l1_distance(gt, gt) == 0.0 and l2_distance(gt, gt) == 0.0


def _clip_encode_image(model, image: np.ndarray) -> torch.Tensor:
    """OpenAI CLIP's preprocess (Resize(n_px, bicubic), CenterCrop(n_px), RGB, ToTensor,
    Normalize(CLIP)) and encode_image, for a transformers CLIPModel."""
    n_px = model.config.vision_config.image_size
    x = _transform(Image.fromarray(image).convert("RGB"), n_px, n_px, CLIP_MEAN, CLIP_STD)
    with torch.no_grad():
        return _features(model.get_image_features(pixel_values=x[None])).float()


def test_clip_i_agrees_with_eval_clip_i(clip, pair):
    model, _ = clip
    edit, gt = pair
    ref = _scipy_cosine(_clip_encode_image(model, edit), _clip_encode_image(model, gt))
    assert abs(clip_i(model, edit, gt) - ref) <= TOL
    assert abs(clip_i(model, gt, gt) - 1.0) <= TOL


@pytest.mark.parametrize("caption", ["a red shirt", "a playful robot dog on the grass"])
def test_clip_t_agrees_with_eval_clip_t(clip, pair, caption):
    model, processor = clip
    edit, _ = pair
    tokens = processor(text=[caption], return_tensors="pt", padding=True)  # clip.tokenize
    with torch.no_grad():
        text = _features(model.get_text_features(**tokens)).float()
    ref = _scipy_cosine(_clip_encode_image(model, edit), text)
    assert abs(clip_t(model, processor, edit, caption) - ref) <= TOL


def _dino_encode(model, image: np.ndarray) -> torch.Tensor:
    """eval_clip_i(metric="dino"): Resize(256, interpolation=3), CenterCrop(224), ToTensor,
    Normalize(ImageNet), then `model(x)`: DINO's forward returns norm(x)[:, 0], the CLS token."""
    x = _transform(Image.fromarray(image).convert("RGB"), 256, 224, IMAGENET_MEAN, IMAGENET_STD)
    with torch.no_grad():
        return model(pixel_values=x[None]).last_hidden_state[:, 0].float()


def test_dino_agrees_with_eval_clip_i_dino(dino, pair):
    edit, gt = pair
    ref = _scipy_cosine(_dino_encode(dino, edit), _dino_encode(dino, gt))
    ours = dino_similarity(dino, edit, gt)
    assert abs(ours - ref) <= TOL

    # what it pins: the CLS token (a mean over tokens, or the wrong crop, is another number)
    def mean_token(image):
        x = _transform(Image.fromarray(image), 256, 224, IMAGENET_MEAN, IMAGENET_STD)
        with torch.no_grad():
            return dino(pixel_values=x[None]).last_hidden_state.mean(dim=1)

    assert abs(ours - _scipy_cosine(mean_token(edit), mean_token(gt))) > 1e-4
    cropped = lambda im: _transform(Image.fromarray(im), 224, 224, IMAGENET_MEAN, IMAGENET_STD)  # noqa: E731
    with torch.no_grad():
        a, b = (dino(pixel_values=cropped(im)[None]).last_hidden_state[:, 0] for im in (edit, gt))
    assert abs(ours - _scipy_cosine(a, b)) > 1e-4


def test_magicbrush_metrics_row(clip, dino, pair):
    edit, gt = pair
    model, processor = clip
    row = magicbrush_metrics(edit, gt, "a red shirt", clip=clip, dino=dino)
    assert row == {
        "l1": l1_distance(edit, gt),
        "l2": l2_distance(edit, gt),
        "clip_i": clip_i(model, edit, gt),
        "clip_t": clip_t(model, processor, edit, "a red shirt"),
        "dino": dino_similarity(dino, edit, gt),
    }
    # no model, no caption: None (not computed), never a number
    bare = magicbrush_metrics(edit, gt, None)
    assert bare["clip_i"] is None and bare["clip_t"] is None and bare["dino"] is None
    assert magicbrush_metrics(edit, gt, None, clip=clip)["clip_t"] is None


def test_bad_inputs(pair):
    edit, gt = pair
    with pytest.raises(InputError, match="gt: expected an HxWx3 uint8"):
        l1_distance(edit, gt.astype(np.float32))
    with pytest.raises(InputError, match="edit: expected an HxWx3 uint8"):
        l2_distance(edit[..., 0], gt)
