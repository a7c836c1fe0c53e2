"""Whether a source finished by an earlier run is reused or rebuilt.

A finished source has a marker, ``documents/<source>/_SUCCESS`` (:mod:`llamacorpus.pipeline.io`
writes it inside the graph once everything the source writes is final). A run reuses the source
when the marker records

* the same **settings**: the source's recipe section, its input paths and the package version
  (:func:`settings_fingerprint`);
* the same **inputs**: every input's version, which identifies its content without reading it
  (:func:`llamacorpus.fileio.versions`: size and modification time locally, the object's
  generation and CRC32C on gs://), so an input rewritten in place is rebuilt;
* with ``--verify_inputs``, the same **content**: a hash of every input's bytes
  (:func:`llamacorpus.fileio.content_hash`). A marker written without it cannot be verified, so
  the source is rebuilt, and its new marker records the hashes for the next verified run.

Otherwise it is rebuilt, and :attr:`Decision.reason` says why.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from llamacorpus import __version__, fileio
from llamacorpus.config import to_dict


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:32]


def settings_fingerprint(name: str, cfg, paths: list[str]) -> str:
    """What a source's output depends on besides the inputs' content: its recipe section, the
    input paths and the package version."""
    return _digest({"source": name, "config": to_dict(cfg), "inputs": paths, "version": __version__})[:16]


@dataclasses.dataclass(frozen=True)
class InputState:
    """The identity of a source's inputs at launch: digests over every (path, version) and, with
    ``--verify_inputs``, over every (path, content hash)."""

    files: int
    versions: str
    content: str = ""

    def record(self) -> dict:
        return {"files": self.files, "versions": self.versions, **({"content": self.content} if self.content else {})}


def input_state(paths: list[str], verify: bool = False) -> InputState:
    versions = fileio.versions([storage_path(p) for p in paths])
    content = _digest([[p, fileio.content_hash(storage_path(p))] for p in paths]) if verify else ""
    return InputState(len(paths), _digest([[p, versions[storage_path(p)]] for p in paths]), content)


def storage_path(path: str) -> str:
    """The file or directory an input path names: a reader's tagged path (GitHub's
    ``repo:<directory>``) names the part after the tag."""
    head, sep, rest = path.partition(":")
    if sep and not rest.startswith("//") and head.isalpha() and len(head) > 1:
        return rest
    return path


@dataclasses.dataclass(frozen=True)
class Decision:
    reuse: bool
    reason: str  # why it is rebuilt ("" when reused)


def decide(marker: dict | None, fingerprint: str, state: InputState, verify: bool = False,
           overwrite: bool = False) -> Decision:
    if overwrite:
        return Decision(False, "--overwrite")
    if not marker:
        return Decision(False, "not finished in the output yet")
    if marker.get("fingerprint") != fingerprint:
        return Decision(False, "its recipe section, input paths or the llamacorpus version changed")
    inputs = marker.get("inputs") or {}
    if verify:
        if not inputs.get("content"):
            return Decision(False, "--verify_inputs: the marker has no content hashes to verify against")
        if inputs["content"] != state.content:
            return Decision(False, f"the content of its inputs changed ({state.files} files hashed)")
        return Decision(True, "")
    if inputs.get("versions") != state.versions:
        return Decision(False, f"its inputs changed since it was built (size, modification time or "
                               f"object generation of one of its {state.files} files)")
    return Decision(True, "")
