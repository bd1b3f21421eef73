"""A program's sections as HTML form fields and back: every field is named by its path in
`ProgramIn` ("sla.open_within", "calendar.week.0.open"), so a pydantic error lands at the input
it is about. Text stays text: the schema, not this parser, decides what is valid."""

from __future__ import annotations

import json
from typing import Any

from domain.vocabulary import PauseMetric, Priority

DAYS = 7
DEFAULT_WEEK = [{"open": "09:00", "close": "17:00"}] * 5 + [{"open": None, "close": None}] * 2
JSON_LISTS = ("questions", "alert_rules", "routing_rules")

# The fields of each section (the names of their inputs); errors elsewhere show at the form.
SECTIONS: dict[str, tuple[str, ...]] = {
    "general": (
        "name",
        "ownership_model",
        "default_owner",
        "team_assignment",
        "central_team",
        "retention_months",
    ),
    "sla": (
        "sla.open_within",
        "sla.resolve_within",
        "sla.warn_before",
        "sla.max_pause",
        "sla.pause_metrics",
        *(f"sla.priority_factors.{p}" for p in Priority),
        "sla.priority_factors",
        "calendar.timezone",
        "calendar.always_open",
        "calendar.week",
        *(f"calendar.week.{d}.{end}" for d in range(DAYS) for end in ("open", "close")),
        "calendar.holiday_country",
        "calendar.holiday_subdivision",
        "calendar.extra_holidays",
    ),
    "escalation": (
        "escalation.max_level",
        "escalation.program_designee_id",
        "escalation.reassign_resolve_within",
    ),
    "taxonomy": (
        "root_causes",
        "root_causes_required",
        "resolution_methods",
        "resolution_methods_required",
        "categories",
    ),
    "rules": JSON_LISTS,
}
CHECKBOXES = ("calendar.always_open", "root_causes_required", "resolution_methods_required")


def field_id(name: str) -> str:
    return "f-" + name.replace(".", "-").replace("_", "-")


def where(path: str, section: str) -> str:
    """The input of `section` an error at `path` belongs to ("" for the form as a whole)."""
    names = SECTIONS[section]
    best = ""
    for name in names:
        if (path == name or path.startswith(name + ".")) and len(name) > len(best):
            best = name
    return best


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _optional(text: str) -> str | None:
    return text.strip() or None


def _number(text: str, kind: type = int) -> Any:
    """A number when it reads as one; else the text, for the schema to refuse by name."""
    text = text.strip()
    if not text:
        return None
    try:
        return kind(text.replace(",", ".")) if kind is float else kind(text)
    except ValueError:
        return text


def values(p: dict[str, Any]) -> dict[str, str]:
    """Every section's inputs filled from a stored program (its JSON, as the API shows it)."""
    sla, cal, esc = p.get("sla") or {}, p.get("calendar") or {}, p.get("escalation") or {}
    v: dict[str, str] = {
        "name": _text(p.get("name")),
        "ownership_model": _text(p.get("ownership_model")),
        "default_owner": _text(p.get("default_owner")),
        "team_assignment": _text(p.get("team_assignment")),
        "central_team": ", ".join(p.get("central_team") or []),
        "retention_months": _text(p.get("retention_months")),
        "sla.open_within": _text(sla.get("open_within")),
        "sla.resolve_within": _text(sla.get("resolve_within")),
        "sla.warn_before": _text(sla.get("warn_before")),
        "sla.max_pause": _text(sla.get("max_pause")),
        "sla.pause_metrics": ",".join(sla.get("pause_metrics") or []),
        "calendar.timezone": _text(cal.get("timezone")),
        "calendar.always_open": "on" if cal.get("always_open") else "",
        "calendar.holiday_country": _text(cal.get("holiday_country")),
        "calendar.holiday_subdivision": _text(cal.get("holiday_subdivision")),
        "calendar.extra_holidays": "\n".join(str(d) for d in cal.get("extra_holidays") or []),
        "escalation.max_level": _text(esc.get("max_level")),
        "escalation.program_designee_id": _text(esc.get("program_designee_id")),
        "escalation.reassign_resolve_within": _text(esc.get("reassign_resolve_within")),
        "root_causes": "\n".join(p.get("root_causes") or []),
        "resolution_methods": "\n".join(p.get("resolution_methods") or []),
        "root_causes_required": "on" if p.get("root_causes_required", True) else "",
        "resolution_methods_required": "on" if p.get("resolution_methods_required") else "",
        "categories": "\n".join(
            c["name"] + (": " + ", ".join(c["subcategories"]) if c.get("subcategories") else "")
            for c in p.get("categories") or []
        ),
    }
    factors = sla.get("priority_factors") or {}
    for pr in Priority:
        v[f"sla.priority_factors.{pr}"] = _text(factors.get(pr.value))
    for d, day in enumerate(cal.get("week") or DEFAULT_WEEK):
        v[f"calendar.week.{d}.open"] = _text(day.get("open"))
        v[f"calendar.week.{d}.close"] = _text(day.get("close"))
    for name in JSON_LISTS:
        v[name] = json.dumps(p.get(name) or [], indent=2, ensure_ascii=False)
    for names in SECTIONS.values():  # the names errors anchor to ("calendar.week"): no input
        for name in names:
            v.setdefault(name, "")
    return v


