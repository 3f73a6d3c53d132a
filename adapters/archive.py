"""Safe reading of untrusted zip archives and folders as one tree of named files.

An export (Strava, Garmin Connect) arrives as a zip file as downloaded or as the folder it was
unpacked into. :func:`open_tree` gives both the same small API (:class:`Tree`): ``names()``,
``read(name)``, ``read_decompressed(name)`` (gunzips ``*.gz``), ``open_text(name)`` and
``open_nested(name)`` for a zip inside the tree (the Garmin export keeps its FIT files in
zips inside the zip), read in memory under the same limits.

Everything here assumes the input is hostile:

* entry names that escape the root (absolute paths, drive letters, ``..``), symbolic links,
  duplicate names and encrypted entries are refused, for the whole archive, with an
  :class:`~stridewise.engine.errors.InputError` naming the entry;
* the number of entries is capped when the archive is opened (``max_entries``);
* every read is checked twice: the *declared* size before anything is inflated (against
  ``max_entry_bytes`` and what is left of ``max_total_bytes``), then the bytes *actually*
  produced while inflating, which may not exceed the declared size nor the limits. Deflate and
  stored entries are inflated here from the raw data (not through :mod:`zipfile`, which would
  silently cut an entry at its declared size), so a lying header is caught and reported as a
  zip bomb;
* ``max_total_bytes`` counts the bytes actually read, over the whole tree and every nested
  archive in it: an export may hold gigabytes of photos that are never read, and a bomb can
  never make us inflate more than the budget;
* nested archives are opened at most ``max_depth`` levels deep.

Each refusal names the limit that was hit (``max_entries``, ``max_entry_bytes``,
``max_total_bytes``, ``max_depth``) so a user who trusts the file knows what to raise.
"""

from __future__ import annotations

import abc
import dataclasses
import io
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from stridewise.engine.errors import InputError

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "Tree",
    "is_zip",
    "open_tree",
    "tree_from_files",
]

_CHUNK = 1 << 20  # 1 MiB: the most inflated in one step before the limits are checked again
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """Caps for reading one untrusted tree (an archive and everything nested in it)."""

    #: Bytes actually read (after inflating), summed over the tree and its nested archives.
    max_total_bytes: int = 2 * 1024**3
    #: Entries (files and folders) in one archive or folder tree.
    max_entries: int = 100_000
    #: Uncompressed bytes of any single entry.
    max_entry_bytes: int = 512 * 1024**2
    #: How many archives deep ``open_nested`` may go (the top-level tree is depth 0).
    max_depth: int = 2


DEFAULT_LIMITS = Limits()


class _Budget:
    """Bytes read so far across one tree and every archive nested in it."""

    __slots__ = ("limits", "used")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.used = 0

    def left(self) -> int:
        return max(0, self.limits.max_total_bytes - self.used)


def _fmt(n: int) -> str:
    return f"{n:,} bytes"


def _or_max(limit: int | None) -> int:
    return limit if limit is not None else 1 << 62


def _junk(head: str) -> bool:
    """Root entries that are not content: hidden files and macOS's ``__MACOSX/``."""
    return head.startswith(".") or head == "__MACOSX/"


