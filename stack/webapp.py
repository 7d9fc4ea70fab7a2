"""Builds the web app (gateway/webapp: React + TypeScript, by Vite) for the gateway to serve.

`make setup` calls `ensure_built()`: `npm ci` from the committed package-lock.json (packages
from the npm registry only) when the lock changed, then `npm run build` (type-check, then
`vite build` into gateway/webapp/dist) when any source changed. Stamps hold the digests, so
a set-up with nothing new costs a few file reads. The built files are not committed.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
from pathlib import Path

WEBAPP_DIR = Path(__file__).resolve().parent.parent / "gateway" / "webapp"
SOURCES = ("src", "public", "index.html", "vite.config.ts", "tsconfig.json", "package.json",
           "package-lock.json")
_INSTALL_STAMP = ".stride-lock-sha256"
_BUILD_STAMP = ".stride-build-sha256"


class WebAppBuildError(RuntimeError):
    pass


def source_digest(folder: Path = WEBAPP_DIR) -> str:
    """sha256 over every source file's path and bytes, in a stable order."""
    digest = hashlib.sha256()
    for name in SOURCES:
        root = folder / name
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            digest.update(str(path.relative_to(folder)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _run(args: list[str], folder: Path, timeout_s: float) -> None:
    result = subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=timeout_s,
                            check=False)
    if result.returncode != 0:
        raise WebAppBuildError(f"`{' '.join(args)}` in {folder} failed ({result.returncode}):\n"
                               f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")


def ensure_built(folder: Path = WEBAPP_DIR, *, timeout_s: float = 900) -> list[str]:
    """Install and build what changed; returns what it did (empty: nothing was to do).
    Concurrent callers are serialised by a lock on package-lock.json."""
    npm = shutil.which("npm")
    if npm is None:
        raise WebAppBuildError("npm not found: the web app is built with Node 20 and npm "
                               "(apt-get install nodejs npm)")
    done: list[str] = []
    with open(folder / "package-lock.json", "rb") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        lock = hashlib.sha256((folder / "package-lock.json").read_bytes()).hexdigest()
        installed = folder / "node_modules" / _INSTALL_STAMP
        if not installed.exists() or installed.read_text().strip() != lock:
            _run([npm, "ci", "--no-audit", "--no-fund"], folder, timeout_s)
            installed.write_text(lock + "\n")
            done.append("installed its npm packages")
        want = source_digest(folder)
        built = folder / "dist" / _BUILD_STAMP
        if not built.exists() or built.read_text().strip() != want:
            _run([npm, "run", "build"], folder, timeout_s)
            built.write_text(want + "\n")
            done.append("built it")
    return done


if __name__ == "__main__":
    for step in ensure_built():
        print(f"bootstrap: web app: {step}")
