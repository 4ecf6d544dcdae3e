"""The compose lab's image copies only what the build context lets through: every COPY source of
simvms/Dockerfile is let in by .dockerignore, and the VM side's files are the set the Makefile ships."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def copied_sources() -> set[str]:
    text = (REPO / "simvms" / "Dockerfile").read_text().replace("\\\n", " ")
    sources: set[str] = set()
    for line in text.splitlines():
        if line.startswith("COPY "):
            sources.update(line.split()[1:-1])
    return sources


def let_in() -> set[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return {line[1:] for line in lines if line.startswith("!")}


def test_every_copied_file_is_in_the_build_context() -> None:
    assert copied_sources() <= let_in()


def test_the_image_carries_the_vm_side_file_set_the_makefile_ships() -> None:
    makefile = (REPO / "layers" / "common" / "Makefile").read_text().replace("\\\n", " ")
    [files] = re.findall(r"^VM_SIDE_FILES := (.*)$", makefile, flags=re.MULTILINE)
    shipped = {f"layers/common/{name}" for name in files.split() if not name.endswith("__init__.py")}
    assert shipped == {source for source in copied_sources() if source.startswith("layers/")}
