"""The package's shape: layers that point one way (import-linter), imports at module top, no
reach into another subpackage's private names, one place that replaces files, a clean ruff."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SRC = ROOT / "src" / "birdkit"
BIN = Path(sys.executable).parent

#: imports allowed inside functions: optional extras (and torch internals absent from some builds)
OPTIONAL = ("sklearn", "pandas", "matplotlib", "torch.utils.tensorboard", "torch._dynamo", "mlxtend", "cv2",
            "imagecorruptions", "ray", "timm", "torchdistill")


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield path, ".".join(parts), ast.parse(path.read_text(), str(path))


def _lint_imports(config: Path, src: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(src), "PATH": str(BIN)}
    return subprocess.run([str(BIN / "lint-imports"), "--no-cache", "--config", str(config)], capture_output=True,
                          text=True, env=env, cwd=config.parent, timeout=120)


def test_layers_contract_is_kept():
    res = _lint_imports(ROOT / "pyproject.toml", ROOT / "src")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 kept, 0 broken" in res.stdout


@pytest.mark.parametrize("module, bad_import", [
    ("functional/cka.py", "import birdkit.experiments"),        # math reaching up to the runner
    ("methods/_base.py", "from birdkit import training"),        # the methods <-> training cycle of old
    ("data/tensors.py", "import birdkit.corruptions"),           # a sibling-layer cycle (corruptions -> data)
])
def test_contract_fails_on_a_reintroduced_cycle(tmp_path, module, bad_import):
    shutil.copytree(SRC, tmp_path / "src" / "birdkit")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "src" / "birdkit" / module
    text = target.read_text()
    head, sep, rest = text.partition("from __future__ import annotations\n")
    target.write_text(head + sep + bad_import + "\n" + rest)
    res = _lint_imports(tmp_path / "pyproject.toml", tmp_path / "src")
    assert res.returncode != 0 and "BROKEN" in res.stdout, res.stdout + res.stderr


def test_no_import_inside_a_function_outside_cli():
    found = []
    for path, mod, tree in _modules():
        if mod.startswith("birdkit.cli"):
            continue
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                else:
                    continue
                for n in names:
                    if not n.startswith(OPTIONAL):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} {n}")
    assert not found, "imports inside functions (move them to the module top):\n" + "\n".join(found)


def test_no_import_of_another_subpackages_private_names():
    found = []
    for path, mod, tree in _modules():
        own = mod.split(".")[:2]
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("birdkit."):
                continue
            target = node.module.split(".")
            if target[:2] == own:
                continue  # a package's own private modules are its business
            private_module = any(p.startswith("_") and p != "__future__" for p in target[2:])
            private_names = [a.name for a in node.names if a.name.startswith("_")]
            if private_module or private_names:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} from {node.module} import "
                             + ", ".join(a.name for a in node.names))
    assert not found, "\n".join(found)


def test_one_place_replaces_files():
    sites = []
    for path, _, tree in _modules():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr in ("replace", "rename")
                    and isinstance(node.value, ast.Name) and node.value.id == "os"):
                sites.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert len(sites) <= 2, sites
    assert all(s.startswith("src/birdkit/io.py") for s in sites), sites


def test_ruff_is_clean():
    res = subprocess.run([str(BIN / "ruff"), "check", "src", "tests", "benchmarks"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_docstrings_cite_files_inside_the_repository():
    import re

    cited = {m for path, _, _ in _modules() for m in re.findall(r"docs/[\w.-]+\.md", path.read_text())}
    missing = sorted(c for c in cited if not (ROOT / c).is_file())
    assert cited and not missing, missing
    texts = "\n".join(path.read_text() for path, _, _ in _modules())
    assert "shared/docs" not in texts and not re.search(r"(?<!docs/)\bmethod\.md", texts)
