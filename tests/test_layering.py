"""Dependencies run one way, as the README's Layout says: entry points -> models/ -> attention/.

The check reads every import statement (also those inside functions) with ``ast``, so it costs no
imports and sees what a lazy import hides from a run.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What each layer may import of the others; anything else of the project is forbidden to it.
ALLOWED = {
    "attention": set(),
    "models": {"attention"},
    "webapp": {"attention", "models"},
    "cli": {"attention", "models"},
    "app": {"attention", "models", "webapp"},
}
# The one exception: ``python -m attention`` runs the command line, which must live in the library's __main__.
EXCEPTIONS = {("attention/__main__.py", "cli")}


def imported_layers(path: Path, root: Path = ROOT) -> set[str]:
    """The project's top-level packages this file imports, relative imports resolved against its own package."""
    package = list(path.relative_to(root).parent.parts)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            names = [".".join([*base, node.module or ""])] if base else []
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        found.update(name.split(".")[0] for name in names)
    return found & set(ALLOWED)


def violations(root: Path) -> list[str]:
    files = [root / "app.py", *(path for layer in ALLOWED if layer != "app" for path in (root / layer).rglob("*.py"))]
    found = []
    for path in sorted(file for file in files if file.is_file()):
        relative = path.relative_to(root)
        layer = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        for imported in sorted(imported_layers(path, root) - ALLOWED[layer] - {layer}):
            if (relative.as_posix(), imported) not in EXCEPTIONS:
                found.append(f"{relative.as_posix()} ({layer}) imports {imported}")
    return found


def test_every_layer_imports_only_the_layers_below_it() -> None:
    assert violations(ROOT) == []


def test_the_one_exception_is_still_needed() -> None:
    """An exception nobody uses any more would let that import back in unnoticed: drop it instead."""
    for relative, imported in EXCEPTIONS:
        assert imported in imported_layers(ROOT / relative), f"{relative} no longer imports {imported}"


def test_an_import_against_the_direction_is_caught_wherever_it_is_written(tmp_path: Path) -> None:
    (tmp_path / "attention").mkdir()
    (tmp_path / "attention" / "lazy.py").write_text("def f():\n    from models.specs import load_model\n")
    (tmp_path / "models" / "datasets").mkdir(parents=True)
    (tmp_path / "models" / "datasets" / "up.py").write_text(
        "from .. import specs\nfrom ..webapp import state\n\n\nclass C:\n    import webapp.state as s\n"
    )
    (tmp_path / "app.py").write_text("import cli.options\nfrom webapp import state\n")
    assert violations(tmp_path) == [
        "app.py (app) imports cli",
        "attention/lazy.py (attention) imports models",
        "models/datasets/up.py (models) imports webapp",
    ]
