"""Shared fixtures: tiny random models (built once per session) and small test images."""

from __future__ import annotations

import os

import numpy as np
import pytest


def pytest_configure(config):
    """Each worker of a parallel run (`make test`: `pytest -n 2`) uses one torch thread: two
    workers of two threads each on two cores ran no faster than one process (5:40 against 5:51),
    two of one thread each take 3:38."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_models():
    from maskedit.models import load_models

    return load_models("tiny")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def make_photo() -> np.ndarray:
    """A non-square 'photo' (H=75, W=100) with a bright square object on a gradient."""
    h, w = 75, 100
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 2, y * 3, (x + y)], axis=-1).astype(np.uint8)
    img[20:50, 55:85] = (250, 40, 40)
    return img


@pytest.fixture
def photo() -> np.ndarray:
    return make_photo()


@pytest.fixture(scope="session")
def shared_photo() -> np.ndarray:
    """`photo` once per session, read-only (so a test that shares it cannot change it)."""
    img = make_photo()
    img.flags.writeable = False
    return img


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from threads, and on a busy CPU spinning threads slow them ~5×.

    Use with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
