"""Limits every reader enforces, so one hostile file cannot exhaust a worker."""

from __future__ import annotations

MAX_CELL_CHARS = 65_536
BLOCK_BYTES = 1 << 20  # pyarrow CSV block: also the largest row it accepts
MAX_COLUMNS = 2_000
XLSX_MAX_UNCOMPRESSED = 512 * 1024 * 1024
XLSX_MAX_RATIO = 200
XLSX_RATIO_FROM = 16 * 1024 * 1024
CHUNK_ROWS = 50_000
MAX_SHEET_ROWS = 1_048_576  # the most rows a worksheet can have (Excel's limit)
