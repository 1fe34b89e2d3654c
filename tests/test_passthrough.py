"""The mount behaves like the store it passes through to."""
import errno
import os
import stat

import pytest

from conftest import write_file, read_file


def test_files_land_in_store(mnt):
    write_file(mnt.path("a.txt"), b"in the store")
    assert read_file(mnt.store_path("a.txt")) == b"in the store"


def test_real_inode_numbers(mnt):
    write_file(mnt.path("a.txt"), b"x")
    os.mkdir(mnt.path("d"))
    for name in ("a.txt", "d"):
        assert os.stat(mnt.path(name)).st_ino == \
            os.stat(mnt.store_path(name)).st_ino


def test_directories_and_renames(mnt):
    os.makedirs(mnt.path("a", "b"))
    write_file(mnt.path("a", "b", "f"), b"f")
    os.rename(mnt.path("a", "b", "f"), mnt.path("a", "g"))
    assert read_file(mnt.store_path("a", "g")) == b"f"
    with pytest.raises(OSError) as e:
        os.rmdir(mnt.path("a"))
    assert e.value.errno == errno.ENOTEMPTY
    os.unlink(mnt.path("a", "g"))
    os.rmdir(mnt.path("a", "b"))
    os.rmdir(mnt.path("a"))
    assert os.listdir(mnt.store_path()) == []


def test_errors_match_a_local_filesystem(mnt):
    with pytest.raises(FileNotFoundError):
        os.stat(mnt.path("nope"))
    os.mkdir(mnt.path("d"))
    with pytest.raises(FileExistsError):
        os.mkdir(mnt.path("d"))
    with pytest.raises(IsADirectoryError):
        open(mnt.path("d"), "wb")
    write_file(mnt.path("f"), b"")
    with pytest.raises(NotADirectoryError):
        os.stat(mnt.path("f", "x"))
    with pytest.raises(FileExistsError):
        os.open(mnt.path("f"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)


def test_symlinks_and_modes(mnt):
    write_file(mnt.path("target"), b"t")
    os.symlink("target", mnt.path("link"))
    assert os.readlink(mnt.path("link")) == "target"
    assert os.path.islink(mnt.store_path("link"))
    os.chmod(mnt.path("target"), 0o640)
    assert stat.S_IMODE(os.stat(mnt.store_path("target")).st_mode) == 0o640
    os.utime(mnt.path("target"), ns=(1_000_000_123, 2_000_000_456))
    st = os.stat(mnt.store_path("target"))
    assert st.st_mtime_ns == 2_000_000_456


def test_truncate_and_seek(mnt):
    write_file(mnt.path("f"), b"0123456789")
    os.truncate(mnt.path("f"), 4)
    assert read_file(mnt.store_path("f")) == b"0123"
    with open(mnt.path("f"), "r+b") as f:
        f.seek(8)
        f.write(b"X")
    assert read_file(mnt.path("f")) == b"0123\0\0\0\0X"


def test_statfs(mnt):
    assert os.statvfs(mnt.path()).f_bsize == os.statvfs(mnt.store).f_bsize


def test_long_names(mnt):
    name = "n" * 255
    write_file(mnt.path(name), b"long")
    assert read_file(mnt.store_path(name)) == b"long"
    # 255 bytes leaves no room for ".url": no sibling, and no error.
    assert os.listdir(mnt.path()) == [name]
