"""Only here because setuptools reads `cffi_modules` from setup(): it compiles runtime_c into
`ecg_edge.runtime._ecg_edge_rt` at install time (no manual step)."""

from pathlib import Path

from setuptools import setup

_FFI = "ecg_edge/runtime/build_ffi.py"
setup(cffi_modules=[f"{_FFI}:ffibuilder"] if (Path(__file__).parent / _FFI).exists() else [])
