"""The herd's reconnection delays follow the official socket.io-client's defaults."""

from __future__ import annotations

import itertools
import random

from load.scenarios.reconnect import ClientBackoff


def test_client_backoff_matches_the_official_defaults() -> None:
    random.seed(7)
    runs = [list(itertools.islice(ClientBackoff().delays(0.0), 5)) for _ in range(500)]
    # backo2 with min 1 s, factor 2, jitter 0.5, max 5 s: 1 s, 2 s, 4 s +-50%, capped at 5 s.
    for attempt, (low, high) in enumerate([(0.5, 1.5), (1.0, 3.0), (2.0, 5.0), (4.0, 5.0),
                                           (5.0, 5.0)]):
        delays = [run[attempt] for run in runs]
        assert low <= min(delays) and max(delays) <= high, (attempt, min(delays), max(delays))
    first = [run[0] for run in runs]
    assert min(first) < 0.7 and max(first) > 1.3  # spread over the whole range, both ways


def test_client_backoff_waits_after_before_its_first_delay() -> None:
    random.seed(3)
    plain = list(itertools.islice(ClientBackoff().delays(0.0), 3))
    random.seed(3)
    later = list(itertools.islice(ClientBackoff().delays(2.0), 3))
    assert later == [plain[0] + 2.0, *plain[1:]]
