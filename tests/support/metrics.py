"""Reading Prometheus' text format in tests: families and samples by name and labels."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.services import wait_until

SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count"),
            "summary": ("_sum", "_count")}


class Scrape:
    """One scrape of a `/metrics` page."""

    def __init__(self, text: str) -> None:
        self.families = {family.name: family for family in text_string_to_metric_families(text)}

    @classmethod
    def of(cls, url: str) -> Scrape:
        response = httpx.get(url, timeout=5)
        response.raise_for_status()
        return cls(response.text)

    def names(self) -> set[str]:
        """Every name a query may use: each family's, and its samples' (`x_total`,
        `x_bucket`, ...), also for a labelled family with no series yet."""
        found = set(self.families)
        for family in self.families.values():
            found.update(f"{family.name}{suffix}" for suffix in SUFFIXES.get(family.type, ()))
            found.update(sample.name for sample in family.samples)
        return found

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called `name` whose labels include `labels` (0 if none)."""
        total = 0.0
        for family in self.families.values():
            for sample in family.samples:
                if sample.name == name and labels.items() <= sample.labels.items():
                    total += sample.value
        return total


def wait_for_scrape(url: str, check: Callable[[Scrape], bool], *, timeout: float = 30,
                    what: str = "") -> Scrape:
    """Scrape until one scrape satisfies `check` (bounded); return that scrape."""
    found: list[Scrape] = []

    def ready() -> bool:
        scrape = Scrape.of(url)
        if check(scrape):
            found.append(scrape)
            return True
        return False

    wait_until(ready, timeout=timeout, what=f"{what or 'a scrape'} on {url}")
    return found[0]


def wait_for_value(url: str, name: str, check: Callable[[float], bool], *,
                   timeout: float = 30, **labels: str) -> Scrape:
    """Scrape until the sample satisfies `check` (bounded); return that scrape."""
    return wait_for_scrape(url, lambda scrape: check(scrape.value(name, **labels)),
                           timeout=timeout, what=f"{name}{labels}")