def submitted(form: Any, section: str) -> dict[str, str]:
    """The section's inputs as sent (unchecked boxes are absent from a form: "")."""
    v = {name: str(form.get(name) or "") for name in SECTIONS[section]}
    if section == "sla":
        v["sla.pause_metrics"] = ",".join(str(m) for m in form.getlist("sla.pause_metrics"))
    return v


def sla_and_calendar(v: dict[str, str], stored_week: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    factors = {}
    for pr in Priority:
        value = _number(v[f"sla.priority_factors.{pr}"], float)
        if value is not None:
            factors[pr.value] = value
    sla = {
        "open_within": v["sla.open_within"].strip(),
        "resolve_within": v["sla.resolve_within"].strip(),
        "warn_before": _optional(v["sla.warn_before"]),
        "max_pause": _optional(v["sla.max_pause"]),
        "pause_metrics": [m for m in v["sla.pause_metrics"].split(",") if m],
        "priority_factors": factors,
    }
    week: list[dict[str, Any]] | None = [
        {
            "open": _optional(v[f"calendar.week.{d}.open"]),
            "close": _optional(v[f"calendar.week.{d}.close"]),
        }
        for d in range(DAYS)
    ]
    if stored_week is None and week == DEFAULT_WEEK:
        week = None  # the default week, as it was: no change to record
    calendar = {
        "timezone": _optional(v["calendar.timezone"]),
        "always_open": v["calendar.always_open"] == "on",
        "week": week,
        "holiday_country": _optional(v["calendar.holiday_country"]),
        "holiday_subdivision": _optional(v["calendar.holiday_subdivision"]),
        "extra_holidays": _lines(v["calendar.extra_holidays"]),
    }
    return sla, calendar


class Unreadable(ValueError):
    """A JSON text area that is no JSON: (field, message)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def changes(section: str, v: dict[str, str], stored: dict[str, Any]) -> dict[str, Any]:
    """The program's top-level fields as the section's inputs set them."""
    if section == "general":
        return {
            "name": v["name"].strip(),
            "ownership_model": v["ownership_model"],
            "default_owner": _optional(v["default_owner"]),
            "team_assignment": v["team_assignment"],
            "central_team": [t.strip() for t in v["central_team"].split(",") if t.strip()],
            "retention_months": _number(v["retention_months"]),
        }
    if section == "sla":
        sla, calendar = sla_and_calendar(v, (stored.get("calendar") or {}).get("week"))
        return {"sla": sla, "calendar": calendar}
    if section == "escalation":
        return {
            "escalation": {
                "max_level": _number(v["escalation.max_level"]),
                "program_designee_id": _optional(v["escalation.program_designee_id"]),
                "reassign_resolve_within": _optional(v["escalation.reassign_resolve_within"]),
            }
        }
    if section == "taxonomy":
        categories = []
        for line in _lines(v["categories"]):
            name, _, subs = line.partition(":")
            sub = [s.strip() for s in subs.split(",") if s.strip()]
            categories.append({"name": name.strip(), "subcategories": sub})
        return {
            "root_causes": _lines(v["root_causes"]),
            "resolution_methods": _lines(v["resolution_methods"]),
            "root_causes_required": v["root_causes_required"] == "on",
            "resolution_methods_required": v["resolution_methods_required"] == "on",
            "categories": categories,
        }
    out = {}
    for name in JSON_LISTS:
        try:
            out[name] = json.loads(v[name] or "[]")
        except json.JSONDecodeError as exc:
            raise Unreadable(name, f"not JSON: {exc.msg} (line {exc.lineno})") from exc
    return out


PAUSE_METRICS = tuple(PauseMetric)
