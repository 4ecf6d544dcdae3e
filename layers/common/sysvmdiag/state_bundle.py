"""A VM's state as a download (a zip, one file per part and log) and as what fits in the answer.

Pure: no I/O. The zip is what CloudStack's getDiagnosticsData hands out as a URL; small parts are also
answered inline so a caller reading one routing table needs no second request.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from sysvmdiag.state_document import VmState
from sysvmdiag.vmstate import JSON_PARTS

INLINE_MAX_BYTES = 16 * 1024  # a part larger than this (as JSON) is in the bundle only
_FIXED_TIME = (2026, 1, 1, 0, 0, 0)  # zip entries carry no clock: the same state gives the same bytes


def part_file(name: str) -> str:
    return f"{name}.json" if name in JSON_PARTS else f"{name}.rules"


def bundle_files(state: VmState, parts: tuple[str, ...], manifest: dict[str, Any]) -> dict[str, bytes]:
    """File name -> content: the manifest, each part (ip -j parts as JSON, iptables as its text), logs."""
    files = {"manifest.json": json.dumps(manifest, indent=2, default=str).encode()}
    for name in parts:
        value = state.part(name)
        data = json.dumps(value, indent=2) if name in JSON_PARTS else str(value or "")
        files[part_file(name)] = data.encode()
    for tail in state.logs:
        files[f"logs/{tail.name}.log"] = tail.text.encode()
    return files


def zip_bundle(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in files.items():
            bundle.writestr(zipfile.ZipInfo(name, _FIXED_TIME), data, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def inline_parts(state: VmState, parts: tuple[str, ...]) -> tuple[dict[str, Any], list[str]]:
    """The parts small enough to answer inline, and the names of those only in the bundle."""
    inline: dict[str, Any] = {}
    too_large: list[str] = []
    for name in parts:
        value = state.part(name)
        if len(json.dumps(value)) <= INLINE_MAX_BYTES:
            inline[name] = value
        else:
            too_large.append(name)
    return inline, too_large


def log_inline(text: str) -> str | None:
    return text if len(text.encode()) <= INLINE_MAX_BYTES else None
