"""Recurring meetings: an RFC 5545 RRULE expanded into the start times of its occurrences.

python-dateutil reads and expands the rule, in the series' own timezone so that a weekly
09:00 meeting stays at 09:00 across daylight-saving changes. A rule whose filters can never
match (`FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30`) makes dateutil scan every period up to the year
9999 before it gives up (seconds of CPU), so an expansion runs in a thread, one at a time per
process, and a rule that has not produced its occurrences within EXPANSION_SECONDS is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, rrulestr

from core.errors import ServiceUnavailable

# Meetings recur by the day at most often: no HOURLY, MINUTELY or SECONDLY series.
FREQUENCIES = {DAILY, WEEKLY, MONTHLY, YEARLY}
EXPANSION_SECONDS = 1.0
MAX_RULE_LENGTH = 500
_one_at_a_time = threading.Lock()


class RecurrenceError(ValueError):
    """The rule cannot make a series; the message says why, for the person who wrote it."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RecurrenceError(f"unknown timezone {name!r} (an IANA name such as "
                              "'Europe/Paris')") from exc


def parse(rule: str, start: datetime, timezone: str) -> rrule:
    """The rule anchored at `start` (aware) in `timezone`; RecurrenceError if it is not one."""
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text or len(text) > MAX_RULE_LENGTH or "\n" in text or "DTSTART" in text.upper():
        raise RecurrenceError("give one RRULE value (FREQ=...;...), without DTSTART")
    try:
        parsed = rrulestr(text, dtstart=start.astimezone(zone(timezone)))
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise RecurrenceError(f"not a valid RRULE: {exc}") from exc
    if not isinstance(parsed, rrule) or parsed._freq not in FREQUENCIES:
        raise RecurrenceError("FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY")
    return parsed


def _first(parsed: rrule, limit: int, out: list[datetime]) -> None:
    for moment in parsed:
        out.append(moment.astimezone(UTC))
        if len(out) > limit:
            return


async def expand(rule: str, start: datetime, timezone: str, limit: int) -> list[datetime]:
    """The occurrences' start times in UTC, at most `limit`: a rule that makes more (or never
    ends) is refused, so a series is always a bounded set of meetings."""
    parsed = parse(rule, start, timezone)
    found: list[datetime] = []
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    def work() -> None:
        try:
            _first(parsed, limit, found)
        finally:
            _one_at_a_time.release()
            # A runaway rule may finish after its request's loop is gone.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(done.set)

    if not await asyncio.to_thread(_one_at_a_time.acquire, True, EXPANSION_SECONDS):
        raise ServiceUnavailable("another recurrence rule is being expanded; try again")
    # Not awaited past the deadline: a runaway rule finishes on its own (dateutil stops at the
    # year 9999) while holding the lock, so at most one runs per process.
    threading.Thread(target=work, name="roomcast-rrule", daemon=True).start()
    try:
        await asyncio.wait_for(done.wait(), EXPANSION_SECONDS)
    except TimeoutError as exc:
        raise RecurrenceError("the rule finds no occurrences (its filters never match)") from exc
    if not found:
        raise RecurrenceError("the rule makes no occurrence")
    if len(found) > limit:
        raise RecurrenceError(f"the rule makes more than {limit} occurrences: add COUNT or "
                              "UNTIL")
    return [moment.replace(microsecond=moment.microsecond // 1000 * 1000) for moment in found]
