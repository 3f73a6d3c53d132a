"""Safe reading of untrusted zip archives and folders (stridewise.adapters.archive)."""

from __future__ import annotations

import gzip
import io
import os
import stat
import struct
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stridewise.adapters.archive import Limits, open_tree, tree_from_files
from stridewise.engine.errors import InputError

MiB = 1024 * 1024


def make_zip(
    path: Path, entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED
) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data, compression)
    return path


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def lie_about_size(data: bytes, declared: int) -> bytes:
    """Rewrite the (only) entry's uncompressed size in both headers: a classic zip bomb trick."""
    raw = bytearray(data)
    struct.pack_into("<I", raw, 22, declared)  # local file header
    central = raw.find(b"PK\x01\x02")
    struct.pack_into("<I", raw, central + 24, declared)  # central directory
    return bytes(raw)


# ---------------------------------------------------------------------------------------------
# Ordinary reading
# ---------------------------------------------------------------------------------------------


def test_zip_and_folder_read_the_same(tmp_path: Path) -> None:
    entries = {"a/b.txt": b"hello " * 1000, "c.bin": bytes(range(256)), "d/e/f.csv": b"x,y\n1,2\n"}
    archive = make_zip(tmp_path / "t.zip", entries)
    folder = tmp_path / "unpacked"
    for name, data in entries.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    with open_tree(archive) as zt, open_tree(folder) as ft:
        assert zt.names() == ft.names() == sorted(entries)
        for name, data in entries.items():
            assert zt.read(name) == ft.read(name) == data
        assert zt.open_text("d/e/f.csv").read() == "x,y\n1,2\n"
        assert zt.top_level() == ft.top_level() == ["a/", "c.bin", "d/"]
        assert zt.base() == ft.base() == ""
        assert zt.read_head("a/b.txt", 5) == ft.read_head("a/b.txt", 5) == b"hello"


def test_wrapper_folder_is_the_base(tmp_path: Path) -> None:
    entries = {"export_12/activities.csv": b"x", "__MACOSX/._activities.csv": b"", ".DS_Store": b""}
    archive = make_zip(tmp_path / "w.zip", entries)
    folder = tmp_path / "w"
    for name, data in entries.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    with open_tree(archive) as zt, open_tree(folder) as ft:
        assert zt.base() == ft.base() == "export_12/"
    (folder / "other.txt").write_bytes(b"")
    with open_tree(folder) as ft:
        assert ft.base() == ""


def test_stored_entries_and_gzip(tmp_path: Path) -> None:
    payload = b"FIT data" * 100
    archive = make_zip(
        tmp_path / "s.zip", {"x.fit.gz": gzip.compress(payload)}, compression=zipfile.ZIP_STORED
    )
    with open_tree(archive) as tree:
        assert tree.read_decompressed("x.fit.gz") == payload


def test_missing_entry_and_not_a_zip(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "t.zip", {"a": b"1"})
    with open_tree(archive) as tree, pytest.raises(InputError, match="no file 'b'"):
        tree.read("b")
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(InputError, match="not a readable zip"):
        open_tree(junk)
    with pytest.raises(InputError, match="cannot open"):
        open_tree(tmp_path / "absent.zip")


def test_crc_mismatch_is_refused(tmp_path: Path) -> None:
    data = bytearray(zip_bytes({"a.txt": b"important numbers"}))
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 16, 0xDEADBEEF)  # CRC in the central directory
    (tmp_path / "c.zip").write_bytes(bytes(data))
    with open_tree(tmp_path / "c.zip") as tree, pytest.raises(InputError, match="CRC-32"):
        tree.read("a.txt")


def test_truncated_archive(tmp_path: Path) -> None:
    data = zip_bytes({"a.txt": os.urandom(4000)})
    (tmp_path / "t.zip").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError), open_tree(tmp_path / "t.zip") as tree:
        tree.read("a.txt")