def is_zip(path: Path) -> bool:
    """True if ``path`` is a readable file that starts like a zip archive (never raises).

    Only regular files are opened: a named pipe would block until someone writes to it.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return head in (b"PK\x03\x04", b"PK\x05\x06")  # a zip, or an empty zip


def safe_name(raw: str, *, where: str) -> str:
    """Normalise an entry name to ``a/b/c`` or raise InputError if it could escape the root."""
    if "\x00" in raw:
        raise InputError(
            f"entry {raw!r} has a NUL byte in its name; refusing the archive", file=where
        )
    name = raw.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        raise InputError(
            f"entry {raw!r} is an absolute path, which could write outside the archive's "
            "folder; refusing the archive",
            file=where,
        )
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InputError(
            f"entry {raw!r} climbs out of the archive with '..' (path traversal, 'zip slip'); "
            "refusing the archive",
            file=where,
        )
    return "/".join(parts)


class Tree(abc.ABC):
    """A read-only tree of files (a zip archive, a folder, or files held in memory).

    Names are relative, ``/``-separated and never start with ``/`` or contain ``..``.
    """

    def __init__(self, label: str, budget: _Budget, depth: int) -> None:
        #: How the tree is named in messages (the archive or folder path).
        self.label = label
        self._budget = budget
        self._depth = depth

    @property
    def limits(self) -> Limits:
        return self._budget.limits

    # -- listing ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def names(self) -> list[str]:
        """Every file in the tree (folders left out), sorted."""

    @abc.abstractmethod
    def is_file(self, name: str) -> bool:
        """True if ``name`` is a file in the tree."""

    def top_level(self) -> list[str]:
        """Entries at the root: files as ``name``, folders as ``name/``; hidden ones left out."""
        heads = {head + sep for head, sep, _ in (n.partition("/") for n in self.names())}
        return sorted(h for h in heads if not _junk(h))

    def base(self) -> str:
        """Where the content starts: ``""``, or ``"folder/"`` if the root holds only that folder.

        Zips and unpacked downloads often wrap everything in one folder (``export_1234/``).
        """
        top = self.top_level()
        return top[0] if len(top) == 1 and top[0].endswith("/") else ""

    def where(self, name: str) -> str:
        """``name`` as shown in messages: the tree's label, then the entry."""
        return f"{self.label}/{name}"

    # -- reading ---------------------------------------------------------------------------------

    def _require(self, name: str) -> None:
        """Raise InputError unless ``name`` is a file of the tree."""
        if not self.is_file(name):
            raise InputError(f"no file {name!r} in {self.label}", file=self.label)

    @abc.abstractmethod
    def _declared_size(self, name: str) -> int: ...

    @abc.abstractmethod
    def _chunks(self, name: str, cap: int) -> Iterator[bytes]:
        """Yield the entry's bytes; may stop once more than ``cap`` bytes were produced."""

    def read(self, name: str, *, limit: int | None = None) -> bytes:
        """The bytes of file ``name``, within the limits; InputError if it is missing or too big.

        ``limit`` caps this one read further (an activity file is never 512 MB): its refusal
        names it as ``limit <limit_name>``.
        """
        self._require(name)
        where = self.where(name)
        declared = self._declared_size(name)
        self._check_size(declared, where, declared=True, limit=limit)
        cap = min(self.limits.max_entry_bytes, self._budget.left(), _or_max(limit))
        out = bytearray()
        for chunk in self._chunks(name, cap):
            out += chunk
            self._check_size(len(out), where, declared=False, limit=limit)
            if len(out) > declared:
                raise InputError(
                    f"entry inflates beyond its declared size of {_fmt(declared)} (the declared "
                    "size is its limit: a zip bomb or a damaged archive); refusing it",
                    file=where,
                )
        self._budget.used += len(out)
        return bytes(out)

    def read_head(self, name: str, size: int = 64 * 1024) -> bytes:
        """At most the first ``size`` bytes of ``name``: a cheap peek at its content."""
        self._require(name)
        out = bytearray()
        for chunk in self._chunks(name, size):
            out += chunk
            if len(out) >= size:
                break
        del out[size:]
        self._budget.used += len(out)
        return bytes(out)

    def _check_size(
        self, size: int, where: str, *, declared: bool, limit: int | None = None
    ) -> None:
        what = "declares" if declared else "inflates to"
        more = "" if declared else "more than "
        limits = self.limits
        if limit is not None and size > limit:
            raise InputError(
                f"entry {what} {more}{_fmt(size)}, over the limit of {_fmt(limit)} for one "
                "activity file (limit MAX_BYTES; a zip bomb or not an activity file); refusing it",
                file=where,
            )
        if size > limits.max_entry_bytes:
            raise InputError(
                f"entry {what} {more}{_fmt(size)}, over the per-file limit of "
                f"{_fmt(limits.max_entry_bytes)} (limit max_entry_bytes); refusing it",
                file=where,
            )
        if size > self._budget.left():
            raise InputError(
                f"entry {what} {more}{_fmt(size)}, which would take the import past its total of "
                f"{_fmt(limits.max_total_bytes)} (limit max_total_bytes); refusing it",
                file=where,
            )

    def read_decompressed(self, name: str, *, limit: int | None = None) -> bytes:
        """Like :meth:`read`, but gunzips a ``*.gz`` file under the same limits."""
        data = self.read(name, limit=limit)
        if not name.lower().endswith(".gz"):
            return data
        return self._gunzip(data, self.where(name), limit)

    def _gunzip(self, data: bytes, where: str, limit: int | None = None) -> bytes:
        cap = min(self.limits.max_entry_bytes, self._budget.left(), _or_max(limit))
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = bytearray()
        pending = data
        try:
            while True:
                piece = inflater.decompress(pending, _CHUNK)
                pending = inflater.unconsumed_tail
                out += piece
                if len(out) > cap:
                    self._check_size(len(out), where, declared=False, limit=limit)
                if inflater.eof or (not piece and not pending):
                    break
            out += inflater.flush()
        except zlib.error as exc:
            raise InputError(f"not a valid gzip file ({exc})", file=where) from None
        if not inflater.eof:
            raise InputError("gzip data ends early (truncated file)", file=where)
        self._check_size(len(out), where, declared=False, limit=limit)
        self._budget.used += len(out)
        return bytes(out)

    def open_text(
        self, name: str, *, encoding: str = "utf-8-sig", errors: str = "strict"
    ) -> io.StringIO:
        """File ``name`` decoded to text (UTF-8 with or without a BOM by default)."""
        data = self.read(name)
        try:
            return io.StringIO(data.decode(encoding, errors), newline="")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"is not {encoding} text (bad byte at offset {exc.start})", file=self.where(name)
            ) from None

    def open_nested(self, name: str) -> Tree:
        """Open the zip archive ``name`` inside this tree, in memory, under the same limits."""
        where = self.where(name)
        if self._depth + 1 > self.limits.max_depth:
            raise InputError(
                f"archive nested more than {self.limits.max_depth} levels deep "
                "(limit max_depth); refusing it",
                file=where,
            )
        data = self.read(name)
        return _ZipTree(io.BytesIO(data), where, self._budget, self._depth + 1)

    # -- lifetime --------------------------------------------------------------------------------

    def close(self) -> None:  # noqa: B027 - optional hook: only trees holding a file need it
        """Release the open file, if any."""

    def __enter__(self) -> Tree:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _ZipTree(Tree):
    """A zip archive, from a file on disk or from bytes in memory."""

    def __init__(self, fh: BinaryIO, label: str, budget: _Budget, depth: int) -> None:
        super().__init__(label, budget, depth)
        self._fh = fh
        try:
            self._zip = zipfile.ZipFile(fh)
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            fh.close()
            raise InputError(f"not a readable zip archive ({exc})", file=label) from None
        except (NotImplementedError, RuntimeError, struct.error, IndexError) as exc:
            fh.close()
            raise InputError(f"not a readable zip archive ({exc})", file=label) from None
        try:
            self._infos = self._index(infos)
        except InputError:
            self.close()
            raise

    def _index(self, infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
        if len(infos) > self.limits.max_entries:
            raise InputError(
                f"archive holds {len(infos):,} entries, more than the limit of "
                f"{self.limits.max_entries:,} (limit max_entries); refusing it",
                file=self.label,
            )
        files: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = safe_name(info.filename, where=self.label)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise InputError(
                    f"entry {info.filename!r} is a symbolic link, which could point outside the "
                    "archive; refusing the archive",
                    file=self.label,
                )
            if info.is_dir() or not name:
                continue
            if info.flag_bits & 0x1:
                raise InputError(
                    f"entry {info.filename!r} is encrypted; export the data again without a "
                    "password",
                    file=self.label,
                )
            if name in files:
                raise InputError(
                    f"two entries are both named {name!r}; refusing the archive", file=self.label
                )
            files[name] = info
        return files

    def names(self) -> list[str]:
        return sorted(self._infos)

    def is_file(self, name: str) -> bool:
        return name in self._infos

    def _declared_size(self, name: str) -> int:
        return self._infos[name].file_size

    def _chunks(self, name: str, cap: int) -> Iterator[bytes]:
        info = self._infos[name]
        where = self.where(name)
        try:
            if info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                yield from self._raw_chunks(info, cap, where)
            else:  # bzip2, lzma: zipfile stops at the declared size and checks the CRC
                with self._zip.open(info) as member:
                    while chunk := member.read(_CHUNK):
                        yield chunk
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise InputError(f"cannot be read from the archive ({exc})", file=where) from None
        except (zlib.error, struct.error, RuntimeError) as exc:
            raise InputError(f"cannot be read from the archive ({exc})", file=where) from None

    def _raw_chunks(self, info: zipfile.ZipInfo, cap: int, where: str) -> Iterator[bytes]:
        """Inflate a stored or deflated entry from its raw bytes, checking the real size."""
        fh = self._fh
        fh.seek(info.header_offset)
        header = fh.read(_LOCAL_HEADER.size)
        if len(header) != _LOCAL_HEADER.size:
            raise InputError("local header is cut short (truncated archive)", file=where)
        fields = _LOCAL_HEADER.unpack(header)
        if fields[0] != _LOCAL_SIGNATURE:
            raise InputError("local header is damaged (bad signature)", file=where)
        fh.seek(info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10])
        left = info.compress_size
        inflater = zlib.decompressobj(-zlib.MAX_WBITS) if info.compress_type else None
        produced = 0
        crc = 0
        while left > 0 or (inflater is not None and not inflater.eof):
            raw = fh.read(min(_CHUNK, left)) if left > 0 else b""
            left -= len(raw)
            if not raw and left > 0:
                raise InputError("compressed data is cut short (truncated archive)", file=where)
            if inflater is None:
                pieces: Iterator[bytes] = iter((raw,))
            else:
                pieces = _inflate(inflater, raw)
            for piece in pieces:
                produced += len(piece)
                crc = zlib.crc32(piece, crc)
                yield piece
                if produced > cap:
                    return  # the caller reports the limit
            if not raw and inflater is not None and not inflater.eof:
                raise InputError("compressed data ends early (truncated archive)", file=where)
        if produced != info.file_size:
            raise InputError(
                f"entry holds {_fmt(produced)} but declares {_fmt(info.file_size)} "
                "(damaged or crafted archive)",
                file=where,
            )
        if crc != info.CRC:
            raise InputError("checksum (CRC-32) does not match: the archive is damaged", file=where)

    def close(self) -> None:
        zf = getattr(self, "_zip", None)
        if zf is not None:
            zf.close()
        self._fh.close()


