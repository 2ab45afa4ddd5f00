"""A password-protected workbook as Excel writes it: an OLE2 compound file (MS-CFB) holding
the streams `EncryptionInfo` (agile encryption, MS-OFFCRYPTO 2.3.4.10) and
`EncryptedPackage` (the xlsx, encrypted), written with the standard library only.

Nobody needs to decrypt it — the pipeline must recognise it and reject the file with a
clear reason — so the key material and the ciphertext are deterministic pseudo-random
bytes derived from the plaintext (same input, same bytes). The container is real: a CFB
reader (olefile, libmagic's "CDFV2 Encrypted", msoffcrypto-tool) sees the two streams.
"""

from __future__ import annotations

import base64
import hashlib
import struct

SECTOR = 512
MINI_SECTOR = 64
MINI_CUTOFF = 4096
FREESECT, ENDOFCHAIN, FATSECT, NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _stream(seed: bytes, n: int) -> bytes:
    """n deterministic pseudo-random bytes (SHA-256 in counter mode)."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(seed + counter.to_bytes(8, "little")).digest()
        counter += 1
    return bytes(out[:n])


def encryption_info(seed: bytes) -> bytes:
    """An agile EncryptionInfo stream: version 4.4, flags 0x40, then the XML descriptor."""

    def b64(tag: str, n: int) -> str:
        return base64.b64encode(_stream(seed + tag.encode(), n)).decode()

    params = (
        'saltSize="16" blockSize="16" keyBits="256" hashSize="64" cipherAlgorithm="AES" '
        'cipherChaining="ChainingModeCBC" hashAlgorithm="SHA512"'
    )
    xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        '<encryption xmlns="http://schemas.microsoft.com/office/2006/encryption" '
        'xmlns:p="http://schemas.microsoft.com/office/2006/keyEncryptor/password" '
        'xmlns:c="http://schemas.microsoft.com/office/2006/keyEncryptor/certificate">'
        f'<keyData {params} saltValue="{b64("kd", 16)}"/>'
        f'<dataIntegrity encryptedHmacKey="{b64("hk", 64)}" encryptedHmacValue="{b64("hv", 64)}"/>'
        '<keyEncryptors><keyEncryptor uri="http://schemas.microsoft.com/office/2006/keyEncryptor/password">'
        f'<p:encryptedKey spinCount="100000" {params} saltValue="{b64("ks", 16)}" '
        f'encryptedVerifierHashInput="{b64("vi", 16)}" encryptedVerifierHashValue="{b64("vv", 64)}" '
        f'encryptedKeyValue="{b64("kv", 32)}"/></keyEncryptor></keyEncryptors></encryption>'
    )
    return struct.pack("<HHI", 4, 4, 0x40) + xml.encode()


def encrypted_package(plaintext: bytes) -> bytes:
    """The EncryptedPackage stream: the plaintext size, then AES-sized blocks of 'ciphertext'."""
    padded = -(-len(plaintext) // 16) * 16
    return struct.pack("<Q", len(plaintext)) + _stream(hashlib.sha256(plaintext).digest(), padded)


def encrypted_workbook(plaintext: bytes) -> bytes:
    """An OLE2 file as Excel saves a password-protected xlsx (its streams, not a real key)."""
    seed = hashlib.sha256(b"encryption-info" + plaintext).digest()
    return compound_file({"EncryptionInfo": encryption_info(seed), "EncryptedPackage": encrypted_package(plaintext)})


def compound_file(streams: dict[str, bytes]) -> bytes:
    """A version-3 compound file (512-byte sectors) with the given streams under the root.

    Streams under 4096 bytes live in the mini stream (64-byte mini sectors), as the format
    requires; the rest in regular sectors. One FAT sector (128 sectors, 64 KiB) is enough
    for what the simulator writes."""
    if not 1 <= len(streams) <= 3:
        raise ValueError("the directory sector holds the root and up to three streams")
    big = {k: v for k, v in streams.items() if len(v) >= MINI_CUTOFF}
    small = {k: v for k, v in streams.items() if len(v) < MINI_CUTOFF}
    mini, minifat, mini_start = _mini_stream(small)

    # sector plan: 0 FAT, 1 directory, 2 mini FAT, then the mini stream, then big streams
    fat: list[int] = [FATSECT, ENDOFCHAIN]
    sectors: list[bytes] = [b"", b""]  # filled below
    minifat_start = ENDOFCHAIN
    if minifat:
        minifat_start = _chain(sectors, fat, b"".join(struct.pack("<I", x) for x in minifat))
    root_start = _chain(sectors, fat, mini) if mini else ENDOFCHAIN
    starts = {**mini_start, **{name: _chain(sectors, fat, data) for name, data in big.items()}}
    if len(fat) > SECTOR // 4:
        raise ValueError("streams too large for one FAT sector")
    sectors[0] = b"".join(struct.pack("<I", x) for x in fat).ljust(SECTOR, b"\xff")
    sectors[1] = _directory(streams, starts, root_start, len(mini))
    return _header(minifat_start, bool(minifat)) + b"".join(sectors)


def _mini_stream(small: dict[str, bytes]) -> tuple[bytes, list[int], dict[str, int]]:
    """The mini stream (each small stream padded to whole mini sectors), its mini FAT chains
    and each stream's first mini sector."""
    mini = bytearray()
    minifat: list[int] = []
    mini_start: dict[str, int] = {}
    for name, data in small.items():
        first = len(mini) // MINI_SECTOR
        count = max(1, -(-len(data) // MINI_SECTOR))
        mini_start[name] = first
        minifat += [first + i + 1 for i in range(count - 1)] + [ENDOFCHAIN]
        mini += data.ljust(count * MINI_SECTOR, b"\0")
    return bytes(mini), minifat, mini_start


def _chain(sectors: list[bytes], fat: list[int], data: bytes) -> int:
    """Append `data` as a chain of whole sectors (recorded in `fat`); its first sector."""
    first = len(sectors)
    count = max(1, -(-len(data) // SECTOR))
    for i in range(count):
        sectors.append(data[i * SECTOR : (i + 1) * SECTOR].ljust(SECTOR, b"\0"))
        fat.append(first + i + 1 if i < count - 1 else ENDOFCHAIN)
    return first


def _directory(streams: dict[str, bytes], starts: dict[str, int], root_start: int, mini_size: int) -> bytes:
    """The directory sector: root, then the streams as a left-leaning chain of siblings."""
    names = list(streams)
    ordered = sorted(names, key=lambda n: (len(n), n.upper()))  # CFB's name order
    entries = [_dir_entry("Root Entry", 5, child=1 + names.index(ordered[-1]), start=root_start, size=mini_size)]
    for name in names:
        pos = ordered.index(name)
        left = 1 + names.index(ordered[pos - 1]) if pos > 0 else NOSTREAM
        entries.append(_dir_entry(name, 2, left=left, start=starts[name], size=len(streams[name]), red=pos > 0))
    while len(entries) < SECTOR // 128:
        entries.append(_dir_entry("", 0, start=0, size=0))
    return b"".join(entries)


def _header(minifat_start: int, has_minifat: bool) -> bytes:
    header = (
        SIGNATURE
        + bytes(16)
        + struct.pack(
            "<HHHHH6sIIIIIIIII",
            0x003E,  # minor version
            0x0003,  # major version 3: 512-byte sectors
            0xFFFE,  # little-endian
            9,  # sector shift: 512
            6,  # mini sector shift: 64
            bytes(6),
            0,  # directory sectors (must be 0 in version 3)
            1,  # FAT sectors
            1,  # first directory sector
            0,  # transaction signature
            MINI_CUTOFF,
            minifat_start,
            1 if has_minifat else 0,
            ENDOFCHAIN,  # first DIFAT sector: none
            0,
        )
    )
    header += struct.pack("<I", 0) + struct.pack("<I", FREESECT) * 108  # DIFAT: the FAT is sector 0
    assert len(header) == SECTOR
    return header


def _dir_entry(name: str, kind: int, *, start: int, size: int, child=NOSTREAM, left=NOSTREAM, red=False) -> bytes:
    raw = name.encode("utf-16-le")
    name_field = (raw + b"\0\0").ljust(64, b"\0") if name else bytes(64)
    return (
        name_field
        + struct.pack("<HBB", len(raw) + 2 if name else 0, kind, 0 if red else 1)
        + struct.pack("<III", left, NOSTREAM, child if kind == 5 else NOSTREAM)
        + bytes(16)  # CLSID
        + struct.pack("<I", 0)  # state bits
        + bytes(16)  # creation and modification times
        + struct.pack("<IQ", start if kind else 0, size)
    )
