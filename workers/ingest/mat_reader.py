"""MAT: scipy.io for v5 files, h5py for v7.3 (which is HDF5).

Numeric vectors and matrices become columns (a matrix `x` of shape n x m gives x_1..x_m);
everything else is skipped: text (char), empty arrays, cells, structs, objects, sparse and
complex matrices. Every variable kept must have the same number of rows. When nothing is
left, the error names what was skipped and why.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from workers.errors import BadFile
from workers.ingest.limits import MAX_COLUMNS

Array = np.ndarray[Any, Any]
# MATLAB_class values of v7.3 variables that hold plain numbers.
NUMERIC_CLASSES = frozenset({
    "double", "single", "logical", "int8", "uint8", "int16", "uint16", "int32", "uint32",
    "int64", "uint64",
})


class Variables:
    """What a MAT file holds: the numeric arrays kept, and the names skipped with why."""

    def __init__(self) -> None:
        self.arrays: dict[str, Array] = {}
        self.skipped: dict[str, str] = {}

    def add(self, name: str, value: Array) -> None:
        kind = _array_kind(value)
        if kind is None:
            self.arrays[name] = value
        else:
            self.skipped[name] = kind


def read_mat(path: Path, version: str) -> Iterator[tuple[float, pa.Table]]:
    variables = _load_v73(path) if version == "mat73" else _load_v5(path)
    yield 1.0, _table(variables)


def _load_v5(path: Path) -> Variables:
    from scipy.io import loadmat

    try:
        raw = loadmat(path, squeeze_me=False)
    except Exception as exc:  # scipy raises ValueError, TypeError, MatReadError...
        raise BadFile("invalid_file", f"the MATLAB file cannot be read: {exc}") from exc
    variables = Variables()
    for name, value in raw.items():
        if not name.startswith("__") and isinstance(value, np.ndarray):
            variables.add(name, value)
    return variables


def _load_v73(path: Path) -> Variables:
    import h5py

    variables = Variables()
    try:
        with h5py.File(path, "r") as handle:
            for name, item in handle.items():
                if name.startswith("#"):
                    continue  # MATLAB's own groups (#refs#, #subsystem#): not variables
                skip = _v73_skip_reason(item.attrs, isinstance(item, h5py.Group))
                if skip is not None:
                    variables.skipped[name] = skip
                else:
                    # MATLAB stores column-major: HDF5 sees the transpose.
                    variables.add(name, np.asarray(item[()]).T)
    except OSError as exc:
        raise BadFile("invalid_file", f"the MATLAB 7.3 file cannot be read: {exc}") from exc
    return variables


def _v73_skip_reason(attrs: Any, is_group: bool) -> str | None:
    """Why a v7.3 variable is not numbers (None if it is), from MATLAB's own attributes."""
    declared = attrs.get("MATLAB_class")
    matlab_class = declared.decode() if isinstance(declared, bytes) else declared
    if is_group:
        # Structs, objects, and sparse matrices (a group of data/ir/jc).
        return "sparse" if "MATLAB_sparse" in attrs else str(matlab_class or "group")
    if attrs.get("MATLAB_empty"):
        return "empty"  # its data is the shape of the empty array, not values
    if matlab_class is not None and matlab_class not in NUMERIC_CLASSES:
        return str(matlab_class)  # char (UTF-16 codes), cell (references), function_handle...
    return None  # numeric, or an HDF5 file without MATLAB's attributes: decided by dtype


def _array_kind(value: Array) -> str | None:
    """Why an array cannot become columns, or None if it can."""
    kind = value.dtype.kind
    if kind in "US":
        return "char"
    if kind == "O":
        return "cell"
    if kind == "V":  # v7.3 stores complex numbers as a (real, imag) compound
        return "complex" if value.dtype.names == ("real", "imag") else "struct"
    if kind == "c":
        return "complex"
    if kind not in "biuf":
        return f"dtype {value.dtype}"
    if value.size == 0:
        return "empty"
    if value.ndim > 2:
        return f"{value.ndim}-D"
    return None


def _table(variables: Variables) -> pa.Table:
    columns: dict[str, Array] = {}
    for name, value in variables.arrays.items():
        matrix = value.reshape(-1, 1) if value.ndim == 1 else value
        if matrix.shape[0] == 1 and matrix.shape[1] > 1:
            matrix = matrix.T  # a row vector is one column
        if matrix.shape[1] == 1:
            columns[name] = matrix[:, 0]
        else:
            columns.update({f"{name}_{j + 1}": matrix[:, j] for j in range(matrix.shape[1])})
    if not columns:
        skipped = ", ".join(f"{name} ({why})" for name, why in variables.skipped.items())
        raise BadFile("unsupported_format", "the MATLAB file holds no numeric vector or matrix"
                      + (f"; skipped: {skipped}" if skipped else ""))
    if len(columns) > MAX_COLUMNS:
        raise BadFile("too_many_columns", f"{len(columns)} columns (at most {MAX_COLUMNS})")
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise BadFile("ragged_rows", f"variables have different lengths: {sorted(lengths)}")
    return pa.table({k: pa.array(v.astype(np.float64) if v.dtype.kind == "f" else v)
                     for k, v in columns.items()})
