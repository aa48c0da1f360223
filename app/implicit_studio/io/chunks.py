"""Length-prefixed chunk files (PNG, GLB) checked before a library reads them.

Pillow and trimesh allocate a chunk's declared length before they find that the file ends
sooner, so a corrupt length of ~4 GiB costs 4 GiB of memory; ``check_chunk_lengths`` walks the
chunk headers alone and refuses such a file in one line.
"""

from __future__ import annotations

import struct
from pathlib import Path

from ..errors import InputError


def check_chunk_lengths(path: Path, kind: str, start: int, header: str, trailer: int = 0,
                        last: bytes | None = None, named: bool = False) -> None:
    """Raise an InputError if a chunk of ``path`` declares more bytes than the file holds.

    kind : the format's name in the message ("PNG"); start : the byte of the first chunk
    header : ``struct`` format of a chunk's header, (data length, chunk type); trailer : bytes
        after each chunk's data (PNG's CRC); last : the type of the final chunk (the walk stops there)
    named : say the chunk's type (a 4-letter code) in the message
    """
    size, width = path.stat().st_size, struct.calcsize(header)
    with open(path, "rb") as f:
        offset = f.seek(start)
        while offset + width <= size:
            length, chunk = struct.unpack(header, f.read(width))
            have = size - offset - width
            if length > have:
                name = f" {ascii(chunk.decode('latin-1'))}" if named else ""
                raise InputError(f"{path}: {kind} chunk{name} at byte {offset:,} declares {length:,} bytes but only "
                                 f"{have:,} follow; the file is truncated or corrupt")
            if last is not None and chunk == last:
                return
            offset = f.seek(offset + width + length + trailer)
