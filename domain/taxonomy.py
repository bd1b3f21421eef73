"""A program's taxonomy: the categories (with sub-categories) a case is filed under, and whether
root causes and resolution methods must be given at close.

A program without categories takes any category text (as before taxonomies existed); one with
categories takes only those, matched without regard to case and spelled as the program spells
them, so reports group one category under one name.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.fields import StorableStr


class CategoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: StorableStr = Field(min_length=1, max_length=200)
    subcategories: list[StorableStr] = Field(default_factory=list, max_length=100)

    @field_validator("subcategories")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        seen: set[str] = set()
        for i, name in enumerate(v):
            key = name.strip().casefold()
            if not key:
                raise ValueError(f"sub-category {i} is empty")
            if key in seen:
                raise ValueError(f"sub-category {name!r} appears twice")
            seen.add(key)
        return v


class CategoryRejected(ValueError):
    """A category or sub-category the program does not have; `field` names which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _match(given: str, names: list[str]) -> str | None:
    key = given.strip().casefold()
    return next((n for n in names if n.strip().casefold() == key), None)


def file_under(
    categories: list[CategoryIn], category: str, subcategory: str = ""
) -> tuple[str, str]:
    """The (category, sub-category) a case is filed under, spelled as the program spells them.

    Raises `CategoryRejected` for a category or sub-category the program does not have; a
    program without categories takes any text, and no sub-category.
    """
    if not categories:
        if subcategory.strip():
            raise CategoryRejected("subcategory", "this program has no sub-categories")
        return category.strip(), ""
    known = [c.name for c in categories]
    name = _match(category, known)
    if name is None:
        raise CategoryRejected(
            "category", f"choose one of the program's categories: {', '.join(known)}"
        )
    subs = next(c.subcategories for c in categories if c.name == name)
    if not subcategory.strip():
        return name, ""
    sub = _match(subcategory, subs)
    if sub is None:
        choices = ", ".join(subs) if subs else "none"
        raise CategoryRejected(
            "subcategory", f"{name} has no sub-category {subcategory.strip()!r} (it has: {choices})"
        )
    return name, sub
