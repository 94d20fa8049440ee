"""MAT: scipy.io for v5 files, h5py for v7.3 (which is HDF5).

Numeric vectors and matrices become columns (a matrix `x` of shape n x m gives x_1..x_m);
structs, cells and strings are skipped. Every variable must have the same number of rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from workers.errors import BadFile
from workers.ingest.limits import MAX_COLUMNS


def read_mat(path: Path, version: str) -> Iterator[tuple[float, pa.Table]]:
    variables = _load_v73(path) if version == "mat73" else _load_v5(path)
    yield 1.0, _table(variables)


def _load_v5(path: Path) -> dict[str, np.ndarray[Any, Any]]:
    from scipy.io import loadmat

    try:
        raw = loadmat(path, squeeze_me=False)
    except Exception as exc:  # scipy raises ValueError, TypeError, MatReadError...
        raise BadFile("invalid_file", f"the MATLAB file cannot be read: {exc}") from exc
    return {k: v for k, v in raw.items() if not k.startswith("__") and isinstance(v, np.ndarray)}


def _load_v73(path: Path) -> dict[str, np.ndarray[Any, Any]]:
    import h5py

    out: dict[str, np.ndarray[Any, Any]] = {}
    try:
        with h5py.File(path, "r") as handle:
            for name, item in handle.items():
                if isinstance(item, h5py.Dataset) and item.dtype.kind in "biuf":
                    # MATLAB stores column-major: HDF5 sees the transpose.
                    out[name] = np.asarray(item[()]).T
    except OSError as exc:
        raise BadFile("invalid_file", f"the MATLAB 7.3 file cannot be read: {exc}") from exc
    return out


def _table(variables: dict[str, np.ndarray[Any, Any]]) -> pa.Table:
    columns: dict[str, np.ndarray[Any, Any]] = {}
    for name, value in variables.items():
        if value.dtype.kind not in "biuf" or value.ndim > 2 or value.size == 0:
            continue
        matrix = value.reshape(-1, 1) if value.ndim == 1 else value
        if matrix.shape[0] == 1 and matrix.shape[1] > 1:
            matrix = matrix.T  # a row vector is one column
        if matrix.shape[1] == 1:
            columns[name] = matrix[:, 0]
        else:
            columns.update({f"{name}_{j + 1}": matrix[:, j] for j in range(matrix.shape[1])})
    if not columns:
        raise BadFile("unsupported_format", "the MATLAB file holds no numeric vector or matrix")
    if len(columns) > MAX_COLUMNS:
        raise BadFile("too_many_columns", f"{len(columns)} columns (at most {MAX_COLUMNS})")
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise BadFile("ragged_rows", f"variables have different lengths: {sorted(lengths)}")
    return pa.table({k: pa.array(v.astype(np.float64) if v.dtype.kind == "f" else v)
                     for k, v in columns.items()})
