"""Finding the external tools the simulated target needs, or saying exactly what to install.

The Makefile's `toolchain` target installs the same packages when run as root (CI)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from ecg_edge.errors import ToolchainMissing

ARM_PACKAGES = ("gcc-arm-none-eabi", "libnewlib-arm-none-eabi", "qemu-system-arm")
APT_LINE = "sudo apt-get install -y --no-install-recommends " + " ".join(ARM_PACKAGES)


@dataclass(frozen=True)
class Toolchain:
    arm_gcc: str
    arm_nm: str
    arm_size: str
    qemu: str
    host_cc: str

    @property
    def arm_gcc_version(self) -> str:
        return _version(self.arm_gcc)

    @property
    def host_cc_version(self) -> str:
        return _version(self.host_cc)


@lru_cache(maxsize=8)
def _version(tool: str) -> str:
    out = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else tool


def find_toolchain() -> Toolchain:
    """Every tool on PATH, or ToolchainMissing naming what is missing and the install line."""
    tools = {
        "arm_gcc": ("arm-none-eabi-gcc", "gcc-arm-none-eabi"),
        "arm_nm": ("arm-none-eabi-nm", "binutils-arm-none-eabi (with gcc-arm-none-eabi)"),
        "arm_size": ("arm-none-eabi-size", "binutils-arm-none-eabi (with gcc-arm-none-eabi)"),
        "qemu": ("qemu-system-arm", "qemu-system-arm"),
        "host_cc": ("gcc", "gcc (host compiler for the QEMU plugin)"),
    }
    found: dict[str, str] = {}
    missing: list[str] = []
    for key, (exe, pkg) in tools.items():
        path = shutil.which(exe)
        if path is None:
            missing.append(f"{exe} ({pkg})")
        else:
            found[key] = path
    if not missing:
        libc = subprocess.run([found["arm_gcc"], "-mthumb", "-mcpu=cortex-m4", "-print-file-name=libc.a"],
                              capture_output=True, text=True, check=False).stdout.strip()
        if libc in ("", "libc.a"):
            missing.append("newlib's libc.a for arm-none-eabi (libnewlib-arm-none-eabi)")
    if missing:
        raise ToolchainMissing(
            f"the simulated Cortex-M target needs {', '.join(missing)}; install with: {APT_LINE} "
            f"(or run `make toolchain` as root)")
    return Toolchain(**found)
