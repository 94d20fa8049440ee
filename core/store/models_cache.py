"""Fitted models kept in memory between row predictions, so a model is read from object
storage and checked once, not on every `POST /models/{id}/predict`.

An entry is keyed by the model's id and version: its `created_at`, which a rerun of its
analysis (the only thing that rewrites a model's files) renews. Least recently used entries
go first once the entries' arrays pass the byte bound (`MODEL_CACHE_BYTES`; a model larger
than it is used but not kept, and 0 keeps none). Deleting a model drops its entries; one
deleted by another process is never looked up again here (its document is gone, so the
request stops at 404) and ages out.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from core.objects import ObjectStorage
from core.store.models_saved import SavedModelDoc

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from core.store.models_fitted import FittedModel

Key = tuple[str, str]


def model_bytes(fitted: FittedModel) -> int:
    """The memory an entry holds: its arrays (the rest is a few small lists)."""
    arrays: list[NDArray[Any]] = [fitted.offset, fitted.scale]
    if fitted.centers is not None:
        arrays.append(fitted.centers)
    if fitted.trees is not None:
        arrays.extend(fitted.trees.arrays().values())
    return sum(int(a.nbytes) for a in arrays)


class FittedModelCache:
    def __init__(self, *, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Key, tuple[FittedModel, int]] = OrderedDict()
        self._loading: dict[Key, asyncio.Lock] = {}
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, objects: ObjectStorage, saved: SavedModelDoc) -> FittedModel:
        """The saved model's fitted form, read from `objects` on a miss (NotFound,
        ModelUnreadable)."""
        key = (saved.id, saved.created_at.isoformat())
        # Concurrent misses for one model wait for a single load instead of each reading it.
        lock = self._loading.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                return self._hit(key) or await self._load(key, objects, saved)
        finally:
            if not lock.locked():
                self._loading.pop(key, None)

    def drop(self, model_id: str) -> None:
        """Forget every version of the model (it was deleted)."""
        for key in [k for k in self._entries if k[0] == model_id]:
            self._evict(key)

    def _hit(self, key: Key) -> FittedModel | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    async def _load(self, key: Key, objects: ObjectStorage, saved: SavedModelDoc
                    ) -> FittedModel:
        # NumPy comes with the first model read, not with the server's start-up.
        from core.store.models_fitted import load_fitted

        fitted = await load_fitted(objects, saved)
        size = model_bytes(fitted)
        if size <= self.max_bytes:
            self.drop(saved.id)  # an older version of it
            self._entries[key] = (fitted, size)
            self.bytes += size
            while self.bytes > self.max_bytes:
                self._evict(next(iter(self._entries)))
        return fitted

    def _evict(self, key: Key) -> None:
        _, size = self._entries.pop(key)
        self.bytes -= size
