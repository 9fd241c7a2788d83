"""Test helper: one editor call at the working size through maskedit's one way of calling it."""

from __future__ import annotations

import numpy as np

from maskedit.config import EditSettings
from maskedit.editing.jobs import EditorJob, run_job


def edit_at_working_size(
    pipe, image: np.ndarray, instruction: str, settings: EditSettings, *, blend=None
) -> np.ndarray:
    """The plain diffusers call for an image already at the working size (+ a latent blend)."""
    return run_job(pipe, EditorJob(image, instruction, settings, blend=blend))
