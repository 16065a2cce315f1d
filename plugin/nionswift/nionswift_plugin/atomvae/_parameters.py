"""Typed computation parameters: what the menu creates as computation variables
(shown, with their labels and ranges, in Nion Swift's computation panel) and how a
handler reads them back."""

from __future__ import annotations

import dataclasses
import typing

from nion.swift.model import Symbolic

_TYPES = {bool: "boolean", int: "integral", float: "real", str: "string"}


@dataclasses.dataclass(frozen=True)
class Parameter:
    name: str
    label: str
    default: typing.Any
    minimum: typing.Any = None
    maximum: typing.Any = None

    @property
    def value_type(self) -> str:
        return _TYPES[type(self.default)]

    def value_of(self, arguments: typing.Mapping[str, typing.Any]) -> typing.Any:
        """The value a computation run got (the default if missing), as the parameter's type."""
        value = arguments.get(self.name)
        if value is None:
            return self.default
        try:
            return type(self.default)(value)
        except (TypeError, ValueError):
            raise ValueError(f"{self.label}: {value!r} is not a {self.value_type} value") from None

    def create_variable(self, computation: Symbolic.Computation, value: typing.Any = None) -> None:
        computation.create_variable(
            self.name,
            value_type=self.value_type,
            value=self.default if value is None else value,
            value_default=self.default,
            value_min=self.minimum,
            value_max=self.maximum,
            label=self.label,
        )
