"""The two SHA-256 digests that tie an exported NAME.h to its NAME.json, so any edit of either file shows.

NAME.h carries the manifest's digest on one line of its top comment, and NAME.json the header's in its
"header_sha256" field. Neither digest covers itself, so they are not circular:

- the header's digest = SHA-256 of NAME.h's bytes with the 64 hex digits of its line
  ` * tinygen-manifest-sha256: <hex>` replaced by 64 zeros;
- the manifest's digest = SHA-256 of NAME.json's bytes with the 64 hex digits of `"header_sha256": "<hex>"`
  replaced by 64 zeros.

`seal` renders both with zeros there, computes both digests, then writes each into the other file. Any other
change to either file (a weight, a space, a line ending, a re-formatted JSON) changes its digest; a change of a
digest itself no longer matches the other file. `tinygen verify NAME.json` checks both (shipped.py).
"""
from __future__ import annotations

import hashlib
import re

ZERO = "0" * 64
HEADER_LINE = re.compile(rb"^ \* tinygen-manifest-sha256: ([0-9a-f]{64})$", re.MULTILINE)
MANIFEST_FIELD = re.compile(rb'"header_sha256": "([0-9a-f]{64})"')


def _one(pattern: re.Pattern, data: bytes) -> re.Match | None:
    """The single match of pattern in data; None when there is none or more than one."""
    found = list(pattern.finditer(data))
    return found[0] if len(found) == 1 else None


def _zeroed(match: re.Match, data: bytes) -> bytes:
    return data[:match.start(1)] + ZERO.encode() + data[match.end(1):]


def _filled(match: re.Match, data: bytes, digest: str) -> bytes:
    return data[:match.start(1)] + digest.encode() + data[match.end(1):]


def digest_of(pattern: re.Pattern, data: bytes) -> tuple[str | None, str | None]:
    """(SHA-256 of data with its one digest field zeroed, the digest that field holds); (None, None) where
    the data has no such field (or more than one)."""
    match = _one(pattern, data)
    if match is None:
        return None, None
    return hashlib.sha256(_zeroed(match, data)).hexdigest(), match.group(1).decode()


def seal(header: str, manifest: str) -> tuple[str, str]:
    """The header and manifest texts (rendered with ZERO in their digest fields) with each other's digests."""
    header_bytes, manifest_bytes = header.encode("utf-8"), manifest.encode("utf-8")
    header_match, manifest_match = _one(HEADER_LINE, header_bytes), _one(MANIFEST_FIELD, manifest_bytes)
    if header_match is None or manifest_match is None:
        raise ValueError("seal needs one digest field in the header and one in the manifest")
    header_digest = hashlib.sha256(_zeroed(header_match, header_bytes)).hexdigest()
    manifest_digest = hashlib.sha256(_zeroed(manifest_match, manifest_bytes)).hexdigest()
    return (_filled(header_match, header_bytes, manifest_digest).decode("utf-8"),
            _filled(manifest_match, manifest_bytes, header_digest).decode("utf-8"))


def mismatches(header: bytes, manifest: bytes, header_name: str = "NAME.h", manifest_name: str = "NAME.json") -> list[str]:
    """What does not match between the two files' bytes, one sentence per problem; [] when both digests do."""
    header_actual, manifest_recorded = digest_of(HEADER_LINE, header)
    manifest_actual, header_recorded = digest_of(MANIFEST_FIELD, manifest)
    problems = []
    if header_actual is None:
        problems.append(f"{header_name} has no (or more than one) ' * tinygen-manifest-sha256:' line: it was not "
                        "written by this tinygen's export, or was edited")
    if manifest_actual is None:
        problems.append(f"{manifest_name} has no (or more than one) \"header_sha256\" field")
    if problems:
        return problems
    if header_actual != header_recorded:
        problems.append(f"{header_name} was changed after export (its SHA-256 is {header_actual[:12]}..., "
                        f"{manifest_name} records {header_recorded[:12]}...)")
    if manifest_actual != manifest_recorded:
        problems.append(f"{manifest_name} was changed after export, or {header_name} comes from another export (its "
                        f"SHA-256 is {manifest_actual[:12]}..., {header_name} records {manifest_recorded[:12]}...)")
    return problems
