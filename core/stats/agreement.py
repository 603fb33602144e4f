"""Inter-rater agreement: Krippendorff's α over any number of raters, with missing values."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from core.stats.arrays import FloatArray

Level = Literal["nominal", "ordinal", "interval"]


def krippendorff_alpha(
    reliability: Sequence[Sequence[float | None]],
    *,
    level: Level = "ordinal",
) -> float:
    """Krippendorff's α for ``reliability[rater][unit]``; None or NaN marks a missing value.

    Coincidence-matrix formulation (Krippendorff 2011, "Computing Krippendorff's
    Alpha-Reliability"): α = 1 - (n - 1) Σ o_ck δ²_ck / Σ n_c n_k δ²_ck, where o is the
    coincidence matrix of the values paired within units, n_c its margins and n the
    number of pairable values. Units with fewer than two values cannot be paired and
    are dropped. The ordinal δ² uses the margins n_c, as in the paper. Returns NaN
    when α is undefined: fewer than two pairable values, or no variation at all.
    """
    if level not in ("nominal", "ordinal", "interval"):
        raise ValueError(f"unknown level {level!r}; expected nominal, ordinal or interval")
    rows = [list(row) for row in reliability]
    if not rows:
        return math.nan
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise ValueError("every rater's row must have one entry per unit")
    data = np.array([[math.nan if v is None else float(v) for v in row] for row in rows], dtype=np.float64)
    present = ~np.isnan(data)
    pairable = present.sum(axis=0)
    keep = pairable >= 2
    if not keep.any():
        return math.nan
    data, present, pairable = data[:, keep], present[:, keep], pairable[keep]
    domain, codes = np.unique(data[present], return_inverse=True)
    units = np.nonzero(present)[1]  # row-major, the same order as data[present]
    counts = np.zeros((data.shape[1], len(domain)), dtype=np.float64)
    np.add.at(counts, (units, codes.reshape(-1)), 1.0)
    # o_ck = Σ_u (n_uc n_uk - [c = k] n_uc) / (m_u - 1): ordered pairs of values from different raters.
    weights = 1.0 / (pairable - 1.0)
    coincidences = (counts * weights[:, None]).T @ counts - np.diag(weights @ counts)
    margins = coincidences.sum(axis=1)
    n = float(margins.sum())
    if n < 2.0:
        return math.nan
    delta2 = _distances(domain, margins, level)
    expected = float((np.outer(margins, margins) * delta2).sum())
    if expected <= 0.0:
        return math.nan
    observed = float((coincidences * delta2).sum())
    return 1.0 - (n - 1.0) * observed / expected


def _distances(domain: FloatArray, margins: FloatArray, level: Level) -> FloatArray:
    """Squared distances δ²_ck between the values of the sorted ``domain``."""
    if level == "nominal":
        return 1.0 - np.eye(len(domain))
    if level == "interval":
        result: FloatArray = (domain[:, None] - domain[None, :]) ** 2
        return result
    # Ordinal: δ_ck = Σ_{g=c..k} n_g - (n_c + n_k) / 2 for c <= k.
    cumulative = np.concatenate(([0.0], np.cumsum(margins)))
    index = np.arange(len(domain))
    low, high = np.minimum.outer(index, index), np.maximum.outer(index, index)
    between = cumulative[high + 1] - cumulative[low]
    ordinal: FloatArray = (between - (margins[:, None] + margins[None, :]) / 2.0) ** 2
    return ordinal
