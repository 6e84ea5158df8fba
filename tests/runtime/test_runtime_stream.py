"""The streaming API's refusals (status codes) and its parity on a real MIT-BIH record."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_edge.devicepre import reference as R
from ecg_edge.devicepre.chain import DeviceChain
from ecg_edge.modelbin.reader import read_model
from ecg_edge.runtime import CRuntime, RuntimeStatusError, aligned_buffer, ffi, lib
from ecg_edge.runtime.stream import CStream
from tests.runtime.conftest import golden, golden_names


def _init(data: bytes, sample_type: int = 0, adc_fs: int = 0):
    rt = CRuntime(data)
    size = ffi.new("size_t *")
    assert lib.ecg_rt_stream_work_size(rt._model, size) == lib.ECG_RT_OK
    work = aligned_buffer(int(size[0]))
    s = ffi.new("ecg_rt_stream *")
    st = lib.ecg_rt_stream_init(s, rt._model, adc_fs, 0, sample_type, ffi.cast("uint8_t *", work.ctypes.data),
                                work.size, rt._arena_ptr, rt._arena.size)
    return st, s, (rt, work)


def test_model_without_preprocessing_meta_is_refused_but_runs_offline():
    data, x, y, _ = golden(golden_names()[0])
    st, _, _ = _init(data)
    assert st == lib.ECG_RT_E_NO_PREPROCESS
    assert np.array_equal(CRuntime(data).invoke(x), y)
    with pytest.raises(RuntimeStatusError, match="no device preprocessing"):
        CStream(data)


def test_bad_pushes_return_status_codes(device_model):
    data = device_model(250, 256)
    assert _init(data, adc_fs=1000)[0] == lib.ECG_RT_E_RATE
    assert _init(data, sample_type=7)[0] == lib.ECG_RT_E_SAMPLE_TYPE
    st, s, keep = _init(data)
    assert st == lib.ECG_RT_OK
    used = ffi.new("size_t *")
    assert lib.ecg_rt_stream_push(s, ffi.NULL, 0, 5, used) == lib.ECG_RT_E_NULL
    buf = np.zeros(300, np.int16)
    assert lib.ecg_rt_stream_push(s, ffi.cast("void *", buf.ctypes.data), 1, 300, used) == lib.ECG_RT_E_SAMPLE_TYPE
    logits = ffi.new("int8_t[4]")
    assert lib.ecg_rt_stream_infer(s, logits, 4, ffi.NULL) == lib.ECG_RT_E_STREAM_STATE
    assert lib.ecg_rt_stream_push(s, ffi.cast("void *", buf.ctypes.data), 0, 300, used) == lib.ECG_RT_OK
    assert used[0] == 256  # stopped at the frame that completed the window
    assert lib.ecg_rt_stream_push(s, ffi.cast("void *", buf.ctypes.data), 0, 1, used) == lib.ECG_RT_E_STREAM_STATE
    assert lib.ecg_rt_stream_infer(s, logits, 4, ffi.NULL) == lib.ECG_RT_OK
    with pytest.raises(Exception, match="expected int16"):
        CStream(data).push(np.zeros(10, np.float32))


def test_mitdb_minutes_stream_equals_offline(shared_data, device_model):
    """Three minutes of MIT-BIH 100 (raw ADC codes at 360 Hz) through the C stream give the same
    logits as the numpy reference chain + the offline C runtime, window by window."""
    from ecg_edge.data.raw import read_adc

    rec = read_adc(shared_data / "mitdb" / "100", ["II"], seconds=180)
    data = device_model(500, 1024)
    chain = DeviceChain.from_meta(read_model(data, "m").meta)
    want = CRuntime(data).invoke_batch(R.stream_windows(rec.codes, chain, adc_fs=360, hop=500))
    got = CStream(data, adc_fs=360, hop=500).push(rec.codes.T)
    assert len(got) == len(want) == (90000 - 1024) // 500 + 1
    assert np.array_equal(got, want)
