"""UF2, the USB flashing format of the RP2040's boot ROM (and many other boards' bootloaders): a firmware image
cut into 512-byte blocks that each carry their target address, so that a board showing up as a USB drive takes
the image by a plain file copy. Format: https://github.com/microsoft/uf2 (magic numbers, 256-byte payloads,
``familyID`` flag 0x2000)."""

from __future__ import annotations

import struct
from pathlib import Path

MAGIC_START0 = 0x0A324655  # "UF2\n"
MAGIC_START1 = 0x9E5D5157
MAGIC_END = 0x0AB16F30
FLAG_FAMILY_ID = 0x00002000
PAYLOAD = 256  # bytes of image per block (what the RP2040 boot ROM requires)
BLOCK = 512


def to_uf2(image: bytes, base: int, family: int) -> bytes:
    """``image`` (raw bytes loaded at ``base``) as UF2 blocks for a bootloader of ``family``."""
    if not image:
        raise ValueError("an empty image has no UF2 form")
    chunks = [image[i : i + PAYLOAD] for i in range(0, len(image), PAYLOAD)]
    out = bytearray()
    for n, chunk in enumerate(chunks):
        header = struct.pack(
            "<8I",
            MAGIC_START0,
            MAGIC_START1,
            FLAG_FAMILY_ID,
            base + n * PAYLOAD,
            PAYLOAD,
            n,
            len(chunks),
            family,
        )
        data = chunk.ljust(476, b"\x00")  # 512 - 32 header - 4 end magic
        out += header + data + struct.pack("<I", MAGIC_END)
    assert len(out) == BLOCK * len(chunks)
    return bytes(out)


def write_uf2(binary: Path, base: int, family: int, dest: Path) -> Path:
    """Write ``binary`` (an objcopy ``-O binary`` image starting at ``base``) as the UF2 file ``dest``."""
    dest.write_bytes(to_uf2(binary.read_bytes(), base, family))
    return dest
