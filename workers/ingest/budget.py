"""One ingestion's bounds, checked from inside the thread that reads the file.

A reader calls `spend` for every row it produces, with the cells the row costs (padding
included), so no file, however it is shaped, makes a read outlast its budget of cells or
seconds; and a cancel, which the job's event loop learns of, stops the read at the next row
rather than at the next chunk.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from workers.errors import BadFile, JobCancelled, JobFailed


@dataclass
class ReadBudget:
    max_cells: int
    max_seconds: float
    cells: int = 0
    started: float = field(default_factory=time.monotonic)
    _halted: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def unbounded(cls) -> ReadBudget:
        return cls(max_cells=1 << 62, max_seconds=float("inf"))

    def halt(self) -> None:
        """Stop the read at its next row (the job was cancelled, or is stopping)."""
        self._halted.set()

    @property
    def halted(self) -> bool:
        return self._halted.is_set()

    def spend(self, cells: int) -> None:
        """Count `cells` more; raise when the read must stop here."""
        self.cells += cells
        if self._halted.is_set():
            raise JobCancelled()
        if self.cells > self.max_cells:
            raise BadFile("too_many_cells", f"the file holds more than {self.max_cells} cells "
                          "(empty cells padded inside a row count)")
        if time.monotonic() - self.started > self.max_seconds:
            raise JobFailed("ingest_timeout", f"reading the file took more than "
                            f"{self.max_seconds:g} seconds")
