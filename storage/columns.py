"""Column types of our own: a `StrEnum` stored as its text, read back as the enum."""

from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

E = TypeVar("E", bound=StrEnum)


class EnumText(TypeDecorator[E]):
    """A `StrEnum` in a VARCHAR: the schema stays plain text (no database enum type to
    migrate when a member is added), and a row reads back as the enum member. A value that is
    not a member is refused when written."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        """The member's text; a plain string must name a member."""
        if value is None:
            return None
        return self.enum(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> E | None:
        """The member a stored text names."""
        return None if value is None else self.enum(value)
