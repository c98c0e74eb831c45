"""Which code a step runs, and its hash: a step's key changes when that code changes, and only then.

A step's code is its own module plus every project module it imports,
transitively, read from the import statements of the sources (never a
hand-kept list, so a new module or package is covered the day it is
imported). The walk does not enter the rest of the ``workflow`` package
(tracking, profiles, data loading, the CLI): what those feed a step (its
settings, its data fingerprint, its upstream runs) is part of the key
already. Step modules (``workflow.steps.*``) are followed like the library.

Importing ``a.b.c`` runs the ``__init__`` of ``a`` and ``a.b`` too: those
files are hashed, but the modules they import are followed only when the
package itself is imported (``import blur``), not for a submodule.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STEP_PACKAGE = "workflow.steps"
ORCHESTRATION = "workflow"


def module_file(name: str, root: Path = REPO) -> Path | None:
    """The source file of project module ``name`` under ``root``, or None for a third-party module."""
    base = root.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _followed(name: str, start: str) -> bool:
    inside_orchestration = name == ORCHESTRATION or name.startswith(ORCHESTRATION + ".")
    inside_steps = name == STEP_PACKAGE or name.startswith(STEP_PACKAGE + ".")
    return name == start or inside_steps or not inside_orchestration


def imported_modules(path: Path, name: str, root: Path = REPO) -> set[str]:
    """Project modules that the source at ``path`` (module ``name``) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                base = node.module
            # `from a import b` imports the submodule a.b when there is one, else a name of a
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(t for t in targets if module_file(t, root) is not None)
    return found


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def closure(start: str, root: Path = REPO) -> list[Path]:
    """Every source file that module ``start`` runs, in a stable order."""
    followed, files, pending = set(), set(), [start]
    while pending:
        name = pending.pop()
        if name in followed or not _followed(name, start):
            continue
        followed.add(name)
        path = module_file(name, root)
        if path is None:
            raise ValueError(f"No project module of that name under {root}. Received: module={name!r}")
        files.add(path)
        for parent in _parents(name):
            if _followed(parent, start) and module_file(parent, root) is not None:
                files.add(module_file(parent, root))
        pending.extend(imported_modules(path, name, root))
    return sorted(files)


@functools.lru_cache(maxsize=None)
def code_version(start: str, root: Path = REPO) -> str:
    """Hash of the sources module ``start`` runs (paths relative to ``root``, and contents)."""
    digest = hashlib.sha256()
    for path in closure(start, root):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
