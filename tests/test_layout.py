"""The project's layout: dependencies point one way, so training never reaches a web module.

A web module is one that imports a web library (Flask and what serves or renders pages); the test
finds them by reading the imports, not from a list, so a new view module is covered the day it
is written. Imports inside functions count too: they run as soon as the function is called.
"""
import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Importing any of these makes a module part of the web app.
WEB_LIBRARIES = {"flask", "flask_wtf", "werkzeug", "jinja2", "markupsafe", "markdown_it"}


def module_file(name):
    """The project file of a dotted module name (a module or a package), or None."""
    path = ROOT.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_name(path) -> str:
    """The dotted name of a project file."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path) -> set:
    """Every module name a file imports, anywhere in it; `from m import n` gives m and m.n."""
    names = set()
    package = module_name(path).rpartition(".")[0] if path.name != "__init__.py" else module_name(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def web_libraries_imported(path) -> set:
    """The web libraries a file imports itself."""
    return {name.split(".")[0] for name in imported_names(path)} & WEB_LIBRARIES


def reachable(start) -> dict:
    """Every project file start imports, directly or not: file → the chain of modules to it."""
    chains, todo = {start: [module_name(start)]}, [start]
    while todo:
        path = todo.pop()
        for name in sorted(imported_names(path)):
            found = module_file(name)
            if found is not None and found not in chains:
                chains[found] = [*chains[path], module_name(found)]
                todo.append(found)
    return chains


def web_modules_reached(start) -> list:
    """Each web module start reaches, as 'chain → … (imports library)'."""
    return [" → ".join(chain) + f" (imports {', '.join(sorted(web_libraries_imported(path)))})"
            for path, chain in reachable(start).items() if web_libraries_imported(path)]


TRAINING_FILES = sorted((ROOT / "training").rglob("*.py"))


def test_the_web_modules_are_found_by_their_imports():
    web = {module_name(path) for path in ROOT.glob("*.py") if web_libraries_imported(path)}
    assert {"main", "api", "pages", "model_info"} <= web  # the rule sees what we call web modules
    assert not web & {"models", "preprocessing", "model_files", "ngrams"}


@pytest.mark.parametrize("path", TRAINING_FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_training_never_reaches_a_web_module(path):
    assert web_modules_reached(path) == []


def test_an_import_of_a_web_module_is_caught_even_inside_a_function(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "training").mkdir()
    (tmp_path / "training" / "__init__.py").write_text("")
    (tmp_path / "training" / "step.py").write_text("def f():\n    from training import helper\n")
    (tmp_path / "training" / "helper.py").write_text("import info\n")
    (tmp_path / "info.py").write_text("from markdown_it import MarkdownIt\n")
    assert web_modules_reached(tmp_path / "training" / "step.py") == [
        "training.step → training.helper → info (imports markdown_it)"]


STAGES = ["data", "encoders", "train", "evaluate", "release"]  # training/'s packages, in pipeline order


def stage_of(name):
    """The pipeline stage a dotted training module belongs to; None for the shared modules."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "training" and parts[1] in STAGES else None


@pytest.mark.parametrize("path", TRAINING_FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_a_training_stage_imports_no_later_stage(path):
    here = stage_of(module_name(path))
    rank = STAGES.index(here) if here else -1  # the shared modules import no stage at all
    later = sorted(name for name in imported_names(path)
                   if stage_of(name) and STAGES.index(stage_of(name)) > rank)
    assert later == []
