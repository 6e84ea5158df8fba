"""META section codec: typed key/value pairs (export/FORMAT.md section 4, GGUF-style)."""

from __future__ import annotations

import re
import struct
from typing import Any

from ecg_edge.errors import ModelFormatError
from ecg_edge.modelbin import rules as R

T_U32, T_I32, T_F32, T_STR, T_STR_ARRAY, T_F32_ARRAY, T_I32_ARRAY = range(7)
KEY_RE = re.compile(rb"^[a-z0-9_.]{1,255}$")

# Types of the keys the packer writes (anything else is inferred from the Python value).
KEY_TYPES = {
    "task": T_STR, "classes": T_STR_ARRAY, "fs": T_F32, "input_length": T_U32,
    "input_leads": T_U32, "lead_names": T_STR_ARRAY, "input_scale": T_F32,
    "input_zero_point": T_I32, "preprocessing": T_STR, "plan": T_STR,
    "source_checkpoint_sha256": T_STR, "source_checkpoint": T_STR, "producer": T_STR,
    "fp32_param_bytes": T_U32, "op_names": T_STR_ARRAY,
    # the device preprocessing chain (ecg_edge.devicepre, FORMAT.md section 13), optional
    "pp.version": T_U32, "pp.fs": T_U32, "pp.adc_fs": T_U32, "pp.window": T_U32, "pp.hop": T_U32,
    "pp.sos_q29": T_I32_ARRAY, "pp.input_mult": T_I32, "pp.input_shift": T_U32, "pp.adc_gain": T_F32,
    "pp.trained_chain": T_STR,
}


def _str(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack("<I", len(b)) + b


def _infer(value: Any) -> int:
    if isinstance(value, str):
        return T_STR
    if isinstance(value, (bool, int)):
        return T_I32 if value < 0 else T_U32
    if isinstance(value, float):
        return T_F32
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, str) for v in value):
            return T_STR_ARRAY
        if all(isinstance(v, int) for v in value):
            return T_I32_ARRAY
        return T_F32_ARRAY
    raise TypeError(f"META value of type {type(value).__name__} is not encodable")


def encode_meta(items: dict[str, Any]) -> bytes:
    out = bytearray()
    for key, value in items.items():
        kb = key.encode("ascii")
        if not KEY_RE.match(kb):
            raise ValueError(f"META key {key!r} must be 1..255 chars of [a-z0-9_.]")
        t = KEY_TYPES.get(key, _infer(value))
        out += struct.pack("<H", len(kb)) + kb + bytes([t])
        if t == T_U32:
            out += struct.pack("<I", int(value))
        elif t == T_I32:
            out += struct.pack("<i", int(value))
        elif t == T_F32:
            out += struct.pack("<f", float(value))
        elif t == T_STR:
            out += _str(str(value))
        elif t == T_STR_ARRAY:
            out += struct.pack("<I", len(value)) + b"".join(_str(str(v)) for v in value)
        elif t == T_F32_ARRAY:
            out += struct.pack("<I", len(value)) + struct.pack(f"<{len(value)}f", *map(float, value))
        elif t == T_I32_ARRAY:
            out += struct.pack("<I", len(value)) + struct.pack(f"<{len(value)}i", *map(int, value))
    return bytes(out)


def decode_meta(buf: bytes, count: int, where: str) -> dict[str, Any]:
    """Decode `count` entries filling exactly `buf`; every length is bounds-checked."""
    pos, out = 0, {}
    n = len(buf)

    def take(size: int, what: str) -> bytes:
        nonlocal pos
        if size < 0 or pos + size > n:
            raise ModelFormatError(f"{where}: {what} at META byte {pos} needs {size} bytes, "
                                   f"only {n - pos} left in the section", R.META_ENTRY)
        b = buf[pos:pos + size]
        pos += size
        return b

    def u32(what: str) -> int:
        return struct.unpack("<I", take(4, what))[0]

    def string(what: str) -> str:
        ln = u32(f"{what} length")
        raw = take(ln, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ModelFormatError(f"{where}: {what} is not valid UTF-8", R.META_UTF8) from exc

    for i in range(count):
        klen = struct.unpack("<H", take(2, f"META entry {i} key length"))[0]
        if not 1 <= klen <= 255:
            raise ModelFormatError(f"{where}: META entry {i}: key length {klen}, expected 1..255", R.META_KEY)
        kb = take(klen, f"META entry {i} key")
        if not KEY_RE.match(kb):
            raise ModelFormatError(f"{where}: META entry {i}: key {kb!r} is not ASCII [a-z0-9_.]", R.META_KEY)
        key = kb.decode("ascii")
        t = take(1, f"META {key!r} value type")[0]
        label = f"META {key!r} value"
        if t == T_U32:
            val: Any = u32(label)
        elif t == T_I32:
            val = struct.unpack("<i", take(4, label))[0]
        elif t == T_F32:
            val = struct.unpack("<f", take(4, label))[0]
        elif t == T_STR:
            val = string(label)
        elif t == T_STR_ARRAY:
            cnt = u32(f"{label} count")
            if cnt > n:
                raise ModelFormatError(f"{where}: {label} count {cnt} exceeds the section size {n}", R.META_ENTRY)
            val = [string(f"{label}[{j}]") for j in range(cnt)]
        elif t in (T_F32_ARRAY, T_I32_ARRAY):
            cnt = u32(f"{label} count")
            raw = take(4 * cnt, label) if cnt <= n else take(n + 1, label)
            val = list(struct.unpack(f"<{cnt}{'f' if t == T_F32_ARRAY else 'i'}", raw))
        else:
            raise ModelFormatError(f"{where}: META {key!r}: unknown value type {t} (expected 0..6)", R.META_VALUE_TYPE)
        out[key] = val
    if pos != n:
        raise ModelFormatError(f"{where}: META section holds {n - pos} bytes after its {count} entries", R.META_ENTRY)
    return out


# META keys the device code reads (runtime_c/src/stream_meta.c: the device preprocessing chain).
DEVICE_READ_PREFIXES = ("pp.",)
# Keys the packer writes to the host trailer (FORMAT.md section 4, "Flash bytes"): provenance and
# debugging text no device code reads and no host needs to run the image. Every other key (the
# pp.* chain, and the small keys a host needs to feed and read a device image: classes, input
# shape and quantization, fs, fp32_param_bytes) stays in the device image's META.
HOST_TRAILER_KEYS = ("plan", "op_names", "preprocessing", "source_checkpoint", "source_checkpoint_sha256",
                     "producer")


def split_meta(meta: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(device META, host trailer META) of the packer's keys, each in the given order."""
    host = {k: v for k, v in meta.items() if k in HOST_TRAILER_KEYS}
    return {k: v for k, v in meta.items() if k not in host}, host


def meta_bytes_by_reader(meta: dict[str, Any], trailer_keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """Encoded META bytes split into keys the device reads and host-only keys (with each key's
    size), and how many of the host-only bytes live in the host trailer (not flashed)."""
    sizes = {k: len(encode_meta({k: v})) for k, v in meta.items()}
    host = {k: n for k, n in sizes.items() if not k.startswith(DEVICE_READ_PREFIXES)}
    trailer = sum(n for k, n in sizes.items() if k in trailer_keys)
    return {"meta_bytes": sum(sizes.values()), "device_read_bytes": sum(sizes.values()) - sum(host.values()),
            "host_only_bytes": sum(host.values()), "host_only_keys": host,
            "host_trailer_entry_bytes": trailer, "host_only_flashed_bytes": sum(host.values()) - trailer}
