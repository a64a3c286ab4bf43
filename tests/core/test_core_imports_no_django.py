import ast
import subprocess
import sys
from pathlib import Path

from reconstruction import CORE_MODULES

ROOT = Path(__file__).resolve().parents[2]


def test_the_core_modules_import_without_django_loaded():
    code = (
        "import sys\n"
        f"for name in {list(CORE_MODULES)!r}:\n"
        "    __import__(name)\n"
        "leaked = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "print(','.join(leaked))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the core pulled in Django: {out.stdout}"


def test_no_core_source_file_mentions_django_imports():
    for name in CORE_MODULES:
        path = ROOT / (name.replace(".", "/") + ".py")
        if not path.exists():
            path = ROOT / name.replace(".", "/") / "__init__.py"
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n == "django" or n.startswith(("django.", "channels", "capture")) for n in names), (
                f"{path} imports {names}"
            )


def test_the_core_list_covers_every_pure_module():
    # A new core module must be listed (and so checked); Django-side modules are named here.
    django_side = {
        "models",
        "services",
        "tasks",
        "views",
        "apps",
        "admin",
        "urls",
        "storage",
        "signals",
        "forms",
        "staging",
    }
    for path in (ROOT / "reconstruction").rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        if any(part in ("management", "migrations") for part in rel.parts) or rel.name in django_side:
            continue
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        if name == "reconstruction":
            continue
        assert name in CORE_MODULES, f"{path.relative_to(ROOT)} is neither in CORE_MODULES nor a Django-side module"


def test_the_models_import_torch_only_when_they_train_or_load():
    # The web path reads the model classes (ranges, what a shot allows) without paying for torch;
    # the expression model's networks and training live in modules imported when needed.
    code = (
        "import sys, reconstruction.generators, reconstruction.preview, reconstruction.rules\n"
        "print('torch' in sys.modules)\n"
        "import reconstruction.generators.expression.networks\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_the_web_path_imports_no_heavy_library():
    # Brief: torch, MediaPipe and dlib load where frames are analysed or models trained, not
    # when the server starts or a page is served.
    code = (
        "import os, sys, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'fluxsite.settings')\n"
        "django.setup()\n"
        "import fluxsite.asgi, capture.consumers, capture.services, capture.shutter, capture.views\n"
        "import reconstruction.services, reconstruction.views, reconstruction.tasks\n"
        "print(sorted(m for m in ('torch', 'mediapipe', 'dlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
