"""Speed and quality of Roomcast's NumPy k-means, decision tree and random forest against
scikit-learn on the same data, in the same run (scikit-learn is a test-only dependency:
`pip install -e '.[test]'`).

    .venv/bin/python benchmarks/ml_bench.py [--repeat 3] [--only kmeans] [--json out.json]

Both sides run on one thread (OMP, OpenBLAS and MKL thread counts are set to 1 before NumPy
loads) and in one process whose allocator is tuned as a Roomcast worker's is
(`workers/ml/allocator.py`; `--untuned` leaves it on the C library's defaults). A case's
time is the best of `--repeat` runs of the process' CPU time: a single-threaded fit's CPU
time is its running time on an idle machine, and unlike wall time it does not grow when
other processes share the cores. The ratio is Roomcast's time over scikit-learn's; `target`
is the most the project accepts. Quality: inertia for k-means (lower is better), held-out
accuracy for classifiers.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402 (NumPy must not load before the thread counts are set)
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from functools import partial  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.datasets import load_digits, make_blobs, make_classification  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402

from workers.ml.allocator import keep_freed_memory  # noqa: E402
from workers.ml.forest import RandomForest  # noqa: E402
from workers.ml.kmeans import kmeans  # noqa: E402
from workers.ml.metrics import accuracy, train_test_split  # noqa: E402
from workers.ml.tree import DecisionTree  # noqa: E402


@dataclass
class Row:
    case: str
    roomcast_s: float
    sklearn_s: float
    ratio: float
    target: float
    roomcast_quality: float
    sklearn_quality: float

    @property
    def met(self) -> bool:
        return self.ratio <= self.target


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.process_time()
        result = fn()
        times.append(time.process_time() - start)
    return min(times), result


def compare(case: str, target: float, repeat: int, ours: Callable[[], float],
            theirs: Callable[[], float]) -> Row:
    ours_t, ours_q = best_of(repeat, ours)
    ref_t, ref_q = best_of(repeat, theirs)
    return Row(case, ours_t, ref_t, ours_t / ref_t, target, float(ours_q), float(ref_q))


def kmeans_cases(scale: float, repeat: int) -> list[Row]:
    digits, _ = load_digits(return_X_y=True)
    n_mid, n_big = int(100_000 * scale), int(1_000_000 * scale)
    mid, _ = make_blobs(n_samples=n_mid, centers=8, n_features=10, random_state=0)
    big, _ = make_blobs(n_samples=n_big, centers=8, n_features=2, random_state=0)
    rows = []
    for name, x, k in ((f"k-means k=10, digits {digits.shape[0]}x64", digits, 10),
                       (f"k-means k=8, {n_mid}x10", mid, 8),
                       (f"k-means k=8, {n_big}x2", big, 8)):
        rows.append(compare(
            f"{name} (inertia)", 1.5, repeat,
            lambda x=x, k=k: kmeans(x, k, restarts=5, seed=0).inertia,
            lambda x=x, k=k: KMeans(k, n_init=5, random_state=0).fit(x).inertia_))
    return rows


def classifier_data(scale: float) -> list[tuple[str, np.ndarray, np.ndarray]]:
    digits, labels = load_digits(return_X_y=True)
    n = int(50_000 * scale)
    x, y = make_classification(n_samples=n, n_features=20, n_informative=10, random_state=0)
    return [(f"digits {len(digits)}x64, 10 classes", digits, labels), (f"{n}x20", x, y)]


Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def split(x: np.ndarray, y: np.ndarray) -> Split:
    train, test = train_test_split(len(y), test_fraction=0.25, seed=0)
    return x[train], y[train], x[test], y[test]


def our_tree(data: Split) -> float:
    x, y, x_test, y_test = data
    return accuracy(y_test, DecisionTree().fit(x, y).predict(x_test))


def their_tree(data: Split) -> float:
    x, y, x_test, y_test = data
    return float(DecisionTreeClassifier(random_state=0).fit(x, y).score(x_test, y_test))


def our_forest(trees: int, data: Split) -> float:
    x, y, x_test, y_test = data
    return accuracy(y_test, RandomForest(n_estimators=trees, seed=0).fit(x, y).predict(x_test))


def their_forest(trees: int, data: Split) -> float:
    x, y, x_test, y_test = data
    model = RandomForestClassifier(trees, random_state=0, n_jobs=1).fit(x, y)
    return float(model.score(x_test, y_test))


def tree_cases(scale: float, repeat: int) -> list[Row]:
    return [compare(f"tree, {name} (accuracy)", 2.0, repeat, partial(our_tree, split(x, y)),
                    partial(their_tree, split(x, y)))
            for name, x, y in classifier_data(scale)]


def forest_cases(scale: float, repeat: int) -> list[Row]:
    return [compare(f"forest of {trees}, {name} (accuracy)", 3.0, repeat,
                    partial(our_forest, trees, split(x, y)),
                    partial(their_forest, trees, split(x, y)))
            for (name, x, y), trees in zip(classifier_data(scale), (100, 50), strict=True)]


CASES = {"kmeans": kmeans_cases, "tree": tree_cases, "forest": forest_cases}


def main(argv: Sequence[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the best counts")
    parser.add_argument("--only", choices=sorted(CASES), action="append",
                        help="run only these families (repeatable)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply the generated data sizes (digits stay whole)")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--untuned", action="store_true",
                        help="leave the allocator as the C library sets it")
    args = parser.parse_args(argv)
    if not args.untuned:
        keep_freed_memory()
    print(f"{'case':<54} {'roomcast s':>10} {'sklearn s':>10} {'ratio':>6} {'target':>6} "
          f"{'roomcast':>10} {'sklearn':>10}")
    rows: list[Row] = []
    for family in args.only or list(CASES):
        for row in CASES[family](args.scale, args.repeat):
            rows.append(row)
            print(f"{row.case:<54} {row.roomcast_s:>10.3f} {row.sklearn_s:>10.3f} "
                  f"{row.ratio:>6.2f} {row.target:>6.1f} {row.roomcast_quality:>10.5g} "
                  f"{row.sklearn_quality:>10.5g}{'' if row.met else '  (over target)'}",
                  flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump([{**asdict(r), "met": r.met} for r in rows], handle, indent=1)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
