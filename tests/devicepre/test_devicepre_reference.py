"""The device chain: its C kernels and stream against the numpy reference, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_edge.devicepre import reference as R
from ecg_edge.devicepre.chain import SAT, ChainError, DeviceChain, design_sos_q29, resample_factors
from ecg_edge.modelbin.reader import read_model
from ecg_edge.runtime import CRuntime, ffi, lib
from ecg_edge.runtime.stream import CStream


def test_biquad_kernel_matches_reference_including_saturation():
    rng = np.random.default_rng(0)
    sos = np.array(design_sos_q29(500.0, (0.5, 40.0), 3), dtype=np.int64).reshape(-1, 5)
    x = np.concatenate([rng.integers(-SAT, SAT, 3000), np.full(500, SAT), np.full(500, -SAT)]).astype(np.int64)
    for coef in sos:
        want = R.biquad_cascade(x[None], coef[None])[0]
        c = ffi.new("int32_t[5]", [int(v) for v in coef])
        st = ffi.new("int32_t[4]")
        got = [lib.ecg_rt_biquad_df1_s32(c, st, int(v)) for v in x]
        assert np.array_equal(got, want)
    assert np.abs(R.biquad_cascade(x[None], sos)).max() <= SAT


@pytest.mark.parametrize("fs,adc_fs", [(500, 360), (250, 360), (500, 500), (360, 250), (500, 1000)])
def test_resample_kernel_matches_reference(fs, adc_fs):
    up, down = resample_factors(fs, adc_fs)
    u, d = ffi.new("uint32_t *"), ffi.new("uint32_t *")
    assert lib.ecg_rt_resample_factors(fs, adc_fs, u, d) == lib.ECG_RT_OK and (u[0], d[0]) == (up, down)
    x = np.random.default_rng(1).integers(-SAT, SAT, 400).astype(np.int64)
    want = R.resample_linear(x, up, down)
    assert len(want) == R.n_resampled(len(x), up, down)
    pos = np.arange(len(want)) * down
    i, r = pos // up, pos % up
    got = [x[a] if p == 0 else lib.ecg_rt_resample_linear_s32(int(x[a]), int(x[a + 1]), int(p), up)
           for a, p in zip(i, r, strict=True)]
    assert np.array_equal(got, want)


def test_window_quantize_kernel_matches_reference():
    rng = np.random.default_rng(2)
    chain = DeviceChain(fs=500, adc_fs=500, window=777, hop=777, leads=1, sos_q29=(1 << 29, 0, 0, 0, 0),
                        input_mult=1195325141, input_shift=25, zero_point=-7)
    for scale in (1, 30, 3000, SAT):
        w = np.clip(rng.normal(0, scale, 777).round(), -SAT, SAT).astype(np.int64)
        want = R.quantize_window(w[None], chain)[:, 0]
        start = int(rng.integers(0, 777))
        ring = np.roll(w, start).astype(np.int32)  # oldest sample at `start`
        out = np.empty(777, np.int8)
        st = lib.ecg_rt_window_quantize_s8(ffi.cast("int32_t *", ring.ctypes.data), 777, 1, start,
                                           chain.input_mult, chain.input_shift, chain.zero_point,
                                           ffi.cast("int8_t *", out.ctypes.data))
        assert st == lib.ECG_RT_OK and np.array_equal(out, want)
    flat = R.quantize_window(np.full((1, 777), 123), chain)
    assert (flat == -7).all()


@pytest.mark.parametrize("fs,adc_fs,hop,leads", [(250, 360, 100, 1), (500, 360, 333, 1), (250, 250, 256, 2)])
def test_stream_equals_offline_reference(device_model, fs, adc_fs, hop, leads):
    data = device_model(fs, 256, leads)
    chain = DeviceChain.from_meta(read_model(data, "m").meta)
    rng = np.random.default_rng(3)
    T = adc_fs * 20
    t = np.arange(T) / adc_fs
    x = 0.8 * np.sin(2 * np.pi * 1.1 * t)[None] + rng.normal(0, 0.05, (leads, T)) + 0.4
    codes = (R.mv_to_codes(x, 200.0) + 1024).astype(np.int16)
    want = CRuntime(data).invoke_batch(R.stream_windows(codes, chain, adc_fs=adc_fs, hop=hop))
    assert len(want) == (R.n_resampled(T, *resample_factors(fs, adc_fs)) - 256) // hop + 1
    s = CStream(data, adc_fs=adc_fs, hop=hop)
    got, i = [], 0
    while i < T:  # chunks of any size, down to one frame
        n = int(rng.integers(1, 900))
        got.append(s.push(codes[:, i:i + n].T))
        i += n
    assert np.array_equal(np.concatenate(got), want)
    s32 = CStream(data, adc_fs=adc_fs, hop=hop, sample_type="int32")  # 24-bit codes, same internal scale
    assert np.array_equal(s32.push(codes.T.astype(np.int32) * 256), want)


def test_training_view_agrees_with_device_quantization(device_model):
    """prepare's device windows (float z-score of the integer filtered signal) quantized on the host
    give nearly the device's bytes: only rounding of the per-window multiplier differs."""
    from ecg_edge.modelbin import executor

    data = device_model(250, 256)
    mb = read_model(data, "m")
    chain = DeviceChain.from_meta(mb.meta)
    x = np.sin(np.arange(250 * 8) / 250 * 2 * np.pi * 1.3)[None] * 1.5
    y = R.prepare_record(x, 250, 250, (0.5, 40.0), 3, 200.0)
    host = executor.quantize_inputs(mb, R.zscore_float(y[:, -256:])[None])[0]
    dev = R.quantize_window(y[:, -256:], chain)
    assert np.abs(host.astype(int) - dev.astype(int)).max() <= 1


def test_chain_refuses_what_it_cannot_realise():
    with pytest.raises(ChainError, match="more than twice"):
        resample_factors(250, 1000)
    with pytest.raises(ChainError, match="below fs/64"):
        resample_factors(500, 7)
    with pytest.raises(ChainError, match="up factor"):
        resample_factors(131071, 131070)
    with pytest.raises(ChainError, match="low < high"):
        design_sos_q29(100.0, (50.0, 40.0), 3)


def test_training_chain_is_the_stream_chain_on_mitdb(shared_data):
    """`data prepare --preprocess device` filters a record (mV) into exactly the integers the stream
    computes from the record's raw ADC codes (baseline included), so training sees the device's signal."""
    from ecg_edge.data.preprocess import PreprocessConfig
    from ecg_edge.data.raw import read_adc
    from ecg_edge.data.sources.wfdbio import read_wfdb
    from ecg_edge.data.windows import filter_record

    x, fs, names, _ = read_wfdb(shared_data / "mitdb" / "100")
    pre = PreprocessConfig(fs=500.0, n_samples=5120, chain="device")
    train_view = filter_record(x[:1, :360 * 60], fs, pre)
    codes = read_adc(shared_data / "mitdb" / "100", ["II"], seconds=60).codes
    assert codes.min() > 0  # raw codes with the 1024 baseline, not zero-centred
    device = R.condition(codes, 360, 500, design_sos_q29(500.0, (0.5, 40.0), 3))
    assert np.array_equal(train_view, device)
