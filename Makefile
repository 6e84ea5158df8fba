# ecg-edge: every target creates/refreshes the virtual environment it needs (idempotent).
# The two README commands are `make demo` (the main job) and `make test` (the test suite).

VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.stamp-install
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ARM_PKGS := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
# The C++ library TFLite Micro needs (the TFLM + CMSIS-NN row of the side-by-side bench).
CXX_PKGS := libstdc++-arm-none-eabi-newlib
# clang: the runtime's second -Werror compiler (runtime_c/Makefile skips it when absent).
HOST_PKGS := clang
export ECG_EDGE_NO_PROGRESS ?=

.PHONY: setup demo test test-fast lint bench fuzz toolchain firmware golden clean help

help:
	@echo "make demo   - the main job on built-in synthetic data (train -> compress -> export -> host runtime -> simulated Cortex-M)"
	@echo "make test   - lint + the whole test suite (installs what it needs)"
	@echo "make bench  - benchmarks (speed, memory, instruction counts); results under bench/"
	@echo "make fuzz   - fuzz the C runtime's loader and invoke for FUZZ_SECONDS (default 60)"
	@echo "make golden - regenerate export/golden vectors"

# torch is pinned to the 2.13.0 CPU build (an unpinned torch pulls a multi-GB CUDA build).
# Re-installs when the package definition or the C runtime (compiled by cffi at install) changes.
$(STAMP): pyproject.toml setup.py $(wildcard ecg_edge/runtime/build_ffi.py runtime_c/src/*.c runtime_c/src/*.h runtime_c/include/*.h)
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

# The Cortex-M cross compiler and QEMU: installed when running as root (CI), otherwise the
# exact command to run is printed.
toolchain:
	@if command -v arm-none-eabi-gcc >/dev/null && command -v qemu-system-arm >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing $(ARM_PKGS)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(ARM_PKGS) >/dev/null; \
	else \
	  echo "the simulated Cortex-M target needs: sudo apt-get install -y --no-install-recommends $(ARM_PKGS)"; \
	fi
	@if command -v arm-none-eabi-g++ >/dev/null && [ "$$(arm-none-eabi-g++ -mthumb -mcpu=cortex-m4 -print-file-name=libstdc++.a)" != libstdc++.a ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing $(CXX_PKGS)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(CXX_PKGS) >/dev/null || \
	  echo "$(CXX_PKGS) not installed: the TFLite Micro row of the bench is skipped"; \
	else \
	  echo "the TFLite Micro comparison needs: sudo apt-get install -y --no-install-recommends $(CXX_PKGS)"; \
	fi
	@if ! command -v clang >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing $(HOST_PKGS)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(HOST_PKGS) >/dev/null || \
	  echo "clang not installed: the C runtime is checked with gcc only"; \
	fi

# Firmware objects for every target (-O2/-Os) and the QEMU instruction-count plugin, cached
# under $$ECG_EDGE_CACHE (default ~/.cache/ecg-edge); `ecg-edge simulate` builds on demand too.
firmware: setup toolchain
	$(PY) -m ecg_edge.sim.prebuild

demo: setup toolchain
	$(PY) -m ecg_edge.cli demo

lint: setup
	$(VENV)/bin/ruff check ecg_edge tests

test: setup toolchain lint ctest
	$(PY) -m pytest -q -n 2 --dist loadgroup

# The C runtime: -Wall -Wextra -Werror builds (gcc, clang), its C tests plain and under
# ASan+UBSan, a bounded fuzz run (CI_FUZZ_SECONDS), then the Python parity tests against an
# ASan+UBSan build of the cffi extension.
CI_FUZZ_SECONDS ?= 20
ctest: setup
	$(MAKE) -C runtime_c test fuzz-ci FUZZ_SECONDS=$(CI_FUZZ_SECONDS)
	$(MAKE) ctest-py-san

ctest-py-san: setup
	ECG_EDGE_RT_SANITIZE=1 ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD="$$(gcc -print-file-name=libasan.so)" \
	  $(PY) -m pytest -q -p no:cacheprovider -m "not slow" tests/runtime/test_runtime_binding.py tests/runtime/test_runtime_parity.py

FUZZ_SECONDS ?= 60
fuzz:
	$(MAKE) -C runtime_c fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)

test-fast: setup
	$(PY) -m pytest -q -x -m "not slow and not sim"

bench: setup toolchain
	$(PY) -m ecg_edge.bench_all

golden: setup
	$(PY) -m ecg_edge.modelbin.golden

clean:
	rm -rf build runtime_c/build firmware_sim/build ecg-edge-out .pytest_cache
