"""Flash accounting of META: which keys the device reads, which are host-only metadata."""

from __future__ import annotations

from ecg_edge.modelbin.meta import encode_meta, meta_bytes_by_reader


def test_meta_bytes_split_by_reader() -> None:
    meta = {"task": "chapman4", "plan": '{"method": "laq"}', "op_names": ["stem.conv", "head.fc"],
            "pp.version": 1, "pp.fs": 500}
    d = meta_bytes_by_reader(meta)
    assert d["meta_bytes"] == len(encode_meta(meta))
    assert d["device_read_bytes"] == len(encode_meta({"pp.version": 1, "pp.fs": 500}))
    assert d["host_only_bytes"] + d["device_read_bytes"] == d["meta_bytes"]
    assert set(d["host_only_keys"]) == {"task", "plan", "op_names"}
    assert d["host_only_keys"]["plan"] == len(encode_meta({"plan": meta["plan"]}))
