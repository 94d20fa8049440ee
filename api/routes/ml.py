"""REST route: the analysis algorithms and their parameters, as JSON Schema for forms."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from api.routing import Call, NoModel, Router
from core.store.jobs import ALGORITHMS, AlgorithmSpec, AnalysisParams, Task

router = Router(tags=["ml"])


class AlgorithmOut(BaseModel):
    name: str
    title: str
    task: Task
    description: str
    needs_target: bool
    target_types: list[str]  # the column types a target may have
    parameters: dict[str, Any]  # JSON Schema of the analysis body for this algorithm


class AlgorithmList(BaseModel):
    algorithms: list[AlgorithmOut]


TARGET_TYPES: dict[Task, list[str]] = {
    "clustering": [], "classification": ["categorical"], "regression": ["integer", "float"],
}


def parameter_schema(name: str, spec: AlgorithmSpec) -> dict[str, Any]:
    """The JSON Schema of `POST /datasets/{id}/analyses` for this algorithm: its own
    parameters only, with their defaults, bounds and descriptions."""
    full = AnalysisParams.model_json_schema()
    properties: dict[str, Any] = {"algorithm": {"const": name, "type": "string",
                                                "description": "the algorithm"}}
    for field in spec.parameters:
        schema = dict(full["properties"][field])
        schema.pop("title", None)
        if field == "criterion":
            schema = {"type": "string", "enum": list(spec.criteria),
                      "default": spec.criteria[0], "description": schema.get("description")}
        properties[field] = schema
    required = ["algorithm"] + (["target"] if spec.task != "clustering" else [])
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "title": spec.title, "properties": properties, "required": required,
            "additionalProperties": False}


@router.get("/ml/algorithms", response=AlgorithmList)
async def list_algorithms(call: Call[NoModel, NoModel]) -> AlgorithmList:
    """Every analysis algorithm with the JSON Schema of its parameters."""
    return AlgorithmList(algorithms=[
        AlgorithmOut(name=name, title=spec.title, task=spec.task,
                     description=spec.description, needs_target=spec.task != "clustering",
                     target_types=TARGET_TYPES[spec.task],
                     parameters=parameter_schema(name, spec))
        for name, spec in ALGORITHMS.items()])
