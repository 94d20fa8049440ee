"""Domain errors. Each edge (REST, socket, worker) translates them once."""

from __future__ import annotations

from typing import Any


class RoomcastError(Exception):
    """Base of every error Roomcast raises on purpose; `code` is part of the wire contract."""

    code = "internal"
    http_status = 500
    default_message = "internal error"

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)


class ConfigError(RoomcastError):
    code = "config_error"
    default_message = "invalid configuration"


class BadRequest(RoomcastError):
    code = "bad_request"
    http_status = 400
    default_message = "bad request"


class ValidationFailed(RoomcastError):
    code = "validation_error"
    http_status = 422
    default_message = "the request is not valid"


class Unauthorized(RoomcastError):
    code = "unauthorized"
    http_status = 401
    default_message = "authentication required"


class TokenExpired(Unauthorized):
    code = "token_expired"
    default_message = "the token has expired"


class Forbidden(RoomcastError):
    code = "forbidden"
    http_status = 403
    default_message = "not allowed"


class NotFound(RoomcastError):
    code = "not_found"
    http_status = 404
    default_message = "not found"


class NotAMember(NotFound):
    """Answered exactly like a missing resource, so membership does not leak existence."""


class Conflict(RoomcastError):
    code = "conflict"
    http_status = 409
    default_message = "conflict"


class PayloadTooLarge(RoomcastError):
    code = "payload_too_large"
    http_status = 413
    default_message = "payload too large"


class QuotaExceeded(PayloadTooLarge):
    """The project's storage quota would be passed; nothing was stored."""

    code = "quota_exceeded"
    default_message = "the project's storage quota is used up"


class EmptyFile(RoomcastError):
    code = "empty_file"
    http_status = 422
    default_message = "the file is empty"


class InvalidName(RoomcastError):
    """A file name that is empty, or nothing but dots, once control characters and path parts
    are removed."""

    code = "invalid_name"
    http_status = 422
    default_message = "the file name is not usable"


class UnsupportedMediaType(RoomcastError):
    code = "unsupported_media_type"
    http_status = 415
    default_message = "unsupported media type"


class RateLimited(RoomcastError):
    code = "rate_limited"
    http_status = 429
    default_message = "too many requests"

    def __init__(self, message: str | None = None, *, retry_after: float, details: Any = None):
        super().__init__(message, details=details)
        self.retry_after = retry_after


class ServiceUnavailable(RoomcastError):
    code = "service_unavailable"
    http_status = 503
    default_message = "a service Roomcast needs is unavailable"


# The document store's errors: core/store raises these and nothing else (core/store/errors.py
# translates PyMongo's), so no other package needs to know the driver's exceptions.


class StoreUnavailable(RoomcastError):
    """The document store cannot be reached or cannot answer in time (no primary, a dropped
    connection, a timeout): worth another attempt later."""

    code = "store_unavailable"
    http_status = 503
    default_message = "the document store cannot be reached"


class StoreNotWritable(StoreUnavailable, ServiceUnavailable):
    """The embedded store cannot make writes durable (its disk failed or is full, or it is
    closing); answered as `service_unavailable`, as it always has been."""

    code = "service_unavailable"
    default_message = "the embedded store cannot write to its disk"


class StoreFailed(RoomcastError):
    """The document store refused an operation for a reason a retry repeats (a bad query,
    a document too large, a failed validation): a bug or bad data, answered as internal.
    `message` (what any edge answers) stays `internal error`; `reason`, the store's own words
    (a key, a query), is what `str()` gives, for the log."""

    code = "internal"
    http_status = 500
    default_message = "internal error"

    def __init__(self, reason: str | None = None) -> None:
        super().__init__()
        self.reason = reason or self.message
        self.args = (self.reason,)


class DuplicateKey(StoreFailed):
    """A write that a unique index refused. The repositories catch it where a duplicate has a
    meaning (an email taken, a write repeated); one that escapes them is a bug."""


class PartialWrite(StoreFailed):
    """An unordered insert of several documents in which some were refused: `failed` maps the
    position of each refused document to its error; the others were written."""

    def __init__(self, failed: dict[int, StoreFailed]) -> None:
        super().__init__(f"{len(failed)} of the documents were not written")
        self.failed = failed


class InvalidState(Conflict):
    """The resource's state does not allow this (a cancelled meeting cannot start)."""

    code = "invalid_state"
    default_message = "not allowed in the current state"


class AlreadyMember(Conflict):
    code = "already_member"
    default_message = "already a member of the project"


class AlreadyInvited(Conflict):
    code = "already_invited"
    default_message = "a pending invitation for this address exists"


class RegistrationClosed(Forbidden):
    code = "registration_closed"
    default_message = "sign-up is closed on this server"


class WrongAccount(Forbidden):
    code = "wrong_account"
    default_message = "this link was sent to another address"


class InvalidLink(RoomcastError):
    """A reset, verification or invitation token that no link ever carried."""

    code = "invalid_link"
    http_status = 400
    default_message = "the link is not valid"


class LinkExpired(RoomcastError):
    code = "link_expired"
    http_status = 410
    default_message = "the link has expired"


class LinkUsed(RoomcastError):
    code = "link_used"
    http_status = 410
    default_message = "the link was used already"


class LinkRevoked(RoomcastError):
    code = "link_revoked"
    http_status = 410
    default_message = "the link was revoked"


class DataDirInUse(ConfigError):
    """Another live process owns the embedded store's data directory."""

    code = "data_dir_in_use"
    default_message = "the data directory is in use by another Roomcast process"


class StoreDamaged(ConfigError):
    """A file of the embedded store cannot be read back: start-up stops rather than serve an
    incomplete store."""

    code = "store_damaged"
    default_message = "a file of the embedded store is damaged"