def _inflate(inflater: zlib._Decompress, raw: bytes) -> Iterator[bytes]:
    """Feed ``raw`` to ``inflater`` and yield its output at most a chunk at a time."""
    pending = raw
    while True:
        piece = inflater.decompress(pending, _CHUNK)
        pending = inflater.unconsumed_tail
        if piece:
            yield piece
        if inflater.eof or (not piece and not pending):
            return


class _FolderTree(Tree):
    """An unpacked folder; symbolic links anywhere below the root are refused."""

    def __init__(self, root: Path, budget: _Budget) -> None:
        super().__init__(str(root), budget, 0)
        self._root = root
        self._listing: list[str] | None = None

    def names(self) -> list[str]:
        if self._listing is None:
            self._listing = sorted(self._walk())
        return list(self._listing)

    def _walk(self) -> Iterator[str]:
        count = 0
        stack: list[tuple[Path, str]] = [(self._root, "")]
        while stack:
            folder, prefix = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError as exc:
                raise InputError(f"cannot list folder ({exc.strerror})", file=str(folder)) from None
            for entry in entries:
                count += 1
                if count > self.limits.max_entries:
                    raise InputError(
                        f"folder holds more than {self.limits.max_entries:,} entries "
                        "(limit max_entries); refusing it",
                        file=self.label,
                    )
                rel = f"{prefix}{entry.name}"
                if entry.is_symlink():
                    raise InputError(
                        f"{rel!r} is a symbolic link, which could point outside the folder; "
                        "refusing the folder (copy the real file in instead)",
                        file=self.label,
                    )
                if entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), rel + "/"))
                elif entry.is_file(follow_symlinks=False):
                    yield rel

    def top_level(self) -> list[str]:
        """Like :meth:`Tree.top_level`, listing only the root folder (not the whole tree)."""
        try:
            entries = list(os.scandir(self._root))
        except OSError as exc:
            raise InputError(f"cannot list folder ({exc.strerror})", file=self.label) from None
        heads = [
            e.name + ("/" if e.is_dir(follow_symlinks=False) else "")
            for e in entries[: self.limits.max_entries]
        ]
        return sorted(h for h in heads if not _junk(h))

    def is_file(self, name: str) -> bool:
        try:
            return stat.S_ISREG(self._lstat(name).st_mode)
        except (InputError, OSError):
            return False

    def _require(self, name: str) -> None:
        try:
            mode = self._lstat(name).st_mode
        except OSError:
            mode = 0
        if not stat.S_ISREG(mode):
            raise InputError(f"no file {name!r} in {self.label}", file=self.label)

    def _path(self, name: str) -> Path:
        clean = safe_name(name, where=self.label)
        if not clean:
            raise InputError("empty file name", file=self.label)
        return self._root.joinpath(*clean.split("/"))

    def _lstat(self, name: str) -> os.stat_result:
        """lstat every component below the root, refusing symbolic links."""
        clean = safe_name(name, where=self.label)
        current = self._root
        result: os.stat_result | None = None
        for part in clean.split("/"):
            current = current / part
            result = os.lstat(current)
            if stat.S_ISLNK(result.st_mode):
                raise InputError(
                    f"{name!r} goes through a symbolic link; refusing it", file=self.label
                )
        if result is None:
            raise InputError("empty file name", file=self.label)
        return result

    def _declared_size(self, name: str) -> int:
        try:
            return self._lstat(name).st_size
        except OSError as exc:
            raise InputError(f"cannot read ({exc.strerror})", file=self.where(name)) from None

    def _chunks(self, name: str, cap: int) -> Iterator[bytes]:
        try:
            with open(self._path(name), "rb") as fh:
                got = 0
                while got <= cap and (chunk := fh.read(min(_CHUNK, cap + 1 - got))):
                    got += len(chunk)
                    yield chunk
        except OSError as exc:
            raise InputError(f"cannot read ({exc.strerror})", file=self.where(name)) from None


