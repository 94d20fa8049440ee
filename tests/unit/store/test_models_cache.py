"""The fitted-model cache: read once per model version, least recently used out past the byte
bound, nothing kept with a bound of 0, and a deleted model forgotten."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from core.errors import NotFound
from core.objects_local import LocalObjectStorage
from core.store.models_cache import FittedModelCache, model_bytes
from core.store.models_fitted import FittedModel
from core.store.models_saved import SavedModelDoc
from tests.integration.workers.objects import CountingObjects


async def _saved(objects: LocalObjectStorage, model_id: str, k: int = 3) -> SavedModelDoc:
    centers = np.arange(k * 2, dtype=np.float64).reshape(k, 2)
    fitted = FittedModel("clustering", ["x", "y"], np.zeros(2), np.ones(2), centers=centers)
    saved = SavedModelDoc(id=model_id, project_id="p", job_id=model_id, dataset_id="d",
                          algorithm="kmeans", task="clustering", features=["x", "y"], rows=9,
                          created_by="u")
    arrays, meta = fitted.to_files({})
    await objects.put_bytes(saved.arrays_key, arrays, content_type="application/zip")
    await objects.put_bytes(saved.meta_key, meta, content_type="application/json")
    return saved


@pytest.fixture
def local(tmp_path: Path) -> LocalObjectStorage:
    return LocalObjectStorage(tmp_path)


@pytest.fixture
def objects(local: LocalObjectStorage) -> CountingObjects:
    """What the cache reads through: counts each object read."""
    return CountingObjects(local)


async def test_a_model_is_read_once_per_version(
    objects: CountingObjects, local: LocalObjectStorage
) -> None:
    cache = FittedModelCache(max_bytes=1 << 20)
    saved = await _saved(local, "m1")
    first = await cache.get(objects, saved)
    again = await cache.get(objects, saved)
    assert again is first and objects.gets[saved.arrays_key] == 1
    assert cache.bytes == model_bytes(first) and len(cache) == 1
    # A rerun of the analysis replaces the model: a new version, read again, the old one gone.
    rerun = saved.model_copy(update={"created_at": saved.created_at + timedelta(seconds=1)})
    assert await cache.get(objects, rerun) is not first
    assert objects.gets[saved.arrays_key] == 2 and len(cache) == 1


async def test_least_recently_used_goes_first_past_the_bound(
    objects: CountingObjects, local: LocalObjectStorage
) -> None:
    one, two, three = [await _saved(local, f"m{i}") for i in range(3)]
    size = model_bytes(await FittedModelCache(max_bytes=0).get(objects, one))
    cache = FittedModelCache(max_bytes=2 * size)
    for saved in (one, two, one, three):  # `two` is the least recently used when `three` comes
        await cache.get(objects, saved)
    assert cache.bytes == 2 * size
    await cache.get(objects, one)
    await cache.get(objects, two)
    assert [objects.gets[s.arrays_key] for s in (one, two, three)] == [2, 2, 1]


async def test_a_bound_of_zero_keeps_nothing(
    objects: CountingObjects, local: LocalObjectStorage
) -> None:
    saved = await _saved(local, "m1")
    cache = FittedModelCache(max_bytes=0)
    for _ in range(3):
        await cache.get(objects, saved)
    assert objects.gets[saved.arrays_key] == 3 and (len(cache), cache.bytes) == (0, 0)


async def test_a_dropped_model_is_read_again_and_a_missing_one_is_not_found(
    objects: CountingObjects, local: LocalObjectStorage,
) -> None:
    saved = await _saved(local, "m1")
    cache = FittedModelCache(max_bytes=1 << 20)
    await cache.get(objects, saved)
    cache.drop(saved.id)
    assert (len(cache), cache.bytes) == (0, 0)
    await local.delete(saved.arrays_key)
    with pytest.raises(NotFound):
        await cache.get(objects, saved)
    assert objects.gets[saved.arrays_key] == 1


async def test_concurrent_misses_read_the_model_once(
    objects: CountingObjects, local: LocalObjectStorage
) -> None:
    saved = await _saved(local, "m1")
    cache = FittedModelCache(max_bytes=1 << 20)
    got = await asyncio.gather(*(cache.get(objects, saved) for _ in range(5)))
    assert all(g is got[0] for g in got) and objects.gets[saved.arrays_key] == 1
