"""Request bodies that refuse `null`, and partial updates (PATCH) built on them."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError


def without_refused_nulls(schema: dict[str, Any], cls: type[Any]) -> None:
    """Keep the schema true: a field that refuses null is described without the null branch
    (and without a default, since leaving it out is not the same as sending null)."""
    for name, prop in schema.get("properties", {}).items():
        if name in cls.nullable or "anyOf" not in prop:
            continue
        branches = [b for b in prop["anyOf"] if b.get("type") != "null"]
        if len(branches) == 1:
            del prop["anyOf"]
            prop.update(branches[0])
        prop.pop("default", None)


class NoNulls(BaseModel):
    """A body whose optional fields may be left out but not sent as null, except `nullable`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=without_refused_nulls)
    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_null(cls, value: Any, info: ValidationInfo) -> Any:
        # Per field, so the 422 names each one (`["body", "role"]`).
        if value is None and info.field_name not in cls.nullable:
            raise PydanticCustomError("null_refused", "this field cannot be null")
        return value


class Patch(NoNulls):
    """A partial update: absent fields stay as they are; null is refused where not allowed."""

    def changes(self) -> dict[str, Any]:
        return self.model_dump(mode="python", exclude_unset=True)
