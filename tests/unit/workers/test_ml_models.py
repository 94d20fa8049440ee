"""Saved models: files that round-trip without pickle and refuse damage, predictions equal to
the fitted estimator's, and the analysis parameters' own checks."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.datasets import make_blobs, make_classification

from core.store.jobs import ALGORITHMS, AnalysisParams
from core.store.models_fitted import FittedModel
from core.store.models_trees import TreeSet
from workers.ml.forest import RandomForest
from workers.ml.kmeans import kmeans
from workers.ml.matrix import Scaling
from workers.ml.tree import DecisionTree


def _forest_model() -> tuple[FittedModel, RandomForest, Scaling, np.ndarray]:
    x, y = make_classification(n_samples=500, n_features=4, n_informative=3, n_redundant=0,
                               n_classes=3, random_state=0)
    x = x * 100 + 5
    scaling = Scaling.of(x, True)
    forest = RandomForest(n_estimators=7, seed=1).fit(scaling.apply(x), y)
    assert forest.nodes is not None
    model = FittedModel("classification", ["a", "b", "c", "d"], scaling.offset, scaling.scale,
                        trees=forest.nodes, classes=["no", "maybe", "yes"])
    return model, forest, scaling, x


def test_a_forest_round_trips_and_predicts_as_it_did() -> None:
    model, forest, scaling, x = _forest_model()
    arrays, meta = model.to_files({"algorithm": "random_forest"})
    loaded = FittedModel.from_files(arrays, meta)
    prediction = loaded.predict(x)
    assert np.array_equal(prediction.labels, forest.predict(scaling.apply(x)))
    assert prediction.shares is not None
    assert np.allclose(prediction.shares, forest.predict_proba(scaling.apply(x)))
    assert loaded.classes == ["no", "maybe", "yes"]
    assert json.loads(meta)["format"] == "roomcast-model"


def test_a_regression_tree_and_a_kmeans_model_round_trip() -> None:
    x, _ = make_blobs(n_samples=400, centers=3, n_features=2, random_state=0)
    target = x[:, 0] * 3 + 1
    tree = DecisionTree(criterion="squared_error", max_depth=5).fit(x, target)
    assert tree.nodes is not None
    regressor = FittedModel("regression", ["u", "v"], np.zeros(2), np.ones(2), trees=tree.nodes)
    loaded = FittedModel.from_files(*regressor.to_files({}))
    assert np.allclose(loaded.predict(x).labels, tree.predict(x))

    fit = kmeans(x, 3)
    clusters = FittedModel("clustering", ["u", "v"], np.zeros(2), np.ones(2),
                           centers=fit.centers)
    assert np.array_equal(FittedModel.from_files(*clusters.to_files({})).predict(x).labels,
                          fit.labels)


def _rewritten(arrays: bytes, **changes: np.ndarray) -> bytes:
    with np.load(io.BytesIO(arrays), allow_pickle=False) as stored:
        content = {name: stored[name] for name in stored.files}
    content.update(changes)
    buffer = io.BytesIO()
    np.savez(buffer, **content)  # type: ignore[arg-type]
    return buffer.getvalue()


def test_damaged_files_are_refused() -> None:
    model, *_ = _forest_model()
    arrays, meta = model.to_files({})
    assert model.trees is not None
    backwards = model.trees.left.copy()
    backwards[0] = 0  # a child pointing at its parent: a walk would never end
    for damaged in (
        _rewritten(arrays, tree_left=backwards),
        _rewritten(arrays, tree_feature=np.full_like(model.trees.feature, 9)),
        _rewritten(arrays, offset=np.zeros(3)),
        _rewritten(arrays, scale=np.zeros(4)),
    ):
        with pytest.raises(ValueError):
            FittedModel.from_files(damaged, meta)
    with pytest.raises(ValueError, match="version"):
        FittedModel.from_files(arrays, json.dumps({"format": "pickle", "version": 1}).encode())


def test_a_pickled_array_in_a_model_file_is_never_loaded() -> None:
    model, *_ = _forest_model()
    arrays, meta = model.to_files({})
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(arrays)) as source, zipfile.ZipFile(buffer, "w") as target:
        for name in source.namelist():
            if name != "offset.npy":
                target.writestr(name, source.read(name))
        with target.open("offset.npy", "w") as member:  # replaced by an object array
            np.lib.format.write_array(member, np.array([object()] * 4, dtype=object),
                                      allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        FittedModel.from_files(buffer.getvalue(), meta)


def test_tree_arrays_must_match_the_feature_count() -> None:
    model, *_ = _forest_model()
    assert model.trees is not None
    with pytest.raises(ValueError, match="feature"):
        TreeSet.from_arrays(model.trees.arrays(), n_features=2)


def test_a_target_among_the_features_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        AnalysisParams(algorithm="random_forest", target="kind", features=["x", "kind"])
    assert caught.value.errors()[0]["type"] == "target_in_features"


def test_a_criterion_must_suit_the_algorithm() -> None:
    assert AnalysisParams(algorithm="decision_tree", criterion="entropy").split_criterion == \
        "entropy"
    assert AnalysisParams(algorithm="decision_tree_regressor").split_criterion == \
        "squared_error"
    for algorithm, criterion in (("decision_tree", "squared_error"),
                                 ("random_forest_regressor", "gini")):
        with pytest.raises(ValidationError) as caught:
            AnalysisParams.model_validate({"algorithm": algorithm, "criterion": criterion})
        assert caught.value.errors()[0]["type"] == "criterion_mismatch"


def test_every_algorithm_lists_only_parameters_that_exist() -> None:
    fields = set(AnalysisParams.model_fields)
    for spec in ALGORITHMS.values():
        assert set(spec.parameters) <= fields
