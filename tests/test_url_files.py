"""The virtual NAME.url siblings and the user.octofs.* attributes."""
import errno
import os
import stat

import pytest

from conftest import xattr, xattr_errno, write_file, read_file


def test_sibling_listed_read_only(mnt, server):
    write_file(mnt.path("a.txt"), b"a")
    url = xattr(mnt.path("a.txt"))
    names = os.listdir(mnt.path())
    assert sorted(names) == ["a.txt", "a.txt.url"]
    st = os.stat(mnt.path("a.txt.url"))
    assert stat.S_ISREG(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o444
    assert st.st_size == len(url) + 1
    assert st.st_ino != os.stat(mnt.path("a.txt")).st_ino
    assert not os.path.exists(mnt.store_path("a.txt.url"))


def test_sibling_not_writable(mnt):
    write_file(mnt.path("a.txt"), b"a")
    xattr(mnt.path("a.txt"))
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC):
        with pytest.raises(PermissionError):
            os.open(mnt.path("a.txt.url"), flags)
    with pytest.raises(PermissionError):
        os.truncate(mnt.path("a.txt.url"), 0)


def test_unlink_sibling_forgets_url(mnt, server):
    write_file(mnt.path("a.txt"), b"a")
    url = xattr(mnt.path("a.txt"))
    os.unlink(mnt.path("a.txt.url"))
    assert not os.path.exists(mnt.path("a.txt.url"))
    assert xattr_errno(mnt.path("a.txt"), "user.octofs.url") == errno.ENODATA
    assert xattr_errno(mnt.path("a.txt"), "user.octofs.status") == \
        errno.ENODATA
    assert read_file(mnt.path("a.txt")) == b"a"
    assert server.fetch(url) == b"a"      # the object stays on the server


def test_rm_rf_directory(mnt):
    os.makedirs(mnt.path("d", "e"))
    for p in (("d", "x"), ("d", "e", "y")):
        write_file(mnt.path(*p), b"data")
        xattr(mnt.path(*p))
    assert "x.url" in os.listdir(mnt.path("d"))
    import subprocess
    subprocess.run(["rm", "-rf", mnt.path("d")], check=True)
    assert not os.path.exists(mnt.path("d"))
    assert not os.path.exists(mnt.store_path("d"))


def test_real_file_wins(mnt):
    write_file(mnt.path("a"), b"a")
    xattr(mnt.path("a"))
    with pytest.raises(PermissionError):
        write_file(mnt.path("a.url"), b"through the mount\n")
    write_file(mnt.store_path("a.url"), b"my own file\n")
    assert read_file(mnt.path("a.url")) == b"my own file\n"
    assert os.listdir(mnt.path()).count("a.url") == 1


def test_sibling_in_subdirectories(mnt, server):
    os.makedirs(mnt.path("one", "two", "three"))
    write_file(mnt.path("one", "two", "three", "f.bin"), b"deep")
    url = read_file(mnt.path("one", "two", "three", "f.bin.url")).decode()
    assert server.fetch(url.strip()) == b"deep"
    assert "f.bin.url" in os.listdir(mnt.path("one", "two", "three"))


def test_no_sibling_without_upload(mnt):
    os.mkdir(mnt.path("dir"))
    os.symlink("target", mnt.path("link"))
    assert not os.path.exists(mnt.path("dir.url"))
    assert not os.path.lexists(mnt.path("link.url"))
    assert not os.path.exists(mnt.path("missing.url"))
    assert sorted(os.listdir(mnt.path())) == ["dir", "link"]


def test_url_files_off(server, mounts):
    m = mounts(server, opts=["url_files=0", "url_wait=30"])
    write_file(m.path("a.txt"), b"a")
    assert xattr(m.path("a.txt")).startswith(server.url)
    assert os.listdir(m.path()) == ["a.txt"]
    assert not os.path.exists(m.path("a.txt.url"))


def test_own_attributes_read_only(mnt):
    write_file(mnt.path("a.txt"), b"a")
    xattr(mnt.path("a.txt"))
    for name in ("user.octofs.url", "user.octofs.key", "user.octofs.error"):
        with pytest.raises(OSError) as e:
            os.setxattr(mnt.path("a.txt"), name, b"x")
        assert e.value.errno == errno.EPERM
        with pytest.raises(OSError) as e:
            os.removexattr(mnt.path("a.txt"), name)
        assert e.value.errno == errno.EPERM
    with pytest.raises(OSError) as e:
        os.setxattr(mnt.path("a.txt"), "user.octofs.status", b"done")
    assert e.value.errno == errno.EINVAL


def test_other_user_attributes_pass_through(mnt):
    write_file(mnt.path("a.txt"), b"a")
    os.setxattr(mnt.path("a.txt"), "user.comment", b"hello")
    assert os.getxattr(mnt.path("a.txt"), "user.comment") == b"hello"
    assert os.getxattr(mnt.store_path("a.txt"), "user.comment") == b"hello"
    assert "user.comment" in os.listxattr(mnt.path("a.txt"))
    os.removexattr(mnt.path("a.txt"), "user.comment")
    assert "user.comment" not in os.listxattr(mnt.store_path("a.txt"))


def test_state_kept_in_store(mnt, server):
    write_file(mnt.path("a.txt"), b"a")
    url = xattr(mnt.path("a.txt"))
    assert os.getxattr(mnt.store_path("a.txt"),
                       "user.octofs.url").decode() == url
    assert os.getxattr(mnt.store_path("a.txt"),
                       "user.octofs.status") == b"done"
    assert "user.octofs.url" in os.listxattr(mnt.path("a.txt"))
