"""YAML configuration files: parsed, validated, and every error pointed at its line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from domain.program import ConfigDoc, error_location


class ConfigError(ValueError):
    """A configuration file that cannot be applied; the message names file, line and field."""


def _line_for(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """1-based line of the deepest node that `loc` reaches."""
    line = node.start_mark.line + 1 if node else 1
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
            if match is None:
                # An unknown key: point at the key itself.
                key_node = next(
                    (k for k, _ in node.value if getattr(k, "value", None) == key), None
                )
                return key_node.start_mark.line + 1 if key_node else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
        line = node.start_mark.line + 1
    return line


def parse_config(text: str, source: str = "<config>") -> ConfigDoc:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    try:
        return ConfigDoc.model_validate(data)
    except ValidationError as exc:
        messages = []
        for err in exc.errors():
            loc, msg = error_location(err)
            field = ".".join(str(p) for p in loc) or "(document)"
            messages.append(f"{source}:{_line_for(root, loc)}: {field}: {msg}")
        raise ConfigError("\n".join(messages)) from exc


def load_config_file(path: Path) -> ConfigDoc:
    return parse_config(path.read_text(encoding="utf-8"), str(path))
