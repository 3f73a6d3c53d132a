"""Helpers shared by the file adapters: bounded reads, gzip, safe XML and sniffing by content.

Everything here turns a user's bad input into :class:`InputError` naming the file; nothing
raises a library exception.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from lxml import etree

from stridewise.engine.errors import InputError

if TYPE_CHECKING:
    from stridewise.engine.events import Event
    from stridewise.plugins.hookspecs import Skipped

#: Largest file (and largest decompressed gzip content) an adapter reads, in bytes.
MAX_BYTES = 64 * 1024 * 1024
#: How much of a file :func:`head_of` reads to sniff its format.
HEAD_BYTES = 4096

Format: TypeAlias = Literal["fit", "tcx", "gpx", "gzip"]

GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"
_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(gpx|TrainingCenterDatabase)[\s>/]")
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"


def read_file(path: Path, *, limit: int = MAX_BYTES) -> bytes:
    """Read a whole file, refusing files larger than ``limit`` bytes."""
    name = str(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", file=name) from None
    if len(data) > limit:
        raise InputError(f"file is larger than {_mb(limit)}; not an activity file", file=name)
    return data


def gunzip(data: bytes, name: str, *, limit: int = MAX_BYTES) -> bytes:
    """Decompress gzip ``data``, refusing content that expands beyond ``limit`` bytes."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            out = fh.read(limit + 1)
    except EOFError:
        raise InputError("gzip data is truncated (the file was cut short)", file=name) from None
    except (OSError, zlib.error) as exc:
        raise InputError(f"damaged gzip data ({exc})", file=name) from None
    if len(out) > limit:
        raise InputError(
            f"gzip content expands to more than {_mb(limit)}; refusing to unpack it", file=name
        )
    return out


def unwrap(data: bytes, name: str, *, limit: int = MAX_BYTES) -> bytes:
    """Return ``data`` itself, or its decompressed content when it is gzipped."""
    return gunzip(data, name, limit=limit) if data[:2] == GZIP_MAGIC else data


def head_of(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first ``size`` bytes of a file (of its content if gzipped); ``b""`` if unreadable."""
    try:
        if not path.is_file():
            return b""
        with path.open("rb") as fh:
            head = fh.read(size)
    except (OSError, ValueError):  # ValueError: a NUL byte in the path
        return b""
    if head[:2] == GZIP_MAGIC:
        try:
            return zlib.decompressobj(wbits=31).decompress(head, size)
        except zlib.error:
            return b""
    return head


def sniff(head: bytes) -> Format | None:
    """Guess a file's format from its first bytes: FIT, TCX, GPX, gzip or None."""
    if head[:2] == GZIP_MAGIC:
        return "gzip"
    if len(head) >= 12 and head[8:12] == b".FIT" and head[0] >= 12:
        return "fit"
    text = _ascii_view(head)
    if text.lstrip()[:1] != b"<":
        return None
    match = _ROOT.search(text)
    if match is None:
        return None
    return "gpx" if match.group(1) == b"gpx" else "tcx"


def _ascii_view(data: bytes) -> bytes:
    """``data`` with a UTF-8 BOM stripped, and UTF-16/32 reduced to its ASCII bytes."""
    if data.startswith(_UTF8_BOM):
        return data[3:]
    if b"\x00" in data[:4]:
        return data.replace(b"\x00", b"").lstrip(b"\xff\xfe")
    return data


def describe(kind: Format | None) -> str:
    """Plain words for what a sniffed file looks like, for error messages."""
    return {
        "fit": "a FIT file",
        "tcx": "a TCX file",
        "gpx": "a GPX file",
        "gzip": "gzip data",
    }.get(kind or "", "an unknown format")


def safe_xml_bytes(data: bytes, name: str) -> Any:
    """Parse XML without ever resolving entities, DTDs or network resources.

    Documents with a DOCTYPE or ENTITY declaration are refused before parsing (they are how
    "billion laughs" and external-entity attacks start; no activity format needs them).
    Returns the root element (an ``lxml.etree._Element``).
    """
    if _DTD.search(_ascii_view(data)):
        raise InputError(
            "XML with a DOCTYPE or ENTITY declaration is not accepted (activity files never "
            "need one)",
            file=name,
        )
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise InputError(f"not well-formed XML ({exc})", file=name) from None
    except (ValueError, etree.LxmlError) as exc:
        raise InputError(f"unreadable XML ({exc})", file=name) from None
    if root is None:
        raise InputError("empty XML document", file=name)
    if root.getroottree().docinfo.internalDTD is not None:  # belt and braces
        raise InputError("XML with a DOCTYPE declaration is not accepted", file=name)
    return root


def local_name(element: Any) -> str:
    """An element's tag without its namespace (``""`` for comments and the like)."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


@dataclasses.dataclass(slots=True)
class FileAdapter:
    """An :class:`~stridewise.plugins.Adapter` for single activity files of one format.

    ``parse(data, name)`` turns a file's bytes into one event or raises :class:`InputError`.
    """

    name: str
    description: str
    format: Format
    parse: Callable[[bytes, str], Event]

    def recognise(self, path: Path) -> bool:
        """True if the file's content (after gunzip) looks like this adapter's format."""
        return sniff(head_of(path)) == self.format

    def read(self, path: Path) -> Iterator[Event | Skipped]:
        """Yield the one activity in ``path``; raise :class:`InputError` if it is unusable."""
        yield self.parse(read_file(path), str(path))


@dataclasses.dataclass(slots=True)
class NotedFileAdapter(FileAdapter):
    """A :class:`FileAdapter` whose reader also says what it had to decide for the user.

    ``read_noted(data, name)`` returns the event and notes (e.g. "distance from the laps");
    each note is yielded as an importer ``Note`` after the event.
    """

    read_noted: Callable[[bytes, str], tuple[Event, list[str]]]

    def read(self, path: Path) -> Iterator[Event | Skipped | Any]:
        from stridewise.importer import Note

        event, notes = self.read_noted(read_file(path), str(path))
        yield event
        for note in notes:
            yield Note(str(path), note, event_id=event.id)
