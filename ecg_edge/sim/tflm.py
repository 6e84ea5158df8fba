"""TFLite Micro + CMSIS-NN on the simulated Cortex-M4: the comparison row of the side-by-side
bench, measured on the same board with the same instruction counter as our runtime.

Nothing is downloaded. The sources come from one tarball of TFLite Micro laid out with its
downloads in place (CMSIS-NN, CMSIS headers, flatbuffers, gemmlowp, ruy):
`$ECG_EDGE_TFLM_SRC`, default `../shared/third_party/tflite-micro-src.tar.xz` beside the
checkout. Without it, `tflm_sources()` says so and callers skip the row.

The library is built by TFLM's own Makefile (TARGET=cortex_m_generic, CMSIS-NN kernels, -O2 for
core, kernels and CMSIS-NN: the recipe of the shared tflm-m4 anchor), only the objects this
model can pull in (every core and CMSIS-NN object plus the kernels of its seven ops), and
cached under `<cache>/tflm/` keyed by the tarball's sha256, the flags and the compiler: a few
minutes once, milliseconds after. The firmware is firmware_sim/tflm/tflm_main.cc with the C
firmware's startup, semihosting and markers, linked with the board's own linker script.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ecg_edge.errors import EcgEdgeError
from ecg_edge.paths import REPO_ROOT
from ecg_edge.progress import progress
from ecg_edge.sim.boards import linker_script, write_linker_script
from ecg_edge.sim.build import (
    FIRMWARE_DIR,
    FirmwareBuildError,
    FirmwareImage,
    Layout,
    cache_root,
    compile_flags,
    publish_dir,
    read_sections,
    read_symbols,
)
from ecg_edge.sim.qemu import run_image
from ecg_edge.sim.toolchain import Toolchain
from ecg_edge.targets.registry import Target, get_target

TARBALL_ENV = "ECG_EDGE_TFLM_SRC"
# TFLM's Makefile names for the targets it can build for here (TARGET_ARCH, FPU).
ARCH = {"cortex-m4": ("cortex-m4+fp", "fpv4-sp-d16")}
# The kernels of the ops ecg_edge/mobile/tflite_export.py emits (RESHAPE, PAD, CONV_2D,
# MAX_POOL_2D, ADD, MEAN, FULLY_CONNECTED) and their shared helpers.
OPS = ("add", "add_common", "conv", "conv_common", "fully_connected", "fully_connected_common", "kernel_util",
       "micro_tensor_utils", "pad", "pad_common", "pooling", "pooling_common", "reduce", "reduce_common",
       "reshape", "reshape_common")
MAIN = FIRMWARE_DIR / "tflm" / "tflm_main.cc"
LIB = "libtflm-cmsis_nn.a"
ARENA_RESERVE = 192 * 1024  # TFLM's arena: it reports what it used (arena_used_bytes)


class TflmUnavailable(EcgEdgeError):
    """The TFLite Micro sources (or the C++ library they need) are not on this machine."""


def tflm_sources() -> Path:
    """The source tarball, or TflmUnavailable saying where it was looked for."""
    env = os.environ.get(TARBALL_ENV)
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "third_party" / "tflite-micro-src.tar.xz"
    if not path.is_file():
        raise TflmUnavailable(f"TFLite Micro sources not found at {path} (set ${TARBALL_ENV}); "
                              "the TFLM + CMSIS-NN row is skipped")
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_cxx(tc: Toolchain) -> None:
    r = subprocess.run([_cross(tc, "g++"), "-mthumb", "-mcpu=cortex-m4", "-print-file-name=libstdc++.a"],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0 or r.stdout.strip() in ("", "libstdc++.a"):
        raise TflmUnavailable("TFLite Micro needs the arm-none-eabi C++ library: apt-get install "
                              "libstdc++-arm-none-eabi-newlib (or run `make toolchain` as root)")


def _cross(tc: Toolchain, tool: str) -> str:
    return tc.arm_gcc[: -len("gcc")] + tool


def _make_cmd(tc: Toolchain, target: Target) -> list[str]:
    arch, fpu = ARCH[target.name]
    root = str(Path(tc.arm_gcc).parent) + "/"
    return ["make", "-f", "tensorflow/lite/micro/tools/make/Makefile", "TARGET=cortex_m_generic",
            f"TARGET_ARCH={arch}", f"FPU={fpu}", "TOOLCHAIN=gcc", f"TARGET_TOOLCHAIN_ROOT={root}",
            "BUILD_TYPE=release", "CORE_OPTIMIZATION_LEVEL=-O2", "KERNEL_OPTIMIZATION_LEVEL=-O2",
            "THIRD_PARTY_KERNEL_OPTIMIZATION_LEVEL=-O2", "OPTIMIZED_KERNEL_DIR=cmsis_nn"]


def _make_env() -> dict[str, str]:
    # The Makefile runs a generator needing numpy and Pillow while it parses: this python has both.
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def _objects(cmd: list[str], src: Path) -> list[str]:
    """The Makefile's own object lists (its print-% rule), cut to what this model can link."""
    def var(name: str) -> list[str]:
        r = subprocess.run([*cmd, f"print-{name}"], cwd=src, capture_output=True, text=True, env=_make_env(),
                           check=False)
        return [w for w in r.stdout.split("=", 1)[-1].split() if w.endswith(".o")]
    kernel = re.compile(r"/micro/kernels/(cmsis_nn/)?(" + "|".join(OPS) + r")\.o$")
    objs = var("MICROLITE_LIB_OBJS") + var("MICROLITE_THIRD_PARTY_KERNEL_OBJS")
    objs += [o for o in var("MICROLITE_KERNEL_OBJS") if kernel.search(o)]
    if not objs:
        raise FirmwareBuildError(f"TFLite Micro's Makefile in {src} listed no objects")
    return objs


