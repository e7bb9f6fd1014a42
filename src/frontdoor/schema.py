"""The JSON Schema of a contract document, for editors' YAML language servers and CI."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from frontdoor.contract.models import Edge, Environment, Service, Team

AnyDocument = Annotated[Team | Service | Edge | Environment, Field(discriminator="kind")]


def contract_schema() -> dict[str, Any]:
    schema = TypeAdapter(AnyDocument).json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://frontdoor.invalid/schema/frontdoor-v1.json",
        "title": "frontdoor contract document (apiVersion frontdoor/v1)",
        **schema,
    }
