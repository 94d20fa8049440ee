"""A message made on the per-message path stores and sends what the validated model holds."""

from __future__ import annotations

from datetime import UTC, datetime

from core.store.messages import MeetingMessage, NewMessage

FIELDS = {"meeting_id": "m" * 32, "project_id": "p" * 32, "user_id": "u" * 32,
          "user_name": "Ada \"A\" Lovelace", "text": "héllo", "client_id": "c-1"}


def _read_back(message: NewMessage) -> MeetingMessage:
    """What the repository's reads make of its stored document."""
    doc = message.document()
    doc["id"] = doc.pop("_id")
    return MeetingMessage.model_validate(doc)


def test_the_stored_document_validates_as_the_same_message() -> None:
    message = NewMessage(**FIELDS)
    message.offset = 41
    stored = _read_back(message)
    assert stored.model_dump() == {**FIELDS, "id": message.id, "offset": 41,
                                   "created_at": message.created_at}
    assert len(message.id) == 32 and NewMessage(**FIELDS).id != message.id
    assert message.created_at.tzinfo is UTC and message.created_at.microsecond % 1000 == 0
    assert _read_back(NewMessage(**{**FIELDS, "client_id": None})).client_id is None


def test_wire_is_the_json_dump_without_project_and_offset() -> None:
    for micro in (0, 5000, 639000):
        message = NewMessage(**FIELDS)
        message.created_at = datetime(2026, 12, 1, 8, 24, 14, micro, tzinfo=UTC)
        assert message.wire() == _read_back(message).model_dump(
            mode="json", exclude={"offset", "project_id"})
