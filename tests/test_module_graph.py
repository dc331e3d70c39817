"""cnet's modules import one way: no module imports one that imports it back, directly or round
a longer loop, and the modules below the front ends never reach up to them.

The graph is read from the source with ``ast`` (nothing is imported), from the files of the
``cnet`` package this interpreter imports. An arrow is drawn for every ``import cnet.x``,
``from cnet.x import y``, ``from cnet import x`` (to the submodule ``cnet.x`` if there is one,
else to the package ``cnet`` itself) and relative import. Imports inside functions count: they
run later, but the importing module still depends on the imported one, and moving an import
into a function is the usual way a cycle gets hidden rather than removed (``load`` did just
that). The implicit import of a package's ``__init__`` when one of its submodules is imported
is not an arrow: Python's machinery draws it, not the module's author, and counting it would
put every module in a loop with ``cnet/__init__.py``.
"""
import ast
import importlib.machinery
from pathlib import Path

import pytest

import cnet

# The front ends: what users construct. Everything they are built on sits below them.
FRONT_ENDS = {"cnet.mlp", "cnet.neural_net"}
# Modules the front ends rest on; none may import a front end, even inside a function.
BELOW_FRONT_ENDS = {"cnet.engine", "cnet.lbfgs", "cnet.persistence", "cnet.optimizer",
                    "cnet.epoch_rules", "cnet.progress", "cnet.kernels", "cnet.reference",
                    "cnet._layout", "cnet._input", "cnet._cpu", "cnet.summary",
                    "cnet._fit_warnings", "cnet._atomic", "cnet._inspect", "cnet._onnx_graph",
                    "cnet._onnx_mixin"}


def module_files(package_dir, package="cnet"):
    """Module name -> file for every module under ``package_dir``.

    Compiled modules are listed too, so that ``from cnet import _kernels`` is read as an import
    of ``cnet._kernels`` rather than of the package; they import nothing of cnet's.
    """
    files = {}
    for path in sorted(Path(package_dir).rglob("*")):
        suffix = next((s for s in importlib.machinery.EXTENSION_SUFFIXES
                       if path.name.endswith(s)), None)
        if path.suffix != ".py" and suffix is None:
            continue
        stem = path.name[:-len(suffix)] if suffix else path.stem
        parts = [*path.relative_to(package_dir).parent.parts, stem]
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join([package, *parts])] = path
    return files


def imports_of(name, path, known):
    """``{imported module: first line}`` for one module, restricted to ``known`` modules."""
    is_package = path.name == "__init__.py"
    found = {}

    def arrow(target, line):
        if target in known and target != name:
            found.setdefault(target, line)

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                arrow(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # A package's own name is its anchor; a plain module's anchor is its package.
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                arrow(submodule if submodule in known else base, node.lineno)
    return found


def import_graph(files):
    """``{module: {imported module: line}}`` over the modules of ``files``."""
    return {name: imports_of(name, path, files) if path.suffix == ".py" else {}
            for name, path in files.items()}


def cycles(graph):
    """Every loop a depth-first walk meets, each as the list of modules round it.

    A loop is found where the walk reaches a module still on its path; the path from there
    on, back to that module, is the loop.
    """
    found, done, path = [], set(), []

    def visit(module):
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if target in path:
                found.append(path[path.index(target):] + [target])
            elif target not in done:
                visit(target)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module)
    return found


def describe(loop, graph):
    return " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(loop, loop[1:])) + \
        f" -> {loop[-1]}"


@pytest.fixture(scope="module")
def graph():
    return import_graph(module_files(Path(cnet.__file__).parent))


def test_no_module_imports_one_that_imports_it_back(graph):
    loops = cycles(graph)
    assert not loops, "import cycles in cnet:\n" + "\n".join(describe(c, graph) for c in loops)


def test_modules_below_the_front_ends_never_import_them(graph):
    reaching_up = {m: sorted(set(graph[m]) & FRONT_ENDS) for m in BELOW_FRONT_ENDS & set(graph)}
    assert not {m: fronts for m, fronts in reaching_up.items() if fronts}
    assert BELOW_FRONT_ENDS <= set(graph), "a module named here no longer exists: update the list"


def test_the_graph_sees_every_kind_of_import(graph, tmp_path):
    # On cnet itself: a top-level import, a function-level one, one of the package.
    assert "cnet.engine" in graph["cnet.mlp"]
    assert "cnet.summary" in graph["cnet.mlp"]        # imported inside summary()
    assert "cnet" in graph["cnet.cli"]                # from cnet import MLPClassifier, ...
    # Relative imports and ``import a.b``, on a package made for the purpose.
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import a\n")
    (pkg / "a.py").write_text("def f():\n    from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from .. import a\nimport pkg.sub\nfrom ..a import f\n")
    made = import_graph(module_files(pkg, "pkg"))
    assert made == {"pkg": {"pkg.a": 1}, "pkg.a": {"pkg.sub.b": 2}, "pkg.sub": {},
                    "pkg.sub.b": {"pkg.a": 1, "pkg.sub": 2}}
    assert cycles(made) == [["pkg.a", "pkg.sub.b", "pkg.a"]]
    assert describe(["pkg.a", "pkg.sub.b", "pkg.a"], made) == \
        "pkg.a (line 2) -> pkg.sub.b (line 1) -> pkg.a"


def test_longer_loops_are_found_too():
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b": 1}, "b": {}}) == []