def library_dir(tc: Toolchain, target: Target) -> Path:
    """Where the library for this tarball, these flags and this compiler is (or will be) cached."""
    key = [_sha256(tflm_sources()), _make_cmd(tc, target)[3:], OPS, tc.arm_gcc_version]
    return cache_root() / "tflm" / f"{target.name}-cmsis_nn-{hashlib.sha256(json.dumps(key).encode()).hexdigest()[:20]}"


def demangle(names: list[str], tc: Toolchain) -> list[str]:
    """C++ symbol names without their argument lists (profile tables stay readable)."""
    r = subprocess.run([_cross(tc, "c++filt")], input="\n".join(names), capture_output=True, text=True, check=False)
    out = r.stdout.splitlines() if r.returncode == 0 else names
    return [re.sub(r"\(.*", "", n).replace("tflite::(anonymous namespace)::", "tflite::") for n in out]


def build_library(tc: Toolchain, target: Target, log=print) -> Path:
    """TFLM + CMSIS-NN for the target, built once per tarball/flags/compiler: the cache folder
    holding src/tflite-micro (headers) and lib/libtflm-cmsis_nn.a."""
    if target.name not in ARCH:
        raise TflmUnavailable(f"the TFLM comparison is built for {', '.join(ARCH)} only, not {target.name}")
    tarball = tflm_sources()
    _check_cxx(tc)
    cmd = _make_cmd(tc, target)
    final = library_dir(tc, target)
    if (final / "lib" / LIB).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
    try:
        log(f"building TFLite Micro + CMSIS-NN for {target.name} from {tarball} (once; cached in {final})")
        with tarfile.open(tarball) as tf:
            tf.extractall(tmp / "src", filter="data")
        src = tmp / "src" / "tflite-micro"
        objs = _objects(cmd, src)
        _run_make([*cmd, f"-j{min(2, os.cpu_count() or 1)}", *objs], src, len(objs))
        (tmp / "lib").mkdir()
        subprocess.run([_cross(tc, "ar"), "rcs", str(tmp / "lib" / LIB), *objs], cwd=src, check=True)
        shutil.rmtree(src / "gen", ignore_errors=True)  # objects archived; headers stay for the firmware
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish_dir(tmp, final)
    return final


def _run_make(cmd: list[str], cwd: Path, n_objects: int) -> None:
    """TFLM's make, with a progress bar over the objects it compiles."""
    tail: list[str] = []
    with subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=_make_env()) as proc, progress(total=n_objects, desc="TFLM objects", unit="obj") as bar:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail = (tail + [line.rstrip()])[-20:]
            if " -c " in line and "arm-none-eabi-" in line:
                bar.update(1)
        rc = proc.wait()
    if rc != 0:
        raise FirmwareBuildError("TFLite Micro's build failed:\n" + "\n".join(tail))


def _cxx_flags(target: Target, src: Path) -> list[str]:
    dl = src / "tensorflow" / "lite" / "micro" / "tools" / "make" / "downloads"
    cpu = [f"-mcpu={target.gcc_cpu}", "-mthumb", *target.gcc_float]
    # The library's own defines: TF_LITE_STATIC_MEMORY changes TfLiteTensor's layout.
    return [*cpu, "-O2", "-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics",
            "-fno-unwind-tables", "-fno-asynchronous-unwind-tables", "-ffunction-sections", "-fdata-sections",
            "-funsigned-char", "-fomit-frame-pointer", "-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON",
            "-DNDEBUG", "-DTF_LITE_STRIP_ERROR_STRINGS", "-DTF_LITE_MCU_DEBUG_LOG", "-DCMSIS_NN",
            "-DKERNELS_OPTIMIZED_FOR_SPEED", "-Wall", "-Wextra", "-Wno-unused-parameter", f"-I{src}",
            f"-I{dl / 'flatbuffers' / 'include'}", f"-I{dl / 'gemmlowp'}", f"-I{dl / 'ruy'}",
            f"-I{FIRMWARE_DIR / 'src'}"]


