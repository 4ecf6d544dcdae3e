"""The compose lab's base image without any registry: a debootstrap of Debian, `docker import`ed.

Built once and kept outside the clone: the image tag in the engine, and the root file system as a
tarball under /var/cache/sysvmdiag, so a fresh clone (or a fresh engine) reuses it. The cache key
(suite and package list) is a label on the image and part of the tarball's name, so changing the
package list rebuilds instead of reusing a stale base.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from simvms.engine import EngineError, docker, image_exists, image_label

SUITE = "bookworm"
BASE_TAG = f"sysvmdiag/simvm-base:{SUITE}"
PACKAGES = (
    "iproute2",
    "iputils-ping",
    "traceroute",
    "arping",
    "mtr-tiny",
    "iputils-tracepath",
    "ndisc6",
    "iptables",
    "openssh-server",
    "python3",
)
CACHE_DIR = Path(os.environ.get("SIMVMS_CACHE_DIR", "/var/cache/sysvmdiag"))
DEFAULT_MIRROR = "http://deb.debian.org/debian"
KEY_LABEL = "org.sysvmdiag.base-key"
# Left out of the image: documentation, manuals, translations and apt's downloads (about 90 MB).
TRIM = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/cache/apt",
    "var/lib/apt/lists",
)
IMAGE_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'CMD ["/bin/bash"]',
)


def cache_key(suite: str = SUITE, packages: tuple[str, ...] = PACKAGES) -> str:
    return hashlib.sha256(" ".join([suite, *sorted(packages)]).encode()).hexdigest()[:12]


def cache_tarball(cache_dir: Path = CACHE_DIR) -> Path:
    return cache_dir / f"simvm-base-{SUITE}-{cache_key()}.tar.gz"


def debootstrap_argv(target: Path, mirror: str = DEFAULT_MIRROR) -> list[str]:
    return [
        "debootstrap",
        "--variant=minbase",
        "--include=" + ",".join(PACKAGES),
        SUITE,
        str(target),
        mirror,
    ]


def import_argv(tarball: Path) -> list[str]:
    changes = [f"LABEL {KEY_LABEL}={cache_key()}", *IMAGE_CHANGES]
    flags = [arg for change in changes for arg in ("--change", change)]
    return ["image", "import", *flags, str(tarball), BASE_TAG]


def base_image_ready() -> bool:
    return image_exists(BASE_TAG) and image_label(BASE_TAG, KEY_LABEL) == cache_key()


def ensure_base_image(progress: Callable[[str], None] = print, cache_dir: Path = CACHE_DIR) -> str:
    """The base image's tag: from the engine, else imported from the cached tarball, else debootstrapped."""
    if base_image_ready():
        return BASE_TAG
    tarball = cache_tarball(cache_dir)
    if not tarball.exists():
        build_tarball(tarball, progress)
    progress(f"compose lab: importing {tarball} as {BASE_TAG}")
    docker(*import_argv(tarball))
    return BASE_TAG


def build_tarball(tarball: Path, progress: Callable[[str], None]) -> None:
    """debootstrap --variant=minbase plus the VMs' packages, trimmed, tarred (gzip -1) to the cache."""
    if shutil.which("debootstrap") is None:
        raise EngineError(
            "compose lab: missing debootstrap (to build the base image): apt-get install debootstrap"
        )
    mirror = os.environ.get("SIMVMS_DEBIAN_MIRROR", DEFAULT_MIRROR)
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="simvm-base-", dir="/var/tmp") as work:
        root = Path(work) / "root"
        progress(f"compose lab: debootstrap {SUITE} (minbase + {' '.join(PACKAGES)}) from {mirror}; once")
        proc = subprocess.run(debootstrap_argv(root, mirror), capture_output=True, text=True)
        if proc.returncode != 0:
            raise EngineError(f"debootstrap failed: {(proc.stdout + proc.stderr)[-1500:]}")
        for relative in TRIM:
            directory = root / relative
            if directory.is_dir():
                shutil.rmtree(directory)
                directory.mkdir(parents=True)
        partial = tarball.with_name(tarball.name + ".partial")
        with open(partial, "wb") as out:
            tar = subprocess.Popen(
                ["tar", "-C", str(root), "--numeric-owner", "-cf", "-", "."], stdout=subprocess.PIPE
            )
            gzip = subprocess.run(["gzip", "-1"], stdin=tar.stdout, stdout=out)
            if tar.stdout is not None:
                tar.stdout.close()
            if tar.wait() != 0 or gzip.returncode != 0:
                partial.unlink(missing_ok=True)
                raise EngineError(f"could not archive the debootstrap of {SUITE}")
        partial.replace(tarball)
