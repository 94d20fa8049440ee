"""Shared domain vocabulary: roles and pages. Each store module defines its own documents."""

from __future__ import annotations

from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")

MAX_PAGE_SIZE = 200


class Role(StrEnum):
    """A user's global role."""

    MEMBER = "member"
    HEAD = "head"
    ADMIN = "admin"


class ProjectRole(StrEnum):
    """A user's role inside one project; a head manages its members and meetings."""

    MEMBER = "member"
    HEAD = "head"


class PageParams(BaseModel):
    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)
    # Bounded so a hostile offset can't overflow MongoDB's 64-bit skip.
    offset: int = Field(default=0, ge=0, le=1_000_000)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
