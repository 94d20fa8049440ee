"""The NumPy algorithms against scikit-learn (a test-only reference) on the same data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_breast_cancer, make_blobs, make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.metrics import silhouette_score
from sklearn.tree import DecisionTreeClassifier

from workers.ml.forest import RandomForest
from workers.ml.kmeans import kmeans, silhouette
from workers.ml.metrics import accuracy, confusion_matrix, train_test_split
from workers.ml.pca import pca
from workers.ml.plots import clusters_png, confusion_png, importances_png
from workers.ml.tree import DecisionTree

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("k", "std"), [(3, 1.0), (6, 2.5), (10, 4.0)])
def test_kmeans_inertia_within_one_percent_of_sklearn(k: int, std: float) -> None:
    x, _ = make_blobs(n_samples=3000, centers=k, n_features=4, cluster_std=std, random_state=k)
    ours = kmeans(x, k, restarts=5, seed=0)
    reference = KMeans(k, n_init=5, random_state=0).fit(x)
    assert ours.inertia <= reference.inertia_ * 1.01
    assert len(np.unique(ours.labels)) == k


def test_silhouette_matches_sklearn_on_the_full_sample() -> None:
    x, _ = make_blobs(n_samples=800, centers=4, random_state=3)
    labels = kmeans(x, 4, seed=1).labels
    assert silhouette(x, labels, sample=800) == pytest.approx(silhouette_score(x, labels))


def _splits(x: np.ndarray, y: np.ndarray, seeds: range) -> list[tuple[np.ndarray, np.ndarray]]:
    return [train_test_split(len(y), test_fraction=0.3, seed=s) for s in seeds]


def test_decision_tree_accuracy_within_two_points() -> None:
    x, y = make_classification(n_samples=3000, n_features=10, n_informative=5, n_classes=3,
                               random_state=0)
    ours, theirs = [], []
    for train, test in _splits(x, y, range(3)):
        model = DecisionTree(max_depth=8).fit(x[train], y[train])
        ours.append(accuracy(y[test], model.predict(x[test])))
        ref = DecisionTreeClassifier(max_depth=8, random_state=0).fit(x[train], y[train])
        theirs.append(ref.score(x[test], y[test]))
    assert abs(np.mean(ours) - np.mean(theirs)) <= 0.02


def test_random_forest_accuracy_within_two_points_and_similar_importances() -> None:
    data = load_breast_cancer()
    x, y = data.data, data.target
    train, test = train_test_split(len(y), test_fraction=0.3, seed=0)
    model = RandomForest(n_estimators=60, seed=0).fit(x[train], y[train])
    ref = RandomForestClassifier(60, random_state=0).fit(x[train], y[train])
    assert abs(accuracy(y[test], model.predict(x[test])) - ref.score(x[test], y[test])) <= 0.02
    assert model.importances.sum() == pytest.approx(1.0)
    # The most important feature by either account is among the other's top five.
    assert np.argmax(model.importances) in np.argsort(ref.feature_importances_)[-5:]


def test_tree_fits_separable_data_exactly() -> None:
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    tree = DecisionTree().fit(x, y)
    assert tree.predict(np.array([[0.4], [2.6]])).tolist() == [0, 1]
    assert tree.nodes is not None and tree.nodes.threshold[0] == pytest.approx(1.5)


class Stop(Exception):
    pass


def _noise(n: int = 3000, d: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, d)), rng.integers(0, 3, size=n)  # labels of pure noise: deep


def test_tree_reports_progress_while_it_grows_and_stops_when_the_report_raises() -> None:
    x, y = _noise()
    seen: list[float] = []
    full = DecisionTree(report_every=0).fit(x, y, progress=seen.append)
    assert len(seen) > 10 and seen == sorted(seen) and 0 < seen[-1] <= 1.0

    calls = 0

    def cancel_at_the_third(fraction: float) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise Stop()  # what a cancelled job's step raises

    stopped = DecisionTree(report_every=0)
    with pytest.raises(Stop):
        stopped.fit(x, y, progress=cancel_at_the_third)
    assert calls == 3 and stopped.nodes is None  # it stopped at that report, mid-fit
    assert full.nodes is not None and full.nodes.n_nodes > 100


def test_forest_passes_its_trees_progress_on() -> None:
    x, y = _noise(1000)
    seen: list[float] = []
    RandomForest(n_estimators=3, report_every=0).fit(x, y, progress=seen.append)
    # Reports from inside each tree, mapped into the forest's whole: between tree ends too.
    assert len(seen) > 3 and seen == sorted(seen) and seen[-1] == 1.0
    assert any(0 < f < 1 / 3 for f in seen)


def test_confusion_matrix_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    truth, predicted = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    assert confusion_matrix(truth, predicted, 4).tolist() == sk_confusion(
        truth, predicted).tolist()


def test_split_is_disjoint_and_complete() -> None:
    train, test = train_test_split(101, test_fraction=0.2, seed=5)
    assert len(test) == 20
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(101))


def test_pca_keeps_the_main_direction() -> None:
    rng = np.random.default_rng(0)
    t = rng.normal(size=500)
    x = np.column_stack([t, 2 * t + rng.normal(scale=0.01, size=500), rng.normal(size=500)])
    projected, ratio = pca(x)
    assert projected.shape == (500, 2)
    assert ratio[0] > 0.6


def test_pictures_are_png() -> None:
    x, _ = make_blobs(n_samples=200, centers=3, random_state=0)
    fit = kmeans(x, 3)
    assert clusters_png(x, fit.labels, fit.centers, [0.7, 0.3]).startswith(PNG)
    assert importances_png(["a", "b"], np.array([0.3, 0.7])).startswith(PNG)
    assert confusion_png(np.array([[3, 1], [0, 4]]), ["no", "yes"]).startswith(PNG)
