"""Decoding uploaded text files (services layer), shared by the REST API and the CLI."""

from __future__ import annotations

from app.domain.errors import InvalidInput, PayloadTooLarge


def decode_upload(data: bytes, *, max_bytes: int, field: str = "file") -> str:
    """Return the UTF-8 text of an upload (a leading BOM is dropped).

    Raises:
        PayloadTooLarge: more than ``max_bytes`` bytes.
        InvalidInput: empty, not UTF-8, or binary (contains NUL bytes).
    """
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"the file is {len(data)} bytes; the limit is {max_bytes} bytes",
            field=field,
            details={"size": len(data), "limit": max_bytes},
        )
    if not data.strip():
        raise InvalidInput("the file is empty", field=field)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"the file is not UTF-8 text (invalid byte at offset {exc.start})",
            field=field,
            details={"offset": exc.start},
        ) from None
    if "\x00" in text:
        raise InvalidInput("the file is binary, not text", field=field)
    return text.removeprefix("\ufeff")
