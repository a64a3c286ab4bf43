"""The shape of the code base: the pure core, the one-way app dependencies, no import loops, and
heavy libraries kept off the web path. Every check reads the packages themselves (every module
file under them), so a new module is checked the day it is added."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("accounts", "capture", "fluxsite", "reconstruction")
CORE = "reconstruction.core"
# The order the apps may depend in: each uses those after it, never those before it.
LAYERS = ("fluxsite", "accounts", "capture", "reconstruction", CORE)


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PROJECT
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    }


def _type_checking_only(node) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def targets(package: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules one import statement may load, made absolute: ``import a.b`` gives a.b;
    ``from .x import y`` in package p gives p.x and p.x.y (y may be a submodule)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = package.split(".")
        parts = parts[: len(parts) - node.level + 1]
        base = ".".join(parts + ([base] if base else []))
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def imports_of(name: str, path: Path) -> list[str]:
    """Every module this file imports, at the top or inside a function. Imports under
    ``if TYPE_CHECKING:`` are left out: they never run."""
    found = []

    def visit(node):
        if _type_checking_only(node):
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.extend(targets(package_of(name, path), node))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return found


def layer(name: str) -> str | None:
    return next((top for top in reversed(LAYERS) if name == top or name.startswith(top + ".")), None)


def project_graph() -> dict[str, set[str]]:
    """Module → the project modules it imports (a name imported from a package counts as the
    submodule when there is one, else as the package)."""
    modules = project_modules()

    def known(target):
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target

    graph = {}
    for name, path in modules.items():
        targets = {known(t) for t in imports_of(name, path)}
        graph[name] = {t for t in targets if t and t != name}
    return graph


def test_the_core_imports_no_django_and_nothing_of_the_apps():
    core = {n: p for n, p in project_modules().items() if layer(n) == CORE}
    assert len(core) > 20, "the core package was not found"
    for name, path in core.items():
        for target in imports_of(name, path):
            top = target.split(".")[0]
            assert top not in ("django", "channels", "daphne", "asgiref"), f"{name} imports {target}"
            if top in PROJECT or top in ("bench", "tests"):
                assert layer(target) == CORE, f"{name} imports {target}, outside the core"


def test_every_core_module_imports_with_django_unavailable():
    # The core runs from a command line or a notebook: walk the package and import every module
    # with Django and the apps made unimportable.
    code = (
        "import importlib, pkgutil, sys\n"
        "for blocked in ('django', 'channels', 'capture', 'accounts', 'fluxsite'):\n"
        "    sys.modules[blocked] = None\n"
        "import reconstruction.core as core\n"
        "names = [m.name for m in pkgutil.walk_packages(core.__path__, 'reconstruction.core.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "app = [m for m in sys.modules if m.startswith('reconstruction.') and not m.startswith('reconstruction.core')]\n"
        "print(len(names), app)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    count, app_side = out.stdout.split(" ", 1)
    assert int(count) > 20 and app_side.strip() == "[]"


def test_the_apps_depend_one_way():
    # fluxsite wires everything; capture (the camera) uses reconstruction (models, training,
    # learning data, verdicts), which uses its core. Nothing points back up.
    for name, targets in project_graph().items():
        for target in targets:
            here, there = layer(name), layer(target)
            if here == there:
                continue
            assert LAYERS.index(here) < LAYERS.index(there), f"{name} imports {target}: {here} may not use {there}"


def test_there_are_no_import_loops():
    graph = project_graph()
    index, low, stack, on_stack, loops = {}, {}, [], set(), []

    def strongly_connect(v):  # Tarjan: a component of more than one module is a loop
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongly_connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for v in graph:
        if v not in index:
            strongly_connect(v)
    assert loops == []


def test_the_graph_sees_function_level_imports():
    # The checks above are only as good as the graph: a lazy import must count.
    graph = project_graph()
    assert "reconstruction.tasks" in graph["reconstruction.apps"]  # imported inside ready()
    lazy = graph["reconstruction.core.generators.expression.model"]
    assert "reconstruction.core.generators.expression.training" in lazy


# LiteRT runs the hand model (hands.py); c2pa loads the C2PA SDK's native library (credentials.py).
HEAVY = ("torch", "mediapipe", "dlib", "ai_edge_litert", "c2pa")


def test_function_level_imports_only_defer_a_heavy_library():
    # An import inside a function hides a dependency from the reader and from the graph's first
    # glance; it is there only to keep torch, MediaPipe or dlib off paths that do not need them
    # (or in an app's ready(), Django's hook for signals and tasks).
    modules = project_modules()

    def top_level(name):
        tree = ast.parse(modules[name].read_text())
        imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
        return [t for node in imports for t in targets(package_of(name, modules[name]), node)]

    def heavy(target):
        return target.split(".")[0] in HEAVY or (
            target in modules and any(t.split(".")[0] in HEAVY for t in top_level(target))
        )

    found = 0
    for name, path in modules.items():
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if not isinstance(node, ast.Import | ast.ImportFrom):
                    continue
                found += 1
                if path.name == "apps.py" and function.name == "ready":
                    continue
                loaded = targets(package_of(name, path), node)
                assert any(heavy(t) for t in loaded), f"{name}:{node.lineno} imports {loaded} inside {function.name}()"
    assert found > 5  # the walk sees them (torch inside the models)


def test_the_models_import_torch_only_when_they_train_or_load():
    # The web path reads the model classes (ranges, what a shot allows) without paying for torch;
    # the expression model's networks and training live in modules imported when needed.
    code = (
        "import sys, reconstruction.core.generators, reconstruction.core.preview, reconstruction.core.rules\n"
        "print('torch' in sys.modules)\n"
        "import reconstruction.core.generators.expression.networks\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_the_web_path_imports_no_heavy_library():
    # torch, MediaPipe and dlib load where frames are analysed or models trained, not when the
    # server starts or a page is served.
    code = (
        "import os, sys, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'fluxsite.settings')\n"
        "django.setup()\n"
        "import fluxsite.asgi, capture.consumers, capture.services, capture.shutter, capture.views\n"
        "import reconstruction.services, reconstruction.views, reconstruction.tasks\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
