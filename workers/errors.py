"""Why a job stops: a bad input (final), a transient failure (retried), or a cancellation."""

from __future__ import annotations

from core.errors import RoomcastError


class JobFailed(RoomcastError):
    """A final failure with a wire-visible code: retrying would fail the same way."""

    code = "job_failed"
    http_status = 422

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class BadFile(JobFailed):
    """The uploaded file cannot be read as the format it claims."""


class BadParameters(JobFailed):
    """The analysis parameters do not fit the dataset."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_parameters", message)


class TransientJobError(RoomcastError):
    """A service hiccup (storage, database); the job is retried with backoff."""

    code = "transient"
    http_status = 503


class JobCancelled(RoomcastError):
    code = "cancelled"
    http_status = 409
    default_message = "the job was cancelled"


class LeaseLost(RoomcastError):
    """Another worker took the job over (this one was presumed dead); stop without a trace."""

    code = "lease_lost"