class _MemoryTree(Tree):
    """Files held in memory (tests, and readers handed bytes rather than a path)."""

    def __init__(self, files: Mapping[str, bytes], label: str, budget: _Budget) -> None:
        super().__init__(label, budget, 0)
        if len(files) > self.limits.max_entries:
            raise InputError(
                f"holds more than {self.limits.max_entries:,} entries (limit max_entries)",
                file=label,
            )
        self._files = {safe_name(k, where=label): bytes(v) for k, v in files.items()}

    def names(self) -> list[str]:
        return sorted(self._files)

    def is_file(self, name: str) -> bool:
        return name in self._files

    def _declared_size(self, name: str) -> int:
        return len(self._files[name])

    def _chunks(self, name: str, cap: int) -> Iterator[bytes]:
        data = self._files[name]
        for start in range(0, len(data), _CHUNK):
            yield data[start : start + _CHUNK]


def open_tree(path: Path | str, *, limits: Limits = DEFAULT_LIMITS) -> Tree:
    """Open a zip archive or a folder as a :class:`Tree` (use it as a context manager)."""
    path = Path(path)
    budget = _Budget(limits)
    try:
        if path.is_dir():
            return _FolderTree(path, budget)
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise InputError(
                "not a regular file (a named pipe or device?): not opened", file=str(path)
            )
        fh = open(path, "rb")  # noqa: SIM115 - the tree owns and closes it
    except OSError as exc:
        raise InputError(f"cannot open ({exc.strerror})", file=str(path)) from None
    return _ZipTree(fh, str(path), budget, 0)


def tree_from_files(
    files: Mapping[str, bytes], *, label: str = "<memory>", limits: Limits = DEFAULT_LIMITS
) -> Tree:
    """A :class:`Tree` over files held in memory, under the same limits as an archive."""
    return _MemoryTree(files, label, _Budget(limits))
