"""Where things live by default: real data (never in git) and the working folder of the main job.

Every command's defaults flow from here, so `ecg-edge compress --target cortex-m` works right
after `ecg-edge train` without repeating paths.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
GOLDEN_DIR = REPO_ROOT / "export" / "golden"  # the golden model.bin vectors (FORMAT.md section 12)


def data_root() -> Path:
    """Real ECG data: `$ECG_EDGE_DATA`, defaulting to `../shared/data` beside the checkout."""
    env = os.environ.get("ECG_EDGE_DATA")
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "data"


def work_root() -> Path:
    """The main job's output folder: `$ECG_EDGE_WORK`, defaulting to `./ecg-edge-out`."""
    return Path(os.environ.get("ECG_EDGE_WORK", "ecg-edge-out"))


def default_dataset_dir() -> Path:
    return work_root() / "data" / "chapman4"


def default_train_dir() -> Path:
    return work_root() / "train"


def default_checkpoint() -> Path:
    return default_train_dir() / "best.pt"


def default_compress_dir() -> Path:
    return work_root() / "compress"


def default_model_bin() -> Path:
    return work_root() / "model.bin"
