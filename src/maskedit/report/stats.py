"""Bootstrap confidence intervals over cases (Efron 1979): resample the cases with replacement,
take the statistic each time, read the interval off its percentiles. Pure numpy, a fixed seed:
the same run gives the same report."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

N_BOOT = 2000
LEVEL = 0.95


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    statistic: Callable[[np.ndarray], float] | None = None,
    *,
    n_boot: int = N_BOOT,
    level: float = LEVEL,
    seed: int = 0,
) -> tuple[float, float] | None:
    """The percentile interval of `statistic` (default: the mean) over `n_boot` resamples of
    `values` (one entry per case); None with fewer than two values.

    `values` may be an (n, …) array whose rows are cases (e.g. a rater × case table's columns
    transposed); `statistic` then gets the resampled rows.
    """
    data = np.asarray(values, dtype=np.float64)
    n = data.shape[0]
    if n < 2:
        return None
    if statistic is None:
        statistic = _mean
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(n_boot, n))
    stats = np.array([statistic(data[p]) for p in picks], dtype=np.float64)
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return None
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(stats, [tail, 100 - tail])
    return float(low), float(high)


def _mean(sample: np.ndarray) -> float:
    return float(sample.mean())
