"""A checkpoint folder's fingerprint: the sha256 over its files (names and bytes, in name order), recorded when a
round's training publishes the folder and checked before the folder is loaded, continued from or exported. A
checkpoint that was not written whole (a full disk, a killed process, a file changed by hand) is never used."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import StudentError


def folder_sha256(folder: str | Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(file.relative_to(folder).as_posix().encode("utf-8") + b"\0")
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def check_checkpoint(folder: str | Path, recorded: str | None, what: str) -> None:
    """StudentError unless `folder` exists and matches the sha256 recorded when it was written (a checkpoint from
    before checksums were recorded, `recorded` None, is taken as it is)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise StudentError(f"{what}: its checkpoint {folder} is missing; train the round again.")
    if recorded is not None and folder_sha256(folder) != recorded:
        raise StudentError(f"{what}: the checkpoint {folder} does not match the sha256 recorded when it was written "
                           "(it is damaged or was not written whole); train the round again.")
