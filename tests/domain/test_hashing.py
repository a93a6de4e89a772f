"""app.domain.hashing: the streamed sha256 equals hashlib's over the whole bytes, across chunk boundaries."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from app.domain.hashing import CHUNK_BYTES, sha256_of_file, sha256_of_files, sha256_of_stream

BIG = bytes(range(256)) * (CHUNK_BYTES // 256 * 2 + 3)  # two chunks and a tail


def test_stream_and_file_hash_the_same_bytes_as_hashlib(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(BIG)
    (tmp_path / "empty.bin").write_bytes(b"")
    assert sha256_of_stream(io.BytesIO(BIG)) == hashlib.sha256(BIG).hexdigest()
    assert sha256_of_file(tmp_path / "big.bin") == hashlib.sha256(BIG).hexdigest()
    assert sha256_of_file(tmp_path / "empty.bin") == hashlib.sha256(b"").hexdigest()


def test_stream_hash_starts_where_the_stream_is() -> None:
    stream = io.BytesIO(b"headbody")
    stream.seek(4)
    assert sha256_of_stream(stream) == hashlib.sha256(b"body").hexdigest()


def test_files_hash_is_over_the_sorted_concatenation(tmp_path: Path) -> None:
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    a.write_bytes(b"first")
    b.write_bytes(b"second")
    expected = hashlib.sha256(b"firstsecond").hexdigest()
    assert sha256_of_files([b, a]) == sha256_of_files([a, b]) == expected
