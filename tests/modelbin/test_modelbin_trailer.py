"""The device image and the host trailer (export/FORMAT.md section 4, "Flash bytes"): the packer
moves host-only META behind file_size, the device image alone is a complete model.bin for the
numpy reader and the C loader, both accept the trailer, and the flashed bytes are the image."""

from __future__ import annotations

import re
import struct
import zlib

import numpy as np
import pytest

from ecg_edge.errors import ModelFormatError
from ecg_edge.modelbin import executor
from ecg_edge.modelbin.layout import HEADER_SIZE, TRAILER_HEADER_SIZE, TRAILER_STRUCT
from ecg_edge.modelbin.meta import HOST_TRAILER_KEYS, encode_meta, meta_bytes_by_reader
from ecg_edge.modelbin.packer import pack
from ecg_edge.modelbin.reader import device_image, read_model
from tests.modelbin.conftest import make_checkpoint


@pytest.fixture(scope="module")
def packed(tiny_dataset):
    ck = make_checkpoint(tiny_dataset)
    return pack(ck, None, np.load(tiny_dataset / "X_train.npy"), source="/some/ckpt.pt")


def _trailer(meta: dict, size_delta: int = 0, crc_delta: int = 0, magic: bytes = b"ECGH") -> bytes:
    body = encode_meta(meta)
    return TRAILER_STRUCT.pack(magic, TRAILER_HEADER_SIZE + len(body) + size_delta,
                               (zlib.crc32(body) + crc_delta) & 0xFFFFFFFF, len(meta)) + body


def test_host_keys_live_in_the_trailer_and_the_image_stands_alone(packed) -> None:
    data, image = packed.data, packed.device_image
    assert image == device_image(data) == data[:packed.device_size]
    full, alone = read_model(data), read_model(image)
    assert full.file_size == alone.file_size == len(image) < len(data)
    assert set(full.host_keys) == {"plan", "op_names", "preprocessing", "source_checkpoint",
                                   "source_checkpoint_sha256", "producer"} <= set(HOST_TRAILER_KEYS)
    assert alone.host_keys == () and alone.host_trailer_bytes == 0
    assert not set(alone.meta) & set(full.host_keys)  # none of them is flashed
    assert full.meta == {**alone.meta, **{k: full.meta[k] for k in full.host_keys}}
    assert full.meta["source_checkpoint"] == "/some/ckpt.pt"
    assert alone.classes == full.classes and alone.meta["fp32_param_bytes"] == packed.fp32_param_bytes
    # the header CRC covers exactly the image; the trailer has its own
    assert zlib.crc32(image[HEADER_SIZE:]) == struct.unpack_from("<I", image, 12)[0]
    assert packed.true_cr == packed.fp32_param_bytes / len(image)
    split = meta_bytes_by_reader(full.meta, full.host_keys)
    assert split["host_trailer_entry_bytes"] + TRAILER_HEADER_SIZE == full.host_trailer_bytes


def test_c_loader_runs_the_image_and_accepts_the_trailer(packed) -> None:
    pytest.importorskip("ecg_edge.runtime")
    from ecg_edge.runtime import CRuntime, RuntimeStatusError

    mb = read_model(packed.data)
    L, C = mb.input_shape
    xq = executor.quantize_inputs(mb, np.random.default_rng(0).normal(size=(4, C, L)).astype(np.float32))
    want = executor.run(mb, xq)
    assert np.array_equal(CRuntime(packed.device_image).invoke_batch(xq), want)
    assert np.array_equal(CRuntime(packed.data).invoke_batch(xq), want)
    image = packed.device_image
    for bad in (image + _trailer({"plan": "{}"}, magic=b"ECGX"), image + _trailer({"plan": "{}"}, size_delta=4),
                image + b"ECGH" + bytes(8), image + bytes(16)):
        with pytest.raises(RuntimeStatusError):
            CRuntime(bad)


def test_reader_refuses_broken_trailers_naming_the_field(packed) -> None:
    image = packed.device_image
    cases = [
        (image + b"\0" * 16, r"header field 'file_size' is \d+ but the buffer holds \d+ bytes.*not a host trailer"),
        (image + b"ECGH\0", r"not a host trailer"),
        (image + _trailer({"plan": "{}"}, size_delta=4), r"host trailer field 'trailer_size' is \d+ but \d+ bytes follow"),
        (image + _trailer({"plan": "{}"}, crc_delta=1), r"host trailer field 'crc32'.*corrupted"),
        (image + _trailer({"classes": ["x"]}), r"META keys \['classes'\] appear in both"),
        (image + _trailer({"plan": "[1]"}), r"META 'plan' is a JSON list"),
    ]
    for data, msg in cases:
        with pytest.raises(ModelFormatError, match=msg):
            read_model(data, "t.bin")
    body = bytearray(_trailer({"plan": "{}"}))
    struct.pack_into("<I", body, 12, 2)  # two entries announced, one present
    struct.pack_into("<I", body, 8, zlib.crc32(bytes(body[TRAILER_HEADER_SIZE:])))
    with pytest.raises(ModelFormatError, match=r"t\.bin host trailer: META entry 1 key length"):
        read_model(image + bytes(body), "t.bin")
    with pytest.raises(ModelFormatError, match=r"not a model\.bin"):
        device_image(b"ECGX" + bytes(60))


def test_golden_vectors_have_no_trailer() -> None:
    from ecg_edge.modelbin.golden import GOLDEN_DIR

    for p in sorted(GOLDEN_DIR.glob("*.bin")):
        mb = read_model(p.read_bytes(), p.name)
        assert mb.host_trailer_bytes == 0 and mb.host_keys == ()


def test_c_header_and_c_project_embed_the_device_image(tmp_path, device_model, shared_data, capsys) -> None:
    from ecg_edge.cli import main

    model = device_model(500, 1024)
    mb = read_model(model)
    assert mb.host_trailer_bytes > 0 and "pp.sos_q29" in read_model(mb.device_image).meta
    path = tmp_path / "model.bin"
    path.write_bytes(model)
    out = tmp_path / "proj"
    rc = main(["export", "--format", "c-project", "--model", str(path), "--record", str(shared_data / "mitdb" / "100"),
               "--seconds", "4", str(out)])
    assert rc == 0, capsys.readouterr()
    text = (out / "model_data.c").read_text()
    body = text.split("ecg_model[", 1)[1].split("{", 1)[1].split("}", 1)[0]
    flashed = bytes(int(v) for v in re.findall(r"\d+", body))
    assert flashed == mb.device_image
