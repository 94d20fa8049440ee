"""A meeting message made for the per-message path is the same as one pydantic validates."""

from __future__ import annotations

from datetime import UTC, datetime

from core.store.messages import MeetingMessage

FIELDS = {"meeting_id": "m" * 32, "project_id": "p" * 32, "user_id": "u" * 32,
          "user_name": "Ada \"A\" Lovelace", "text": "héllo", "client_id": "c-1"}


def test_compose_makes_what_validation_makes() -> None:
    composed = MeetingMessage.compose(**FIELDS)
    validated = MeetingMessage.model_validate(composed.model_dump())
    assert validated == composed
    assert composed.offset == 0 and len(composed.id) == 32
    assert composed.created_at.tzinfo is UTC and composed.created_at.microsecond % 1000 == 0
    assert MeetingMessage.compose(**{**FIELDS, "client_id": None}).client_id is None


def test_wire_is_the_json_dump_without_project_and_offset() -> None:
    for micro in (0, 5000, 639000):
        message = MeetingMessage(**FIELDS, created_at=datetime(2026, 12, 1, 8, 24, 14, micro,
                                                               tzinfo=UTC))
        assert message.wire() == message.model_dump(mode="json",
                                                    exclude={"offset", "project_id"})
