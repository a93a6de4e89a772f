"""Class names of paper ``.pth`` files, read without torch and without running the pickle."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

from app.services.pth_classes import pth_class_names


def _archive(path: Path, payload: bytes, member: str = "paper/data.pkl") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, payload)
    return path


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = _archive(tmp_path / "evil.pth", pickle.dumps({"model_config": _Evil(marker)}, protocol=2))
    assert pth_class_names(path) is None
    assert not marker.exists()


def test_files_without_a_readable_config_give_none(tmp_path: Path) -> None:
    not_zip = tmp_path / "legacy.pth"
    not_zip.write_bytes(b"\x80\x02}q\x00.")  # a pre-1.6 torch.save: not a zip archive
    assert pth_class_names(not_zip) is None
    assert pth_class_names(_archive(tmp_path / "empty.pth", b"", member="paper/other.txt")) is None
    no_config = _archive(tmp_path / "weights.pth", pickle.dumps({"model_state_dict": {}}, protocol=2))
    assert pth_class_names(no_config) is None
    truncated = _archive(tmp_path / "cut.pth", pickle.dumps({"model_config": 1}, protocol=2)[:-3])
    assert pth_class_names(truncated) is None
