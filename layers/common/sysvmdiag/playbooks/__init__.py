"""Alarm playbooks: the file format, their items in the topology table, runs and their notification.

``FinishedJobNotifier`` is the worker's hook (built by ``sysvmdiag.bootstrap``); ``load_playbooks``
is what the local stack calls at start. The alarm side (event models, starting runs) is in
:mod:`sysvmdiag.playbooks.alarm`.
"""

from __future__ import annotations

from sysvmdiag.playbooks.model import (
    DEFAULT_PLAYBOOKS_FILE,
    Playbook,
    PlaybookFile,
    PlaybookFileError,
    PlaybookMatch,
    load_playbook_file,
    parse_playbooks,
)
from sysvmdiag.playbooks.runs import FinishedJobNotifier, PlaybookRuns, job_summary
from sysvmdiag.playbooks.store import PlaybookLoadReport, PlaybookStore, load_playbooks

__all__ = [
    "DEFAULT_PLAYBOOKS_FILE",
    "FinishedJobNotifier",
    "Playbook",
    "PlaybookFile",
    "PlaybookFileError",
    "PlaybookLoadReport",
    "PlaybookMatch",
    "PlaybookRuns",
    "PlaybookStore",
    "job_summary",
    "load_playbook_file",
    "load_playbooks",
    "parse_playbooks",
]