def build_tflm_firmware(tc: Toolchain, target: Target, layout: Layout, log=print) -> FirmwareImage:
    """The comparison firmware linked for one layout (model = .tflite bytes, arena = TFLM's)."""
    lib = build_library(tc, target, log)
    src = lib / "src" / "tflite-micro"
    cflags = compile_flags(target, "O2")
    cxx = _cxx_flags(target, src)
    fw = [FIRMWARE_DIR / "src" / f"{n}.c" for n in ("startup", "semihost", "markers")]
    h = hashlib.sha256(json.dumps([cflags, cxx, linker_script(target)]).encode())
    for p in [MAIN, *fw, *sorted((FIRMWARE_DIR / "src").glob("*.h")), FIRMWARE_DIR / "ld" / "sections.ld"]:
        h.update(p.read_bytes())
    out = lib / "fw" / h.hexdigest()[:16]
    elf = out / f"{layout.tag}.elf"
    if not elf.is_file():
        out.mkdir(parents=True, exist_ok=True)
        objs = []
        for s in fw:
            objs.append(out / f"fw_{s.stem}.o")
            _run([tc.arm_gcc, *cflags, "-c", str(s), "-o", str(objs[-1])], "compile " + s.name)
        objs.append(out / "tflm_main.o")
        _run([_cross(tc, "g++"), *cxx, "-c", str(MAIN), "-o", str(objs[-1])], "compile tflm_main.cc")
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".elf", dir=out)
        os.close(fd)
        _run([_cross(tc, "g++"), f"-mcpu={target.gcc_cpu}", "-mthumb", *target.gcc_float, "-O2", "-nostartfiles", f"-L{FIRMWARE_DIR / 'ld'}", "-T",
              str(write_linker_script(target, out)), "-Wl,--gc-sections",
              f"-Wl,--defsym=__model_reserve={(layout.model + 15) // 16 * 16}",
              f"-Wl,--defsym=__arena_reserve={(layout.arena + 15) // 16 * 16}",
              "-Wl,--defsym=__window_reserve=0", f"-Wl,--defsym=__stack_size={layout.stack}",
              *map(str, objs), str(lib / "lib" / LIB), "-lm", "-lc", "-lgcc", "-o", tmp], "link")
        os.replace(tmp, elf)
    return FirmwareImage(elf=elf, target=target.name, opt="O2", program="main", layout=layout,
                         symbols=read_symbols(tc, elf), sections=read_sections(tc, elf), objects_dir=out)


def _run(cmd: list[str], what: str) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise FirmwareBuildError(f"TFLM firmware: {what} failed:\n" + "\n".join(r.stderr.strip().splitlines()[-20:]))


@dataclass
class TflmResult:
    """One TFLM + CMSIS-NN run: exact instructions per Invoke(), memory and logits."""

    target: str
    instructions: list[int]
    code_bytes: int
    model_bytes: int
    arena_used: int
    static_ram: int
    stack_peak: int
    logits: np.ndarray = field(repr=False)
    elf: str = ""

    @property
    def ram_total(self) -> int:
        return self.static_ram + self.arena_used + self.stack_peak

    def to_dict(self) -> dict:
        return {"target": self.target, "runtime": "TFLite Micro + CMSIS-NN (int8-only kernel registrations)",
                "instructions": self.instructions, "code_bytes": self.code_bytes, "model_bytes": self.model_bytes,
                "arena_used": self.arena_used, "static_ram": self.static_ram, "stack_peak": self.stack_peak,
                "ram_total": self.ram_total, "elf": self.elf}


def run_tflm(tflite_bytes: bytes, windows_q: np.ndarray, target: str = "cortex-m4", *, log=print,
             timeout_s: float = 900.0, profile_path: Path | None = None) -> TflmResult:
    """Every int8 window (N, L, C), already quantized with the .tflite's input scale, through
    one Invoke() each on the simulated target."""
    from ecg_edge.sim.build import build_plugin
    from ecg_edge.sim.toolchain import find_toolchain

    tc = find_toolchain()
    tgt = get_target(target)
    w = np.ascontiguousarray(windows_q, dtype=np.int8)
    image = build_tflm_firmware(tc, tgt, Layout(len(tflite_bytes), ARENA_RESERVE, 0), log)
    run = run_image(tc, tgt, image, build_plugin(tc), tflite_bytes, w, timeout_s=timeout_s, profile_path=profile_path)
    if run.errors or run.faults or run.exit_code != 0 or len(run.counts) != w.shape[0]:
        raise EcgEdgeError(f"TFLM firmware on {tgt.name} failed (exit {run.exit_code}): "
                           f"{(run.errors + run.faults + [run.stderr.strip()[-400:]])[0]}")
    logits = np.stack([np.frombuffer(x.logits, dtype=np.int8) for x in run.windows])
    return TflmResult(target=tgt.name, instructions=run.counts, code_bytes=image.code_bytes,
                      model_bytes=len(tflite_bytes), arena_used=run.model_info.get("arena", 0),
                      static_ram=image.static_ram_bytes, stack_peak=run.stack.get("stack_peak", 0), logits=logits,
                      elf=str(image.elf))
