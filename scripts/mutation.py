"""Plant small bugs in the library core and count how many the fast tests catch (issue 17's mutation run).

    .venv/bin/python scripts/mutation.py [--per-module 25] [--seed 0] [--jobs 2] [--target recorder]

Each mutant changes ONE place of one module (a comparison flipped, min and
max swapped, a cleanup call dropped, a constant changed, two arguments
swapped, ``x[i]`` made ``x[i + 1]``, an ``if flag:`` negated, ...). It is
written into a private copy of the repository (one per job, in a temporary
folder), never into this checkout, and the module's test selection from
TARGETS runs against it: a failing (or hanging) selection kills the mutant.
The script prints each survivor and the share killed per module; survivors
point at weak tests (or, now and then, at a change that alters nothing).
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    path: str  # the module to mutate
    tests: list[str]  # pytest arguments: the fast selection that must catch its bugs
    functions: tuple[str, ...] | None = None  # only mutate inside these functions (None: the whole module)


MASKS_AND_BARS = ("_scaled", "colorize", "check_colormap", "mask_image", "overlay", "top_k_channels", "bar_colours",
                  "channel_bar_chart", "_bars", "statistics_rows")  # fmt: skip
LOCALIZATION_METRICS = ("image_side", "tolerance_px", "disk_offsets", "dilate", "pointing_game", "_near_object",
                        "energy_inside", "auroc", "centre_prior", "precise_mask")  # fmt: skip

# Name -> target; add a row to cover another module (the lead adds models/ evaluation metrics here).
TARGETS: dict[str, Target] = {
    "recorder": Target(
        "attention/recorder.py",
        [
            "tests/test_recorder.py",
            "tests/test_attention_modules.py",
            "-k",
            "not memory and not resnet50 and not adaptive and not even and not factory",
        ],
    ),  # fmt: skip
    "render: masks and bars": Target("attention/render.py", ["tests/test_render.py"], MASKS_AND_BARS),
    "render: other figures": Target(
        "attention/render.py",
        ["tests/test_render.py"],
        ("branch_chart", "overlay_grid", "_feature_channels", "feature_maps_image", "summary_figure"),
    ),
    "analysis": Target(
        "attention/analysis.py",
        [
            "tests/test_recorder.py",
            "tests/test_render.py",
            "-k",
            "analyzer or Analyzer or analysis or statistics or spatial_module or thread",
        ],
    ),  # fmt: skip
    "evaluation: localization metrics": Target(
        "models/evaluation/localization.py",
        [
            "tests/test_evaluate.py",
            "-k",
            "auroc or dilation or tolerance or pointing or saturated or energy or (centre_prior and not baseline)",
        ],
        LOCALIZATION_METRICS,
    ),
    "evaluation: curves": Target(
        "models/evaluation/curves.py",
        ["tests/test_curves.py", "-k", "not shipped"],
        ("pixel_ranks", "step_counts", "curve_auc", "deletion_insertion", "block_of"),
    ),
}

COMPARISONS: dict[type, type] = {
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
OPERATORS: dict[type, type] = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}
SWAPPED_NAMES = {"min": "max", "max": "min", "amax": "amin", "amin": "amax", "argmax": "argmin", "argmin": "argmax"}


@dataclass(frozen=True)
class Mutant:
    module: str
    line: int
    description: str
    source: str  # the whole mutated module


def _is_docstring(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    parent = parents.get(node)
    return isinstance(parent, ast.Expr) and isinstance(node, ast.Constant) and isinstance(node.value, str)


def _mutations(node: ast.AST) -> Iterator[tuple[str, Callable[[ast.AST], ast.AST]]]:
    """(description, change) for every bug this node can carry; each change edits a copy of the node."""
    if isinstance(node, ast.Compare):
        for index, op in enumerate(node.ops):
            if type(op) in COMPARISONS:

                def flip(n: ast.Compare, i: int = index) -> ast.AST:
                    n.ops[i] = COMPARISONS[type(n.ops[i])]()
                    return n

                yield f"comparison {type(op).__name__} -> {COMPARISONS[type(op)].__name__}", flip
    elif isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:

        def swap_op(n: ast.BinOp) -> ast.AST:
            n.op = OPERATORS[type(n.op)]()
            return n

        yield f"operator {type(node.op).__name__} -> {OPERATORS[type(node.op)].__name__}", swap_op
    elif isinstance(node, ast.BoolOp):

        def swap_bool(n: ast.BoolOp) -> ast.AST:
            n.op = ast.Or() if isinstance(n.op, ast.And) else ast.And()
            return n

        yield "and <-> or", swap_bool
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
        yield f"drop unary {type(node.op).__name__}", lambda n: n.operand
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float, bool) and not isinstance(node.value, str):
        value = node.value
        if isinstance(value, bool):
            replacement: object = not value
        elif isinstance(value, float):
            replacement = {0.0: 1.0, 1.0: 0.0, 0.5: 0.25}.get(value, value * 2)
        else:
            replacement = value + 1 if value in (0, 1) else value - 1
        yield f"constant {value!r} -> {replacement!r}", lambda n, r=replacement: ast.Constant(r)
    elif isinstance(node, ast.Name) and node.id in SWAPPED_NAMES and isinstance(node.ctx, ast.Load):
        yield f"{node.id} -> {SWAPPED_NAMES[node.id]}", lambda n: ast.Name(SWAPPED_NAMES[n.id], ast.Load())
    elif isinstance(node, ast.Attribute) and node.attr in SWAPPED_NAMES:

        def swap_attr(n: ast.Attribute) -> ast.AST:
            n.attr = SWAPPED_NAMES[n.attr]
            return n

        yield f".{node.attr} -> .{SWAPPED_NAMES[node.attr]}", swap_attr
    elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Name):
        yield (
            f"[{node.slice.id}] -> [{node.slice.id} + 1]",
            lambda n: ast.Subscript(n.value, ast.BinOp(n.slice, ast.Add(), ast.Constant(1)), n.ctx),
        )
    elif isinstance(node, ast.Call) and len(node.args) >= 2 and not any(isinstance(a, ast.Starred) for a in node.args):

        def swap_args(n: ast.Call) -> ast.AST:
            n.args[0], n.args[1] = n.args[1], n.args[0]
            return n

        yield "swap the first two arguments", swap_args
    elif isinstance(node, ast.If):

        def negate(n: ast.If) -> ast.AST:
            n.test = ast.UnaryOp(ast.Not(), n.test)
            return n

        yield "negate an if", negate
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        yield "drop a call statement", lambda n: ast.Pass()
    elif isinstance(node, ast.Return) and node.value is not None and not isinstance(node.value, ast.Constant):
        yield "return None", lambda n: ast.Return(ast.Constant(None))


class _Replace(ast.NodeTransformer):
    def __init__(self, target: ast.AST, change: Callable[[ast.AST], ast.AST]) -> None:
        self.target, self.change = target, change

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if node is self.target:
            return self.change(node)
        return super().generic_visit(node)


def _annotation_nodes(tree: ast.AST) -> set[int]:
    """Ids of every node inside a type annotation (strings at run time here: mutating them changes nothing)."""
    roots: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            roots.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            roots.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            roots.append(node.annotation)
    return {id(inner) for root in roots for inner in ast.walk(root)}


def mutants(target: Target) -> list[Mutant]:
    """Every single-place mutant of the target that still compiles and differs from the original."""
    module = target.path
    source = (ROOT / module).read_text()
    tree = ast.parse(source)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    annotations = _annotation_nodes(tree)
    original = ast.unparse(tree)
    found: list[Mutant] = []
    for position, node in enumerate(ast.walk(tree)):
        if _is_docstring(node, parents) or isinstance(parents.get(node), (ast.JoinedStr, ast.FormattedValue)):
            continue
        ancestors = list(_ancestors(node, parents))
        if id(node) in annotations or any(isinstance(p, (ast.Raise, ast.Import, ast.ImportFrom)) for p in ancestors):
            continue  # annotations, error messages and imports: not the behaviour under test
        if target.functions is not None and not any(
            isinstance(p, ast.FunctionDef) and p.name in target.functions for p in ancestors
        ):
            continue
        for description, change in _mutations(node):
            mutated_tree = copy.deepcopy(tree)
            site = list(ast.walk(mutated_tree))[position]
            mutated_tree = ast.fix_missing_locations(_Replace(site, change).visit(mutated_tree))
            try:
                mutated = ast.unparse(mutated_tree)
                compile(mutated, module, "exec")
            except (SyntaxError, ValueError, TypeError):
                continue
            if mutated != original:
                found.append(Mutant(module, getattr(node, "lineno", 0), description, mutated))
    return found


def _ancestors(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> Iterator[ast.AST]:
    while node in parents:
        node = parents[node]
        yield node


def _copy_repository(destination: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in files.decode().split("\0"):
        if not name or not (ROOT / name).is_file():
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)


def _run_tests(copy_root: Path, arguments: list[str], timeout: float) -> tuple[bool, float]:
    """(passed, seconds) of the selection in the copy; a hang counts as a failure."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1", GRADIO_ANALYTICS_ENABLED="False")
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *arguments]
    start = time.perf_counter()
    try:
        result = subprocess.run(command, cwd=copy_root, env=env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, time.perf_counter() - start
    return result.returncode == 0, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-module", type=int, default=25, help="mutants sampled per module")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once, each in its own copy")
    parser.add_argument("--target", action="append", help="only this row of TARGETS (repeatable); default: all")
    args = parser.parse_args()
    names = args.target or list(TARGETS)
    with tempfile.TemporaryDirectory(prefix="mutation-") as folder:
        copies = [Path(folder) / f"copy{job}" for job in range(max(1, args.jobs))]
        for copy_root in copies:
            _copy_repository(copy_root)
        free = list(copies)
        scores: dict[str, tuple[int, int]] = {}
        for name in names:
            target = TARGETS[name]
            selection = target.tests
            passed, baseline = _run_tests(copies[0], selection, timeout=600)
            if not passed:
                print(f"{name}: the test selection fails without any mutant; fix that first")
                return 1
            pool = mutants(target)
            chosen = random.Random(f"{args.seed}:{name}").sample(pool, min(args.per_module, len(pool)))
            print(f"{name}: {len(chosen)} of {len(pool)} mutants, tests take {baseline:.1f} s", flush=True)

            def test(mutant: Mutant, selection: list[str] = selection, baseline: float = baseline) -> bool:
                copy_root = free.pop()
                path = copy_root / mutant.module
                original = path.read_text()
                try:
                    path.write_text(mutant.source)
                    survived, _ = _run_tests(copy_root, selection, timeout=3 * baseline + 30)
                finally:
                    path.write_text(original)
                    free.append(copy_root)
                if survived:
                    print(f"  SURVIVED {mutant.module}:{mutant.line}: {mutant.description}", flush=True)
                return not survived

            with ThreadPoolExecutor(max_workers=len(copies)) as executor:
                killed = sum(executor.map(test, chosen))
            scores[name] = (killed, len(chosen))
        print("\nkilled per target:")
        for name, (killed, total) in scores.items():
            print(f"  {name:28s} {killed:3d}/{total:<3d} {killed / max(total, 1):6.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