# ---------------------------------------------------------------------------------------------
# Entries that escape the root
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("../evil", "zip slip"),
        ("a/../../evil", "zip slip"),
        ("..\\evil.bat", "zip slip"),
        ("/etc/passwd", "absolute path"),
        ("C:/Windows/evil.dll", "absolute path"),
    ],
)
def test_escaping_names_are_refused(tmp_path: Path, name: str, words: str) -> None:
    archive = make_zip(tmp_path / "evil.zip", {"ok.txt": b"fine", name: b"pwned"})
    with pytest.raises(InputError, match=words) as caught:
        open_tree(archive)
    assert "refusing the archive" in str(caught.value)
    assert not (tmp_path.parent / "evil").exists()


def test_symlink_entry_is_refused(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("link", date_time=(2020, 1, 1, 0, 0, 0))
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(tmp_path / "l.zip", "w") as zf:
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(InputError, match="symbolic link"):
        open_tree(tmp_path / "l.zip")


def test_symlink_in_folder_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "export"
    root.mkdir()
    (root / "a.csv").write_text("x")
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (root / "link.csv").symlink_to(outside)
    with open_tree(root) as tree, pytest.raises(InputError, match="symbolic link"):
        tree.names()
        with pytest.raises(InputError):
            tree.read("link.csv")
        assert tree.read("a.csv") == b"x"
        with pytest.raises(InputError, match="zip slip"):
            tree.read("../secret.txt")


def test_duplicate_and_encrypted_entries(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as zf:
        zf.writestr("a.txt", b"1")
        zf.writestr("./a.txt", b"2")
    with pytest.raises(InputError, match="both named"):
        open_tree(tmp_path / "d.zip")
    raw = bytearray(zip_bytes({"secret.txt": b"not really encrypted"}))
    struct.pack_into("<H", raw, 6, 0x1)  # general purpose flags: encrypted (local header)
    struct.pack_into("<H", raw, raw.find(b"PK\x01\x02") + 8, 0x1)  # and central directory
    (tmp_path / "e.zip").write_bytes(bytes(raw))
    with pytest.raises(InputError, match="encrypted"):
        open_tree(tmp_path / "e.zip")


# ---------------------------------------------------------------------------------------------
# Limits and bombs
# ---------------------------------------------------------------------------------------------


def test_too_many_entries(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "many.zip", {f"f{i}.txt": b"" for i in range(11)})
    with pytest.raises(InputError, match="max_entries"):
        open_tree(archive, limits=Limits(max_entries=10))
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(11):
        (folder / f"f{i}.txt").write_bytes(b"")
    with (
        open_tree(folder, limits=Limits(max_entries=10)) as tree,
        pytest.raises(InputError, match="max_entries"),
    ):
        tree.names()


def test_declared_size_over_the_limit(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "big.zip", {"big.bin": b"\0" * 5000})
    with (
        open_tree(archive, limits=Limits(max_entry_bytes=1000)) as tree,
        pytest.raises(InputError, match=r"declares 5,000 bytes.*max_entry_bytes"),
    ):
        tree.read("big.bin")


def test_actual_size_over_the_limit_despite_small_declaration(tmp_path: Path) -> None:
    """Deflate and stored data are inflated here, so a lying header cannot slip through."""
    (tmp_path / "bomb.zip").write_bytes(lie_about_size(zip_bytes({"bomb": b"\0" * (8 * MiB)}), 100))
    with (
        open_tree(tmp_path / "bomb.zip") as tree,
        pytest.raises(InputError, match=r"beyond its declared size of 100 bytes.*zip bomb"),
    ):
        tree.read("bomb")
    # A declaration between the real size and the limit: the limit is what stops it.
    big = lie_about_size(zip_bytes({"bomb": b"\0" * (8 * MiB)}), 3 * MiB)
    (tmp_path / "bomb2.zip").write_bytes(big)
    with (
        open_tree(tmp_path / "bomb2.zip", limits=Limits(max_entry_bytes=3 * MiB)) as tree,
        pytest.raises(InputError, match=r"inflates to more than.*max_entry_bytes"),
    ):
        tree.read("bomb")


def test_total_budget_counts_what_is_read(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "t.zip", {f"{i}.bin": b"\1" * 4000 for i in range(5)})
    with open_tree(archive, limits=Limits(max_total_bytes=10_000)) as tree:
        tree.read("0.bin")
        tree.read("1.bin")
        with pytest.raises(InputError, match="max_total_bytes"):
            tree.read("2.bin")


def test_gzip_bomb(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "g.zip", {"a.fit.gz": gzip.compress(b"\0" * (4 * MiB))})
    with (
        open_tree(archive, limits=Limits(max_entry_bytes=1 * MiB)) as tree,
        pytest.raises(InputError, match="max_entry_bytes"),
    ):
        tree.read_decompressed("a.fit.gz")
    archive = make_zip(tmp_path / "h.zip", {"b.gpx.gz": b"\x1f\x8b not gzip"})
    with open_tree(archive) as tree, pytest.raises(InputError, match="gzip"):
        tree.read_decompressed("b.gpx.gz")


def test_nested_zip_bomb_shares_the_limits(tmp_path: Path) -> None:
    inner = zip_bytes({f"part{i}.fit": b"\0" * (3 * MiB) for i in range(4)})
    assert len(inner) < 100_000  # tiny on the outside
    archive = make_zip(tmp_path / "outer.zip", {"DI_CONNECT/UploadedFiles_0.zip": inner})
    limits = Limits(max_entry_bytes=4 * MiB, max_total_bytes=8 * MiB)
    with open_tree(archive, limits=limits) as tree:
        nested = tree.open_nested("DI_CONNECT/UploadedFiles_0.zip")
        nested.read("part0.fit")
        nested.read("part1.fit")
        with pytest.raises(InputError, match="max_total_bytes") as caught:
            nested.read("part2.fit")
        assert "UploadedFiles_0.zip/part2.fit" in str(caught.value)
    # A lying nested entry is caught the same way.
    liar = lie_about_size(zip_bytes({"x.fit": b"\0" * (6 * MiB)}), 10)
    archive = make_zip(tmp_path / "outer2.zip", {"in.zip": liar})
    with (
        open_tree(archive, limits=Limits(max_entry_bytes=4 * MiB)) as tree,
        pytest.raises(InputError, match="declared size of 10 bytes"),
    ):
        tree.open_nested("in.zip").read("x.fit")


def test_nesting_depth(tmp_path: Path) -> None:
    level2 = zip_bytes({"deep.txt": b"deep"})
    level1 = zip_bytes({"l2.zip": level2})
    archive = make_zip(tmp_path / "l0.zip", {"l1.zip": level1})
    with open_tree(archive, limits=Limits(max_depth=1)) as tree:
        inner = tree.open_nested("l1.zip")
        with pytest.raises(InputError, match="max_depth"):
            inner.open_nested("l2.zip")
    with open_tree(archive, limits=Limits(max_depth=2)) as tree:
        assert tree.open_nested("l1.zip").open_nested("l2.zip").read("deep.txt") == b"deep"


def test_memory_tree() -> None:
    tree = tree_from_files({"a/b.csv": b"1,2\n"}, limits=Limits(max_entry_bytes=3))
    assert tree.names() == ["a/b.csv"]
    with pytest.raises(InputError, match="max_entry_bytes"):
        tree.read("a/b.csv")
    with pytest.raises(InputError, match="zip slip"):
        tree_from_files({"../x": b""})


def test_text_decoding() -> None:
    tree = tree_from_files({"bom.csv": b"\xef\xbb\xbfa,b\n", "bad.csv": b"a\xff"})
    assert tree.open_text("bom.csv").read() == "a,b\n"
    with pytest.raises(InputError, match="offset 1"):
        tree.open_text("bad.csv")
    assert tree.open_text("bad.csv", errors="replace").read() == "a\ufffd"


@settings(
    max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=600), st.integers(min_value=0, max_value=400))
def test_damaged_archives_only_raise_input_error(tmp_path: Path, junk: bytes, cut: int) -> None:
    good = zip_bytes({"a.csv": b"id,x\n1,2\n" * 20, "b/c.fit.gz": gzip.compress(b"abc" * 50)})
    data = bytearray(good)
    data[cut : cut + len(junk)] = junk
    path = tmp_path / "fuzz.zip"
    path.write_bytes(bytes(data))
    try:
        with open_tree(path) as tree:
            for name in tree.names():
                tree.read_decompressed(name)
    except InputError:
        pass
