from __future__ import annotations

from pathlib import Path

import pytest

from tests.compress.tiny_setup import build_tiny


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_tiny(tmp_path_factory.mktemp("tinyreport"))
