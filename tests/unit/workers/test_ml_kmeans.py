"""k-means: exact inertia far from the origin, clear errors for inputs it cannot cluster, no
silent empty clusters, and the bounded (Hamerly) iterations equal to plain ones."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits, make_blobs

from core.store.models_fitted import nearest_centre
from workers.ml import kmeans as km
from workers.ml.kmeans import KMeansError, kmeans
from workers.ml.ticker import silent


def test_inertia_is_exact_on_data_far_from_the_origin() -> None:
    x, _ = make_blobs(n_samples=2000, centers=4, n_features=3, random_state=5)
    near = kmeans(x, 4, seed=0)
    far = kmeans(x + 1e8, 4, seed=0)
    residual = ((x + 1e8 - far.centers[far.labels]) ** 2).sum()
    assert far.inertia == pytest.approx(near.inertia, rel=1e-6)
    assert far.inertia == pytest.approx(residual, rel=1e-9)
    assert KMeans(4, n_init=5, random_state=0).fit(x).inertia_ == pytest.approx(
        far.inertia, rel=0.004)


def test_missing_values_are_refused_with_a_clear_error() -> None:
    x = np.array([[0.0, 1.0], [np.nan, 2.0], [3.0, 4.0]])
    with pytest.raises(KMeansError, match="NaN or infinite"):
        kmeans(x, 2)


def test_more_clusters_than_distinct_points_is_refused() -> None:
    x = np.array([[1.0, 1.0]] * 5 + [[2.0, 2.0]] * 5 + [[7.0, 0.0]] * 5)
    with pytest.raises(KMeansError, match="k=4 exceeds the 3 distinct points"):
        kmeans(x, 4)
    fit = kmeans(x, 3)
    assert sorted(np.bincount(fit.labels).tolist()) == [5, 5, 5]


def test_an_emptied_cluster_takes_the_farthest_point() -> None:
    x, _ = make_blobs(n_samples=3000, centers=3, n_features=2, random_state=0)
    data = km._Data.of(x - x.mean(axis=0))
    # The third seed sits where no point is nearest to it: its cluster starts empty.
    seeds = np.array([data.x[0], data.x[1], [1e6, 1e6]])
    for iterate in (km.lloyd, km.lloyd_small):
        result = iterate(data, seeds.copy(), 100, 0.0, silent())
        assert (np.bincount(result.labels, minlength=3) > 0).all()


@pytest.mark.parametrize("k", [3, 8])
def test_bounded_iterations_equal_plain_ones(k: int) -> None:
    x, _ = make_blobs(n_samples=5000, centers=6, n_features=4, cluster_std=2.5, random_state=1)
    data = km._Data.of(x - x.mean(axis=0))
    seeds = km.kmeans_plus_plus(data, k, np.random.default_rng(2))
    bounded = km.lloyd(data, seeds.copy(), 300, 0.0, silent())
    plain = km.lloyd_small(data, seeds.copy(), 300, 0.0, silent())
    assert np.array_equal(bounded.labels, plain.labels)
    assert np.allclose(bounded.centers, plain.centers)
    assert bounded.inertia == pytest.approx(plain.inertia, rel=1e-9)


def test_digits_inertia_within_half_a_percent_of_scikit_learn() -> None:
    x, _ = load_digits(return_X_y=True)
    ours = kmeans(x, 10, restarts=5, seed=0)
    reference = KMeans(10, n_init=5, random_state=0).fit(x)
    assert ours.inertia <= reference.inertia_ * 1.005


def test_new_rows_go_to_their_nearest_centre_even_far_from_the_origin() -> None:
    centers = np.array([[1e9, 1e9], [1e9 + 1.0, 1e9]])
    rows = np.array([[1e9 + 0.2, 1e9], [1e9 + 0.9, 1e9 + 0.1], [1e9 - 5.0, 1e9]])
    assert nearest_centre(rows, centers).tolist() == [0, 1, 0]


def test_a_fit_reports_and_stops_when_the_report_raises() -> None:
    x, _ = make_blobs(n_samples=3000, centers=5, random_state=0)

    class Stop(Exception):
        pass

    def stop(fraction: float) -> None:
        raise Stop()

    with pytest.raises(Stop):
        kmeans(x, 5, progress=stop, report_every=0)
