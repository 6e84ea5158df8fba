"""Independent check of the plugin's instruction counts: the same run under `-icount shift=N`,
where virtual time advances 2^N ns per instruction, timed by the board's CMSDK APB timer
(mps2 boards). Timer ticks * tick period / 2^N ns is then an instruction count that does not
come from the plugin. Agreement to within the timer's resolution (and the few instructions of
the timer reads themselves) says the plugin counts what executes."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ecg_edge.errors import EcgEdgeError
from ecg_edge.sim.api import arena_size_of, as_windows, check_run
from ecg_edge.sim.build import Layout, build_firmware, build_plugin
from ecg_edge.sim.qemu import run_image
from ecg_edge.sim.toolchain import find_toolchain
from ecg_edge.targets.registry import get_target


@dataclass
class CrossCheck:
    target: str
    board: str
    shift: int
    timer_hz: int
    plugin_counts: list[int]  # normal run (no -icount)
    plugin_counts_icount: list[int]  # same plugin under -icount
    timer_ticks: list[int]
    timer_instructions: list[float]  # ticks converted to instructions
    max_rel_diff: float

    def to_dict(self) -> dict:
        return asdict(self)


def icount_crosscheck(model_bytes: bytes, inputs_q: np.ndarray, target: str = "cortex-m4", shift: int = 7,
                      opt: str = "O2") -> CrossCheck:
    tc = find_toolchain()
    tgt = get_target(target)
    board = tgt.board
    if board.timer_hz is None:
        raise EcgEdgeError(f"{tgt.name}: the -icount cross-check needs a CMSDK timer (mps2-an386/an500 boards)")
    windows = as_windows(inputs_q)
    layout = Layout(model=len(model_bytes), arena=arena_size_of(model_bytes), window=int(windows[0].size))
    image = build_firmware(tc, tgt, layout, opt)
    plugin = build_plugin(tc)
    plain = run_image(tc, tgt, image, plugin, model_bytes, windows)
    check_run(plain, tgt, windows.shape[0])
    timed = run_image(tc, tgt, image, plugin, model_bytes, windows, icount_shift=shift, timer=True)
    check_run(timed, tgt, windows.shape[0])
    ticks = [int(w.ticks or 0) for w in timed.windows]
    ns_per_tick = 1e9 / board.timer_hz
    from_timer = [t * ns_per_tick / (1 << shift) for t in ticks]
    rel = max(abs(f - c) / c for f, c in zip(from_timer, plain.counts, strict=True))
    return CrossCheck(tgt.name, board.machine, shift, board.timer_hz, plain.counts, timed.counts, ticks,
                      from_timer, rel)
