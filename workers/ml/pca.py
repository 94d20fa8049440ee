"""Principal components by SVD of the centred data: the 2-D view of clusters."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Matrix = NDArray[np.float64]


def pca(x: Matrix, components: int = 2) -> tuple[Matrix, Matrix]:
    """The projected rows and the explained-variance ratio of each kept component."""
    centred = x - x.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(components, vt.shape[0])
    variance = singular**2
    ratio = variance[:k] / max(float(variance.sum()), 1e-300)
    projected = centred @ vt[:k].T
    if k < components:  # one feature: pad so callers can always plot two axes
        projected = np.hstack([projected, np.zeros((len(x), components - k))])
    return projected, ratio
