"""Speed and quality of Roomcast's NumPy k-means, decision tree and random forest against
scikit-learn on the same data (scikit-learn is a test-only dependency: `pip install -e '.[test]'`).

    .venv/bin/python benchmarks/ml_bench.py [--rows 20000] [--repeat 3]

Prints one line per algorithm: best-of-N wall time for each, and the quality measure
(inertia for k-means, test accuracy for the classifiers).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs, make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

from workers.ml.forest import RandomForest
from workers.ml.kmeans import kmeans
from workers.ml.metrics import accuracy, train_test_split
from workers.ml.tree import DecisionTree


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows, repeat = args.rows, args.repeat
    print(f"{'algorithm':<34} {'roomcast s':>10} {'sklearn s':>10} {'roomcast':>10} "
          f"{'sklearn':>10}")

    x, _ = make_blobs(n_samples=rows, centers=8, n_features=8, cluster_std=2.0, random_state=0)
    ours_t, ours = best_of(repeat, lambda: kmeans(x, 8, restarts=5, seed=0))
    ref_t, ref = best_of(repeat, lambda: KMeans(8, n_init=5, random_state=0).fit(x))
    print(f"{f'k-means k=8, {rows}x8 (inertia)':<34} {ours_t:>10.3f} {ref_t:>10.3f} "
          f"{ours.inertia:>10.4g} {ref.inertia_:>10.4g}")

    x, y = make_classification(n_samples=rows, n_features=16, n_informative=8, n_classes=3,
                               random_state=0)
    train, test = train_test_split(len(y), test_fraction=0.25, seed=0)

    def ours_tree() -> float:
        model = DecisionTree(max_depth=10).fit(x[train], y[train])
        return accuracy(y[test], model.predict(x[test]))

    def ref_tree() -> float:
        model = DecisionTreeClassifier(max_depth=10, random_state=0).fit(x[train], y[train])
        return float(model.score(x[test], y[test]))

    ours_t, ours_acc = best_of(repeat, ours_tree)
    ref_t, ref_acc = best_of(repeat, ref_tree)
    print(f"{f'tree depth 10, {rows}x16 (accuracy)':<34} {ours_t:>10.3f} {ref_t:>10.3f} "
          f"{ours_acc:>10.3f} {ref_acc:>10.3f}")

    def ours_forest() -> float:
        model = RandomForest(n_estimators=50, max_depth=12, seed=0).fit(x[train], y[train])
        return accuracy(y[test], model.predict(x[test]))

    def ref_forest() -> float:
        model = RandomForestClassifier(50, max_depth=12, random_state=0, n_jobs=1)
        return float(model.fit(x[train], y[train]).score(x[test], y[test]))

    ours_t, ours_acc = best_of(1, ours_forest)
    ref_t, ref_acc = best_of(1, ref_forest)
    print(f"{'forest 50 trees depth 12 (accuracy)':<34} {ours_t:>10.3f} {ref_t:>10.3f} "
          f"{ours_acc:>10.3f} {ref_acc:>10.3f}")


if __name__ == "__main__":
    main()
