"""Turn export/golden vectors (NAME.bin + NAME.input.i8) into fuzz seeds: [ctrl=1][bin][input].
Standard library only, so `make fuzz` needs no virtual environment."""

import sys
from pathlib import Path


def main(golden: str, out: str) -> int:
    src, dst = Path(golden), Path(out)
    dst.mkdir(parents=True, exist_ok=True)
    n = 0
    for model in sorted(src.glob("*.bin")) if src.is_dir() else []:
        name = model.name[: -len(".bin")]
        inp = src / f"{name}.input.i8"
        data = b"\x01" + model.read_bytes() + (inp.read_bytes() if inp.exists() else b"")
        (dst / f"golden_{name}.seed").write_bytes(data)
        n += 1
    print(f"{n} golden seeds from {src}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
