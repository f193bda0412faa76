"""The package's shape: bundled recipes by name, entry points for every stage, a core that imports no capability."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from winnow.pipeline import recipes
from winnow.pipeline.config import load_config
from winnow.pipeline.registry import READERS, STAGES

REPO = Path(__file__).resolve().parents[2]
CAPABILITIES = ("filters", "ocr", "mixing")


def _decorated(kind: str) -> set[str]:
    """Names given to @register_<kind>("...") anywhere in the capability and engine folders."""
    found = set()
    for folder in ("pipeline", *CAPABILITIES):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == f"register_{kind}"
                        and node.args):
                    arg = node.args[0]
                    found.add(arg.value if isinstance(arg, ast.Constant) else f"{path.name}:{ast.unparse(arg)}")
    return found


def test_every_registered_stage_and_reader_is_an_entry_point():
    eps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    # Names given through constants resolve by loading the class the entry point names.
    for name in eps["winnow.stages"]:
        assert STAGES[name].name == name
    for name in eps["winnow.readers"]:
        assert READERS[name].format == name
    literal = {n for n in _decorated("stage") if ":" not in n}
    assert literal <= set(eps["winnow.stages"]), literal - set(eps["winnow.stages"])
    assert _decorated("reader") <= set(eps["winnow.readers"])
    assert len(_decorated("stage")) == len(eps["winnow.stages"])


def test_engine_core_imports_no_capability():
    core = ["runner", "config", "planning", "layout", "inputs", "apply", "worker", "accounting", "registry", "stage",
            "report", "plan", "executors", "readers", "cli", "export", "tokens", "recipes"]
    code = (
        "import sys\n"
        + "".join(f"import winnow.pipeline.{m}\n" for m in core)
        + "bad = sorted(m for m in sys.modules if m.split('.')[1:2] and m.split('.')[1] in "
        + repr(CAPABILITIES) + " and m.startswith('winnow.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"the engine core imported capability modules: {out}"


def test_a_config_imports_only_the_stages_it_names(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("inputs: [x.jsonl]\noutput: out\nstages:\n  - name: url_filter\n")
    code = (
        "import sys\nfrom winnow.pipeline.config import load_config\n"
        f"load_config({str(config)!r})\n"
        "print(sorted(m for m in sys.modules if m.startswith(('winnow.filters.', 'winnow.ocr.', 'winnow.mixing.'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "['winnow.filters.url']", out


def test_recipes_resolve_by_name_and_ship_no_repository_paths(tmp_path):
    names = recipes.names()
    assert {"demo", "commoncrawl", "dedup", "mixing", "export"} <= set(names)
    for name in names:
        text = Path(recipes.resolve(name)).read_text()
        assert "shared/" not in text and "../" not in text, name
    assert recipes.resolve("commoncrawl") == recipes.resolve("commoncrawl.yaml")
    with pytest.raises(recipes.RecipeError, match="neither a config file nor a bundled recipe"):
        recipes.resolve("no_such_recipe")
    with pytest.raises(recipes.RecipeError, match="not found"):
        recipes.resolve("missing/dir/x.yaml")
    copied = recipes.copy("dedup", str(tmp_path))
    assert copied.read_text() == Path(recipes.resolve("dedup")).read_text()
    with pytest.raises(recipes.RecipeError, match="exists"):
        recipes.copy("dedup", str(tmp_path))


@pytest.mark.parametrize("name", ["demo", "commoncrawl", "extract", "pdf", "dedup", "decontaminate", "rights", "dclm", "quality"])
def test_every_pipeline_recipe_loads_without_set(name):
    """Every bundled pipeline recipe runs its capability alone, with no --set (demo inputs by default)."""
    cfg = load_config(recipes.resolve(name), inputs=["placeholder.jsonl"])
    assert cfg.stages


def _module_graph() -> dict[str, set[str]]:
    """winnow module → the winnow modules it imports at module level (imports inside functions are lazy)."""
    mods = {}
    for folder in ("pipeline", *CAPABILITIES):
        for path in (REPO / folder).rglob("*.py"):
            parts = [p for p in path.relative_to(REPO / folder).with_suffix("").parts if p != "__init__"]
            mods[".".join(["winnow", folder, *parts])] = path
    graph = {}
    for name, path in mods.items():
        deps = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.module in mods:
                deps.add(node.module)
                deps.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in mods)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in mods)
        deps.discard(name)  # a package importing its own submodules (`from pkg import mod`) is not a cycle
        graph[name] = deps
    return graph


def test_module_imports_have_no_cycle():
    graph, done, path = _module_graph(), set(), []

    def visit(node: str) -> None:
        if node in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(node):] + [node]))
        if node in done:
            return
        path.append(node)
        for dep in sorted(graph[node]):
            visit(dep)
        path.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)


def test_every_python_package_folder_ships_in_the_wheel():
    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(tool["packages"])
    for folder in ("pipeline", *CAPABILITIES, "configs"):
        for init in (REPO / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(REPO / folder).parts
            assert ".".join(["winnow", folder, *parts]) in listed, f"{init.parent} is not in [tool.setuptools] packages"
