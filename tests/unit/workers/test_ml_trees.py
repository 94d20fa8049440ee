"""Trees and forests: every fit ends, both split searches agree, regression and entropy
against scikit-learn, and fits that report (and so can stop) from inside their levels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_classification, make_regression
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import r2_score
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from workers.ml import bins, growth
from workers.ml.forest import RandomForest
from workers.ml.growth import ModelTooLarge
from workers.ml.metrics import accuracy, regression_scores, train_test_split
from workers.ml.tree import DecisionTree

# Each would loop forever if a split could send every row one way (the midpoint of two
# adjacent floats rounds to the upper one; near the largest float it overflows).
ENDLESS = [
    (np.array([[1.0000000000000002], [1.0000000000000004]]), np.array([0, 1])),
    (np.array([[9e307], [1.7e308]]), np.array([0, 1])),
    (np.array([[-1.7e308], [1.7e308]]), np.array([0, 1])),
    (np.array([[5e-324], [1e-323], [1.5e-323]]), np.array([0, 1, 0])),
]


@pytest.mark.timeout(20)
@pytest.mark.parametrize(("x", "y"), ENDLESS)
def test_a_tree_on_adjacent_or_huge_values_ends_and_separates_them(
    x: np.ndarray, y: np.ndarray
) -> None:
    tree = DecisionTree().fit(x, y)
    assert tree.predict(x).tolist() == y.tolist()
    regressor = DecisionTree(criterion="squared_error").fit(x, y.astype(float))
    assert regressor.predict(x).tolist() == y.astype(float).tolist()


@pytest.mark.timeout(60)
def test_sorted_and_counting_searches_grow_the_same_trees(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 12, size=(600, 7)).astype(float)
    y = (x[:, 0] + x[:, 3] + rng.integers(0, 4, 600) > 12).astype(int) + (x[:, 5] > 8)
    target = x[:, 1] * 2 - x[:, 2] + rng.normal(size=600)
    fits, fitted_values = [], []
    for distinct in (bins.MAX_DISTINCT, 0):  # counting, then sorted lists
        monkeypatch.setattr(bins, "MAX_DISTINCT", distinct)
        models = [DecisionTree(criterion=c).fit(x, y) for c in ("gini", "entropy")]
        models.append(DecisionTree(max_depth=4, min_samples_leaf=9).fit(x, y))
        fits.append([m.nodes for m in models])
        # Regression scores are sums of non-integers, added in another order by each search:
        # near-ties may split differently, but grown out both leave the same partition.
        regression = DecisionTree(criterion="squared_error").fit(x, target)
        fitted_values.append(regression.predict(x))
    assert np.allclose(*fitted_values)
    for counted, listed in zip(*fits, strict=True):
        assert counted is not None and listed is not None
        assert np.array_equal(counted.feature, listed.feature)
        assert np.allclose(counted.threshold, listed.threshold)
        assert np.allclose(counted.value, listed.value)


def test_a_fully_grown_tree_matches_scikit_learn_node_for_node_on_distinct_values() -> None:
    x, y = make_classification(n_samples=400, n_features=5, n_informative=3, random_state=1)
    ours = DecisionTree().fit(x, y).nodes
    theirs = DecisionTreeClassifier(random_state=0).fit(x, y).tree_
    assert ours is not None
    # Same splits, same order of growth aside: the same count of nodes and leaf purity.
    assert ours.n_nodes == theirs.node_count
    assert (ours.value[ours.feature < 0].max(axis=1) == 1.0).all()


def test_entropy_trees_score_like_scikit_learns() -> None:
    x, y = make_classification(n_samples=3000, n_features=10, n_informative=5, n_classes=3,
                               random_state=0)
    train, test = train_test_split(len(y), test_fraction=0.3, seed=0)
    ours = DecisionTree(criterion="entropy", max_depth=8).fit(x[train], y[train])
    theirs = DecisionTreeClassifier(criterion="entropy", max_depth=8, random_state=0)
    theirs.fit(x[train], y[train])
    assert abs(accuracy(y[test], ours.predict(x[test])) - theirs.score(x[test], y[test])) <= 0.02


def test_regression_tree_and_forest_score_like_scikit_learns() -> None:
    x, y = make_regression(n_samples=2000, n_features=8, n_informative=5, noise=10.0,
                           random_state=0)
    y = y + 1e6  # far from zero: the split sums are centred, so precision holds
    train, test = train_test_split(len(y), test_fraction=0.25, seed=0)
    tree = DecisionTree(criterion="squared_error", max_depth=10).fit(x[train], y[train])
    reference = DecisionTreeRegressor(max_depth=10, random_state=0).fit(x[train], y[train])
    ours = regression_scores(y[test], tree.predict(x[test]))["r2"]
    assert ours is not None
    assert abs(ours - r2_score(y[test], reference.predict(x[test]))) <= 0.03
    forest = RandomForest(n_estimators=40, criterion="squared_error", seed=0)
    forest.fit(x[train], y[train])
    other = RandomForestRegressor(40, max_features=1 / 3, random_state=0).fit(x[train], y[train])
    score = regression_scores(y[test], forest.predict(x[test]))["r2"]
    assert score is not None and score > 0.7
    assert abs(score - r2_score(y[test], other.predict(x[test]))) <= 0.03
    assert forest.importances.sum() == pytest.approx(1.0)
    assert set(np.argsort(forest.importances)[-3:]) <= set(
        np.argsort(other.feature_importances_)[-5:])


def test_a_forest_on_digits_is_as_accurate_as_scikit_learns() -> None:
    from sklearn.ensemble import RandomForestClassifier

    x, y = load_digits(return_X_y=True)
    train, test = train_test_split(len(y), test_fraction=0.3, seed=0)
    ours = RandomForest(n_estimators=60, seed=0).fit(x[train], y[train])
    theirs = RandomForestClassifier(60, random_state=0).fit(x[train], y[train])
    assert abs(accuracy(y[test], ours.predict(x[test])) - theirs.score(x[test], y[test])) <= 0.02


def test_a_fit_reports_from_inside_a_level(monkeypatch: pytest.MonkeyPatch) -> None:
    """A level of a large fit is split in blocks, and each block may report: a cancel lands
    within a report interval however large a level is, not at its end."""
    monkeypatch.setattr(growth, "BLOCK_CELLS", 64)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(400, 6)), rng.integers(0, 3, 400)
    seen: list[float] = []
    DecisionTree(max_depth=1, report_every=0).fit(x, y, progress=seen.append)
    # Two levels (the root, then its two children, which stop at max_depth): dozens of
    # reports because each root column block reports.
    assert len(seen) > 6


@pytest.mark.timeout(60)
def test_a_forest_too_large_for_memory_stops_with_a_clear_error(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(growth, "MAX_NODE_VALUES", 2000)
    monkeypatch.setattr("workers.ml.forest.MAX_NODE_VALUES", 2000)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(3000, 4)), rng.integers(0, 2, 3000)
    with pytest.raises(ModelTooLarge, match="max_depth"):
        RandomForest(n_estimators=20).fit(x, y)


def test_nan_in_training_data_is_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        DecisionTree().fit(np.array([[1.0], [np.nan]]), np.array([0, 1]))
