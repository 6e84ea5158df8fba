"""The package layers of DESIGN.md ("Layers: who may import whom"), checked on the source: every
`ecg_edge` import, at module top or inside a function, must point downward; and every module
imports on its own in a fresh interpreter (no import cycle hides behind import order)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "ecg_edge"

GROUND = {"numerics", "atomic", "paths", "progress", "errors", "stats", "metrics", "options", "outputs",
          "devicepre", "__init__"}  # devicepre: the preprocessing chain's definition, numerics only
FACE = {"cli", "pipeline", "report", "bench_all", "predict", "stream_check"}
# Who may import whom, besides the ground (which everyone may import) and the unit itself.
# The face (and each package's cli.py, its part of the command line) may import anything.
ALLOWED: dict[str, set[str]] = {
    **{g: set() for g in GROUND},
    "checkpoint": set(),  # a file format: it builds no model (models.registry does)
    "layerplan": set(),  # plan, masks, bit packing: below both compress and modelbin
    "targets": set(),
    "data": set(),
    "models": {"checkpoint"},
    "train": {"checkpoint", "data", "models"},
    "modelbin": {"checkpoint", "layerplan", "models"},  # reads plans; never trains nor searches
    "compress": {"checkpoint", "layerplan", "data", "models", "train", "targets", "modelbin"},
    "runtime": {"modelbin", "layerplan", "data"},  # knows only model.bin (and the data its chain is compared on)
    "sim": {"modelbin", "layerplan", "runtime", "targets", "data"},  # firmware + QEMU; host parity
    "mobile": {"checkpoint", "layerplan", "data", "models", "modelbin", "runtime", "sim", "targets"},  # translates the lowered graph
}

# Known breaches, each with why it is still there; the test fails when one is no longer needed.
KNOWN: dict[str, str] = {
    "ecg_edge/runtime/bench.py": "builds its float model and the onnxruntime fp32 comparison itself "
                                 "(checkpoint, models, mobile); to be driven from the face",
}


def unit_of(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def is_face(path: Path) -> bool:
    return unit_of(path) in FACE or path.name == "cli.py"


def ecg_imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "ecg_edge":
                out += [(node.lineno, a.name) for a in node.names]
            elif node.module.startswith("ecg_edge."):
                out.append((node.lineno, node.module.split(".")[1]))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name.split(".")[1]) for a in node.names if a.name.startswith("ecg_edge.")]
    return [(ln, "__init__" if u == "__version__" else u) for ln, u in out]


def modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(p) for p in modules()}
    assert units <= set(ALLOWED) | FACE, f"not placed in a layer: {sorted(units - set(ALLOWED) - FACE)}"


def test_imports_point_downward() -> None:
    bad, breaching = [], set()
    for p in modules():
        if is_face(p):
            continue
        src, rel = unit_of(p), str(p.relative_to(PKG.parent))
        for ln, dst in ecg_imports(p):
            if dst != src and dst not in GROUND | ALLOWED[src]:
                breaching.add(rel)
                if rel not in KNOWN:
                    bad.append(f"{rel}:{ln}: {src} imports {dst}")
    assert not bad, "imports against the layers:\n" + "\n".join(bad)
    assert set(KNOWN) <= breaching, f"no longer breaching, drop from KNOWN: {sorted(set(KNOWN) - breaching)}"


def test_no_private_names_across_modules() -> None:
    bad = []
    for p in modules():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ecg_edge"):
                bad += [f"{p.relative_to(PKG.parent)}:{node.lineno}: {node.module}.{a.name}"
                        for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


def test_every_module_imports_alone() -> None:
    """Each module imported first, in one fresh interpreter: before each import every ecg_edge
    module is dropped from sys.modules (third-party ones stay loaded, for speed), so a cycle
    that only works in some import order fails here."""
    names = []
    for p in modules():
        rel = p.relative_to(PKG.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        names.append(".".join(parts))
    code = ("import importlib, sys\n"
            "bad = []\n"
            "for n in sys.argv[1:]:\n"
            "    for m in [m for m in sys.modules if m == 'ecg_edge' or m.startswith('ecg_edge.')]:\n"
            "        del sys.modules[m]\n"
            "    try:\n"
            "        importlib.import_module(n)\n"
            "    except Exception as exc:\n"
            "        bad.append(f'{n}: {type(exc).__name__}: {exc}')\n"
            "print('\\n'.join(bad)); sys.exit(1 if bad else 0)\n")
    r = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, "modules that fail to import first:\n" + r.stdout + r.stderr[-2000:]
