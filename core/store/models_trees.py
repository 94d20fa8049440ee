"""Fitted trees as flat arrays, and prediction by every tree at once.

A tree set is one tree or a forest: the nodes of all trees in one array each, a tree's
children indexed within the whole. Rows descend every tree together, one level per pass, so
predicting costs a pass per level of the deepest tree, not a Python call per tree or row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

Matrix = NDArray[np.float64]
Arrays = dict[str, NDArray[np.generic]]
# Rows times trees walked at once: bounds the working arrays of a large prediction.
PREDICT_CELLS = 1 << 22


class GrownTree(Protocol):
    feature: NDArray[np.int32]
    threshold: Matrix
    left: NDArray[np.int32]
    right: NDArray[np.int32]
    value: Matrix


@dataclass(frozen=True)
class TreeSet:
    feature: NDArray[np.int32]  # the feature a node splits on; -1 at leaves
    threshold: Matrix  # rows with feature <= threshold go left
    left: NDArray[np.int32]  # children: indices into the whole set
    right: NDArray[np.int32]
    value: Matrix  # (nodes, outputs): class shares, or the mean target
    roots: NDArray[np.int64]  # each tree's root node

    @classmethod
    def of(cls, trees: Sequence[GrownTree]) -> TreeSet:
        sizes = np.array([len(t.feature) for t in trees], dtype=np.int64)
        roots = np.cumsum(sizes) - sizes
        shift = [np.where(t.feature >= 0, root, 0) for t, root in zip(trees, roots, strict=True)]
        return cls(
            feature=np.concatenate([t.feature for t in trees]).astype(np.int32),
            threshold=np.concatenate([t.threshold for t in trees]),
            left=np.concatenate([t.left + s for t, s in zip(trees, shift, strict=True)]
                                ).astype(np.int32),
            right=np.concatenate([t.right + s for t, s in zip(trees, shift, strict=True)]
                                 ).astype(np.int32),
            value=np.concatenate([t.value for t in trees]),
            roots=roots,
        )

    @property
    def n_trees(self) -> int:
        return len(self.roots)

    @property
    def n_nodes(self) -> int:
        return len(self.feature)

    def leaves(self, x: Matrix) -> NDArray[np.int64]:
        """(rows, trees): the leaf each row reaches in each tree."""
        node = np.broadcast_to(self.roots, (len(x), self.n_trees)).copy()
        flat = node.ravel()
        active = np.flatnonzero(self.feature[flat] >= 0)
        row = active // self.n_trees
        while len(active):
            at = flat[active]
            goes_left = x[row, self.feature[at]] <= self.threshold[at]
            flat[active] = np.where(goes_left, self.left[at], self.right[at])
            inner = self.feature[flat[active]] >= 0
            active, row = active[inner], row[inner]
        return node

    def mean_value(self, x: Matrix) -> Matrix:
        """The trees' leaf values averaged, per row: class shares, or the predicted target."""
        out = np.empty((len(x), self.value.shape[1]))
        step = max(1, PREDICT_CELLS // max(self.n_trees, 1))
        for start in range(0, len(x), step):
            leaves = self.leaves(x[start:start + step])
            out[start:start + step] = self.value[leaves].mean(axis=1)
        return out

    def arrays(self) -> Arrays:
        return {"feature": self.feature, "threshold": self.threshold, "left": self.left,
                "right": self.right, "value": self.value, "roots": self.roots}

    @classmethod
    def from_arrays(cls, arrays: Arrays, n_features: int) -> TreeSet:
        """Rebuild from `arrays()`, checking every index (ValueError if one is off)."""
        tree = cls(
            feature=np.asarray(arrays["feature"], dtype=np.int32),
            threshold=np.asarray(arrays["threshold"], dtype=np.float64),
            left=np.asarray(arrays["left"], dtype=np.int32),
            right=np.asarray(arrays["right"], dtype=np.int32),
            value=np.asarray(arrays["value"], dtype=np.float64),
            roots=np.asarray(arrays["roots"], dtype=np.int64),
        )
        tree.check(n_features)
        return tree

    def check(self, n_features: int) -> None:
        n = self.n_nodes
        if {len(self.threshold), len(self.left), len(self.right), len(self.value)} != {n} \
                or self.value.ndim != 2 or self.roots.ndim != 1 or not len(self.roots):
            raise ValueError("the tree arrays disagree in shape")
        inner = self.feature >= 0
        if inner.any() and np.max(self.feature) >= n_features:
            raise ValueError("a node splits on a feature the model does not have")
        nodes = np.arange(n)
        # Children come after their parent: a walk always moves forward, so it ends.
        for child in (self.left[inner], self.right[inner]):
            if len(child) and (np.max(child) >= n or (child <= nodes[inner]).any()):
                raise ValueError("a child index points outside the trees or backwards")
        if np.min(self.roots) < 0 or np.max(self.roots) >= n:
            raise ValueError("a root index is outside the trees")
