"""SHA-256 of streams and files, read in 1 MiB chunks so a large model or archive never sits in memory.

Pure stdlib, so the web process (uploads, model trust, review hashes) and the worker (checkpoint identity)
share one implementation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

CHUNK_BYTES = 1 << 20


def _feed(digest: hashlib._Hash, stream: BinaryIO) -> None:
    for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
        digest.update(chunk)


def sha256_of_stream(stream: BinaryIO) -> str:
    """Hex sha256 of what is left to read in ``stream`` (it is left at its end)."""
    digest = hashlib.sha256()
    _feed(digest, stream)
    return digest.hexdigest()


def sha256_of_files(paths: Iterable[Path]) -> str:
    """Hex sha256 over the bytes of ``paths`` concatenated in sorted order (order-free identity)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        with path.open("rb") as fh:
            _feed(digest, fh)
    return digest.hexdigest()


def sha256_of_file(path: Path) -> str:
    """Hex sha256 of ``path``'s bytes."""
    return sha256_of_files([path])
