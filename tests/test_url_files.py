"""The virtual NAME.url siblings and the user.octofs.* attributes."""
import ctypes
import errno
import os
import stat
import struct

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


FOREIGN = ("security.selinux", "system.posix_acl_access",
           "system.posix_acl_default")


def test_acls_and_labels_not_supported(mnt):
    """The mount neither enforces POSIX ACLs nor takes SELinux labels
    from the store, so it does not show or take them: "not supported",
    as on a filesystem without them, while other names pass through."""
    os.mkdir(mnt.path("d"))
    write_file(mnt.path("d", "f"), b"f")
    acl = struct.pack("<IHHIHHIHHI", 2, 0x01, 6, 0xffffffff, 0x04, 4,
                      0xffffffff, 0x20, 4, 0xffffffff)
    for name in ("d", "d/f"):
        store = mnt.store_path(name)
        os.setxattr(store, "security.selinux", b"system_u:object_r:x:s0")
        os.setxattr(store, "system.posix_acl_access", acl)
        os.setxattr(store, "user.kept", b"yes")
        listed = os.listxattr(mnt.path(name))
        assert "user.kept" in listed
        assert not set(FOREIGN) & set(listed), listed
        for attr in FOREIGN:
            assert xattr_errno(mnt.path(name), attr) == errno.EOPNOTSUPP
            if attr.endswith("_default") and name != "d":
                continue    # the kernel refuses it first: EACCES
            for call in (lambda p: os.setxattr(p, attr, acl),
                         lambda p: os.removexattr(p, attr)):
                with pytest.raises(OSError) as e:
                    call(mnt.path(name))
                assert e.value.errno == errno.EOPNOTSUPP
        assert os.getxattr(mnt.store_path(name), "security.selinux")
    for attr in FOREIGN:
        assert xattr_errno(mnt.path("d", "f.url"), attr) == errno.EOPNOTSUPP


def test_listxattr_length_is_the_filtered_list(mnt):
    """listxattr(path, NULL, 0) gives the length of the list it then
    returns, with the unsupported names left out."""
    libc = ctypes.CDLL(None, use_errno=True)
    write_file(mnt.path("a"), b"a")
    os.setxattr(mnt.store_path("a"), "security.selinux", b"label")
    os.setxattr(mnt.store_path("a"), "user.one", b"1")
    path = mnt.path("a").encode()
    size = libc.listxattr(path, None, 0)
    assert size > 0, os.strerror(ctypes.get_errno())
    buf = ctypes.create_string_buffer(size)
    assert libc.listxattr(path, buf, size) == size
    names = buf.raw.split(b"\0")[:-1]
    assert b"user.one" in names
    assert b"security.selinux" not in names


def test_state_kept_in_store(mnt, server):
    write_file(mnt.path("a.txt"), b"a")
    url = xattr(mnt.path("a.txt"))
    assert os.getxattr(mnt.store_path("a.txt"),
                       "user.octofs.url").decode() == url
    assert os.getxattr(mnt.store_path("a.txt"),
                       "user.octofs.status") == b"done"
    assert "user.octofs.url" in os.listxattr(mnt.path("a.txt"))


def test_open_waits_for_the_upload_and_its_size(server, mounts):
    """A reader that reads no more than the size it finds once the file is
    open (Samba's clients, a web server's Content-Length) gets the whole
    URL, not the 0 bytes a pending NAME.url has."""
    server.add_fault("put", "delay", seconds=2, count=1)
    m = mounts(server, opts=["url_wait=30"])
    write_file(m.path("f.txt"), b"f")
    m.wait_status(m.path("f.txt"), "uploading")
    fd = os.open(m.path("f.txt.url"), os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        line = os.read(fd, size)
    finally:
        os.close(fd)
    url = xattr(m.path("f.txt"))
    assert line == (url + "\n").encode()
    assert size == len(url) + 1


def test_nonblocking_open_of_pending_url_would_block(server, mounts):
    """O_NONBLOCK (Samba opens so) gets EAGAIN while the upload runs, as
    an open held up by a lease break does, and the file once it is done."""
    server.add_fault("put", "delay", seconds=3, count=1)
    m = mounts(server, opts=["url_wait=30"])
    write_file(m.path("f.txt"), b"f")
    m.wait_status(m.path("f.txt"), "uploading")
    with pytest.raises(BlockingIOError):
        os.open(m.path("f.txt.url"), os.O_RDONLY | os.O_NONBLOCK)
    url = xattr(m.path("f.txt"))
    fd = os.open(m.path("f.txt.url"), os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert os.fstat(fd).st_size == len(url) + 1
        assert os.read(fd, 4096) == (url + "\n").encode()
    finally:
        os.close(fd)
