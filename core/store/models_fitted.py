"""A fitted model in the form that predicts, and its files in object storage.

Files are a safe format of our own, never pickle: `arrays.npz` holds plain numeric arrays in
NumPy's `.npz` (read back with `allow_pickle=False`, so loading runs no code) and
`model.json` says what they are. Everything read is checked (names, shapes, indices) before
use, so a damaged file fails to load instead of mispredicting.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.errors import NotFound, RoomcastError
from core.objects import ObjectStorage
from core.store.models_saved import SavedModelDoc, Task
from core.store.models_trees import Arrays, Matrix, TreeSet

FORMAT = "roomcast-model"
VERSION = 1
BLOCK_ROWS = 1 << 14


class ModelUnreadable(RoomcastError):
    """A saved model's files exist but cannot be read back (damaged, or another version)."""

    code = "model_unreadable"
    http_status = 500
    default_message = "the model's files cannot be read"


async def load_fitted(objects: ObjectStorage, saved: SavedModelDoc) -> FittedModel:
    """The saved model's fitted form; NotFound if its files are gone, ModelUnreadable if they
    do not load."""
    try:
        arrays = await objects.get_bytes(saved.arrays_key)
        meta = await objects.get_bytes(saved.meta_key)
    except NotFound as exc:
        raise NotFound("the model's files are gone") from exc
    try:
        return FittedModel.from_files(arrays, meta)
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise ModelUnreadable(details={"reason": str(exc)}) from exc


@dataclass(frozen=True)
class Prediction:
    labels: NDArray[Any]  # class or cluster index per row, or the predicted value
    shares: Matrix | None = None  # classifiers: each class's share of the trees' votes


@dataclass(frozen=True)
class FittedModel:
    task: Task
    features: list[str]
    offset: Matrix  # subtracted from each feature (its training mean when standardized)
    scale: Matrix  # then divided by (its training standard deviation, or 1)
    trees: TreeSet | None = None
    centers: Matrix | None = None  # k-means, in the scaled space
    classes: list[str] | None = None

    def scaled(self, x: Matrix) -> Matrix:
        result: Matrix = (np.asarray(x, dtype=np.float64) - self.offset) / self.scale
        return result

    def predict(self, x: Matrix) -> Prediction:
        """Predictions for rows of the model's features, in its feature order."""
        z = self.scaled(x)
        if self.centers is not None:
            return Prediction(nearest_centre(z, self.centers))
        assert self.trees is not None
        values = self.trees.mean_value(z)
        if self.task == "regression":
            return Prediction(values[:, 0])
        return Prediction(np.argmax(values, axis=1), values)

    def to_files(self, meta: dict[str, Any]) -> tuple[bytes, bytes]:
        """(arrays.npz, model.json) bytes."""
        arrays: Arrays = {"offset": self.offset, "scale": self.scale}
        if self.trees is not None:
            arrays.update({f"tree_{k}": v for k, v in self.trees.arrays().items()})
        if self.centers is not None:
            arrays["centers"] = self.centers
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:  # what np.savez writes, pickle refused
            for name, array in arrays.items():
                with archive.open(f"{name}.npy", "w") as member:
                    np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
        document = {**meta, "format": FORMAT, "version": VERSION, "task": self.task,
                    "features": self.features, "classes": self.classes}
        return buffer.getvalue(), json.dumps(document).encode()

    @classmethod
    def from_files(cls, arrays_npz: bytes, model_json: bytes) -> FittedModel:
        """Load and check; ValueError saying what is wrong with a damaged model."""
        meta = json.loads(model_json)
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ValueError("not a model file of a version this server reads")
        features = [str(f) for f in meta["features"]]
        with np.load(io.BytesIO(arrays_npz), allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        offset, scale = _vector(arrays, "offset", len(features)), _vector(arrays, "scale",
                                                                          len(features))
        if (scale <= 0).any():
            raise ValueError("the model's scale must be positive")
        classes = meta.get("classes")
        trees = centers = None
        if meta["task"] == "clustering":
            centers = np.asarray(arrays["centers"], dtype=np.float64)
            if centers.ndim != 2 or centers.shape[1] != len(features) or not len(centers):
                raise ValueError("the cluster centres do not match the features")
        else:
            trees = TreeSet.from_arrays({k[5:]: v for k, v in arrays.items()
                                         if k.startswith("tree_")}, len(features))
            outputs = len(classes) if meta["task"] == "classification" else 1
            if trees.value.shape[1] != outputs:
                raise ValueError("the tree values do not match the classes")
        return cls(meta["task"], features, offset, scale, trees, centers,
                   None if classes is None else [str(c) for c in classes])


def _vector(arrays: Arrays, name: str, length: int) -> Matrix:
    vector = np.asarray(arrays[name], dtype=np.float64)
    if vector.shape != (length,) or not np.isfinite(vector).all():
        raise ValueError(f"the model's {name} does not match its features")
    return vector


def nearest_centre(x: Matrix, centers: Matrix) -> NDArray[np.int64]:
    """Each row's nearest centre, distances computed around the centres' mean (precise far
    from the origin too)."""
    middle = centers.mean(axis=0)
    shifted = centers - middle
    scaled = np.column_stack([-2.0 * shifted, np.einsum("ij,ij->i", shifted, shifted)])
    labels = np.empty(len(x), dtype=np.int64)
    for start in range(0, len(x), BLOCK_ROWS):
        part = x[start:start + BLOCK_ROWS] - middle
        d = part @ scaled[:, :-1].T + scaled[:, -1]
        labels[start:start + BLOCK_ROWS] = np.argmin(d, axis=1)
    return labels
