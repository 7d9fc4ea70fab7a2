"""Model artifacts on disk or behind any fsspec URL: fetch to a local folder, verify checksums.

An artifact is a folder (`model.pt`, `meta.json`) identified by the SHA-256 that
`models.train.artifact_sha256` computes over it. A local folder is used where it is; a URL
(`s3://…`, `gs://…`, `file://…`, …) is copied into a local cache first, keyed by the checksum,
so every node that runs a replica fetches it once.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path


class ChecksumMismatch(Exception):
    """The artifact's contents are not what was registered."""


def is_url(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def local_path(path: str) -> Path:
    return Path(path.removeprefix("file://")).expanduser()


def checksum(folder: Path) -> str:
    from models.train import artifact_sha256

    return artifact_sha256(folder)


def fetch(path: str, dest: Path) -> Path:
    """Copy the artifact folder at an fsspec URL into `dest` (created); returns `dest`."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(path)
    dest.mkdir(parents=True, exist_ok=True)
    for remote in fs.find(root):
        target = dest / Path(remote).relative_to(Path(root))
        target.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(remote, str(target))
    return dest


def stage(path: str, expected: str, cache_dir: Path | None = None) -> Path:
    """A local folder holding the artifact at `path`, verified against `expected`.

    Raises ChecksumMismatch (the artifact changed since it was registered) or
    FileNotFoundError (it is gone)."""
    if not is_url(path):
        folder = local_path(path)
        if not folder.is_dir():
            raise FileNotFoundError(f"no artifact folder at {path}")
        _verify(folder, expected, path)
        return folder
    cache = (cache_dir or Path(tempfile.gettempdir()) / "stride-models") / expected
    if cache.is_dir():
        _verify(cache, expected, path)
        return cache
    partial = Path(tempfile.mkdtemp(prefix=".fetch-", dir=_ensure(cache.parent)))
    try:
        fetch(path, partial)
        _verify(partial, expected, path)
        partial.rename(cache)  # atomic: a replica never loads a half-copied folder
    except FileExistsError:
        pass  # another replica on this node fetched it first
    except OSError as exc:
        if not cache.is_dir():
            raise exc from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return cache


def _ensure(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _verify(folder: Path, expected: str, where: str) -> None:
    actual = checksum(folder)
    if actual != expected:
        raise ChecksumMismatch(
            f"artifact at {where} has checksum {actual[:12]}…, registered {expected[:12]}…;"
            " it changed after registration: register it again as a new version")
