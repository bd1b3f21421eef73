"""The house rules that keep the layout honest (ARCHITECTURE.md): one vocabulary, layers that
point down. Both are checked on the real tree, and the import contracts are shown to fail on a
deliberate upward import."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from enum import StrEnum
from pathlib import Path

import pytest

from core.settings import ROOT
from domain import vocabulary

# The vocabulary's closed lists: a collection spelling two values of one of them is a copy.
ENUMS: list[type[StrEnum]] = [
    vocabulary.CaseStatus,
    vocabulary.ClosingStatus,
    vocabulary.Priority,
    vocabulary.RemeasureStatus,
    vocabulary.Channel,
    vocabulary.FeedbackType,
    vocabulary.ContactMethod,
    vocabulary.ContactOutcome,
    vocabulary.Role,
    vocabulary.Access,
    vocabulary.Relation,
    vocabulary.Scope,
    vocabulary.OwnershipModel,
    vocabulary.RouteTo,
    vocabulary.QuestionType,
    vocabulary.AlertOutcome,
    vocabulary.MessageKind,
    vocabulary.OutboxStatus,
]
KNOWN = [(enum, frozenset(m.value for m in enum)) for enum in ENUMS]
APP_CODE = ["api.py", "worker.py", "models", "core", "activities", "workflows", "services", "web"]
APP_CODE += ["cli", "scripts", "bench"]


def _python_files() -> list[Path]:
    files: list[Path] = []
    for entry in APP_CODE:
        path = ROOT / entry
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return files


def _spelled(strings: list[str]) -> str | None:
    """The enum that `strings` copy: two or more of its values make up the whole collection,
    or three or more make up at least half of it (field names such as "email" and "phone" in a
    longer list of columns are not a copy of the channels)."""
    if len(strings) < 2:
        return None
    best: tuple[int, str] | None = None
    for enum, known in KNOWN:
        hits = len({s for s in strings if s in known})
        copy = hits >= 2 and (hits == len(set(strings)) or (hits >= 3 and 2 * hits >= len(strings)))
        if copy and (best is None or hits > best[0]):
            best = (hits, enum.__name__)
    return best[1] if best else None


def _where(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def vocabulary_copies_in_python(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        items: list[ast.expr] = []
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            items = list(node.elts)
        elif isinstance(node, ast.Dict):
            items = [k for k in node.keys if k is not None]
        strings = [
            i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)
        ]
        enum = _spelled(strings)
        if enum:
            found.append(f"{_where(path)}:{node.lineno} spells {enum}: {strings}")
    return found


QUOTED_LIST = re.compile(r"[(\[]\s*(['\"][\w:]+['\"](?:\s*,\s*['\"][\w:]+['\"])+)\s*,?\s*[)\]]")


def vocabulary_copies_in_template(path: Path) -> list[str]:
    found = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        for match in QUOTED_LIST.finditer(line):
            strings = [s.strip("'\" ") for s in match.group(1).split(",")]
            enum = _spelled(strings)
            if enum:
                found.append(f"{_where(path)}:{n} spells {enum}: {strings}")
    return found


def test_no_module_outside_domain_spells_the_vocabulary() -> None:
    copies = [c for f in _python_files() for c in vocabulary_copies_in_python(f)]
    templates = sorted((ROOT / "web" / "templates").rglob("*.html"))
    templates += sorted((ROOT / "domain" / "mail" / "templates").rglob("*"))
    copies += [c for f in templates if f.is_file() for c in vocabulary_copies_in_template(f)]
    assert not copies, "use domain.vocabulary instead:\n" + "\n".join(copies)


def test_the_vocabulary_check_finds_a_copy(tmp_path: Path) -> None:
    """The check above cannot pass by looking at nothing."""
    module = tmp_path / "copy.py"
    module.write_text('STATUSES = ("new", "in_progress")\nROLE = Literal["agent", "admin"]\n')
    template = tmp_path / "copy.html"
    template.write_text("{% if viewer.role in ('manager', 'admin') %}x{% endif %}\n")
    assert len(vocabulary_copies_in_python(module)) == 2
    assert len(vocabulary_copies_in_template(template)) == 1
    assert _spelled(["new", "urgent"]) is None  # one value of each: not a copy of a list


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    return subprocess.run(
        [exe, "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120
    )


def test_the_import_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("domain/calendar.py", "import services.reports", "Layers point down"),
        ("services/customers.py", "import web.problems", "Layers point down"),
        ("domain/policy.py", "import sqlalchemy", "domain/ is pure"),
        ("workflows/messages.py", "import models.case", "Workflows import no I/O"),
    ],
)
def test_a_deliberate_wrong_import_breaks_the_contracts(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    tree = tmp_path / "tree"
    ignore = shutil.ignore_patterns(".venv", ".git", ".data", "__pycache__", "node_modules")
    shutil.copytree(ROOT, tree, ignore=ignore)
    target = tree / module
    target.write_text(target.read_text() + f"\n{line}  # deliberate\n")
    result = _lint_imports(tree)
    assert result.returncode != 0
    assert broken in result.stdout and "BROKEN" in result.stdout
