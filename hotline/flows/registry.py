"""Loading flows: the file on disk is the newest version; every version seen is kept in the database."""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from django.conf import settings

from hotline.core.flow import Flow, FlowError, load_flow
from hotline.flows.models import FlowDefinition


def flow_path(flow_id: str) -> Path:
    return Path(_flow_file(str(settings.HOTLINE_FLOWS_DIR), flow_id))


@functools.lru_cache(maxsize=32)
def _flow_file(directory: str, flow_id: str) -> str:
    return str(Path(directory) / f"{flow_id}.yaml")


# (flow id, version, sha256) already checked against the database by this process.
_known: set[tuple[str, int, str]] = set()


@functools.lru_cache(maxsize=32)
def _read(path: str, mtime_ns: int, size: int) -> str:
    """The file's text, read again only when it changes on disk."""
    return Path(path).read_text(encoding="utf-8")


@functools.cache
def _parsed(source: str) -> Flow:
    return load_flow(source)


@functools.lru_cache(maxsize=32)
def _digest(source: str) -> str:
    """SHA-256 of a flow file's text, computed once per text (every form step asks for its flow)."""
    return hashlib.sha256(source.encode()).hexdigest()


def current(flow_id: str) -> Flow:
    """The flow as the file on disk has it, recorded in the database under its version."""
    path = _flow_file(str(settings.HOTLINE_FLOWS_DIR), flow_id)
    stat = os.stat(path)
    source = _read(path, stat.st_mtime_ns, stat.st_size)
    flow = _parsed(source)
    if flow.id != flow_id:
        raise FlowError(f"{path}: the file says id {flow.id!r}")
    _remember(flow, source)
    return flow


def version(flow_id: str, number: int) -> Flow:
    """A specific version: the file's if it is that version, else the one stored when first seen."""
    latest = current(flow_id)
    if latest.version == number:
        return latest
    stored = FlowDefinition.objects.filter(flow_id=flow_id, version=number).first()
    if stored is None:
        raise FlowError(f"flow {flow_id!r} version {number} is not known to this installation")
    return _parsed(stored.source)


def _remember(flow: Flow, source: str) -> None:
    digest = _digest(source)
    if (flow.id, flow.version, digest) in _known:
        return
    stored = FlowDefinition.objects.filter(flow_id=flow.id, version=flow.version).first()
    if stored is None:
        # Processes starting together all record the version: the first insert wins and the others do
        # nothing (ON CONFLICT DO NOTHING, so PostgreSQL logs no duplicate-key error for them).
        row = FlowDefinition(flow_id=flow.id, version=flow.version, source=source, sha256=digest)
        FlowDefinition.objects.bulk_create([row], ignore_conflicts=True)
        stored = FlowDefinition.objects.get(flow_id=flow.id, version=flow.version)
    if stored is not None and stored.sha256 != digest:
        raise FlowError(
            f"{flow.id} version {flow.version} changed on disk without a new version number; "
            "raise `version:` so conversations already running keep the text they started with"
        )
    _known.add((flow.id, flow.version, digest))
