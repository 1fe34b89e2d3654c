"""The kernel caches NAME.url names and attributes like any others (ls -l
then costs no request per sibling); whatever changes what a sibling shows
makes the kernel ask again, so no cached answer outlives the change.

Each test first stats the sibling twice, so that the kernel holds it, and
then checks the answer right after the change, with no wait between."""
import ctypes
import errno
import os

import pytest

from conftest import wait_until, xattr, xattr_errno, write_file, read_file

AT_FDCWD = -100
RENAME_EXCHANGE = 2


def cached(path):
    """Stat @path twice: the kernel now holds its name and attributes."""
    st = os.stat(path)
    assert os.stat(path).st_ino == st.st_ino
    return st


def gone(path):
    with pytest.raises(FileNotFoundError):
        os.stat(path)
    with pytest.raises(FileNotFoundError):
        open(path, "rb").close()


def url_line(path):
    return read_file(path).decode()


def shows(sibling, path):
    """The sibling's attributes are those of @path's sibling now."""
    st, target = os.stat(sibling), os.stat(path)
    assert st.st_ino == target.st_ino ^ (1 << 63)
    assert st.st_mtime_ns == target.st_mtime_ns


def test_unlink_removes_cached_sibling(mnt):
    write_file(mnt.path("a.txt"), b"a")
    xattr(mnt.path("a.txt"))
    cached(mnt.path("a.txt.url"))
    os.unlink(mnt.path("a.txt"))
    gone(mnt.path("a.txt.url"))
    assert "a.txt.url" not in os.listdir(mnt.path())
    # The name is free for a real file at once.
    write_file(mnt.path("a.txt.url"), b"mine")
    assert read_file(mnt.path("a.txt.url")) == b"mine"
    assert read_file(mnt.store_path("a.txt.url")) == b"mine"


def test_rename_moves_cached_sibling(mnt):
    write_file(mnt.path("a.txt"), b"a")
    url = xattr(mnt.path("a.txt"))
    cached(mnt.path("a.txt.url"))
    os.rename(mnt.path("a.txt"), mnt.path("b.txt"))
    gone(mnt.path("a.txt.url"))
    assert url_line(mnt.path("b.txt.url")) == url + "\n"
    cached(mnt.path("b.txt.url"))
    # Finding the file under its new name does not revive the old one.
    gone(mnt.path("a.txt.url"))


def test_rename_between_directories(mnt):
    os.mkdir(mnt.path("d"))
    write_file(mnt.path("a.txt"), b"a")
    url = xattr(mnt.path("a.txt"))
    cached(mnt.path("a.txt.url"))
    os.rename(mnt.path("a.txt"), mnt.path("d", "a.txt"))
    gone(mnt.path("a.txt.url"))
    assert url_line(mnt.path("d", "a.txt.url")) == url + "\n"


def test_rename_over_shows_the_new_file(mnt):
    write_file(mnt.path("a.txt"), b"a")
    write_file(mnt.path("b.txt"), b"bb")
    url_a = xattr(mnt.path("a.txt"))
    url_b = xattr(mnt.path("b.txt"))
    assert cached(mnt.path("b.txt.url")).st_size == len(url_b) + 1
    os.rename(mnt.path("a.txt"), mnt.path("b.txt"))
    shows(mnt.path("b.txt.url"), mnt.path("b.txt"))
    assert url_line(mnt.path("b.txt.url")) == url_a + "\n"
    gone(mnt.path("a.txt.url"))


def test_exchange_swaps_siblings(mnt):
    write_file(mnt.path("a.txt"), b"a")
    write_file(mnt.path("b.txt"), b"bbbb")
    url_a = xattr(mnt.path("a.txt"))
    url_b = xattr(mnt.path("b.txt"))
    cached(mnt.path("a.txt.url"))
    cached(mnt.path("b.txt.url"))
    libc = ctypes.CDLL(None, use_errno=True)
    res = libc.renameat2(AT_FDCWD, mnt.path("a.txt").encode(), AT_FDCWD,
                         mnt.path("b.txt").encode(), RENAME_EXCHANGE)
    assert res == 0, os.strerror(ctypes.get_errno())
    shows(mnt.path("a.txt.url"), mnt.path("a.txt"))
    shows(mnt.path("b.txt.url"), mnt.path("b.txt"))
    assert url_line(mnt.path("a.txt.url")) == url_b + "\n"
    assert url_line(mnt.path("b.txt.url")) == url_a + "\n"


# These need the change to come within the kernel's cache time (1 s) of
# the stat that filled the cache: no settle delay, short faults.
def test_size_follows_the_upload(server, mounts):
    m = mounts(server, opts=["settle=0"])
    server.add_fault("put", "delay", seconds=0.4, count=1)
    write_file(m.path("a.txt"), b"a")
    assert cached(m.path("a.txt.url")).st_size == 0     # not known yet
    url = xattr(m.path("a.txt"))
    assert os.stat(m.path("a.txt.url")).st_size == len(url) + 1


def test_new_version_shows_at_once(server, mounts):
    m = mounts(server, opts=["settle=0"])
    write_file(m.path("a.txt"), b"a")
    first = xattr(m.path("a.txt"))
    cached(m.path("a.txt.url"))
    write_file(m.path("a.txt"), b"a second version")
    second = xattr(m.path("a.txt"))     # waits for the new upload
    assert second != first
    shows(m.path("a.txt.url"), m.path("a.txt"))
    assert url_line(m.path("a.txt.url")) == second + "\n"


def test_failure_removes_cached_sibling(server, mounts):
    server.add_fault("presign", "status", status=401, message="bad key",
                     delay=0.4, count=1)
    m = mounts(server, opts=["url_wait=30", "settle=0"])
    write_file(m.path("a.txt"), b"a")
    cached(m.path("a.txt.url"))                  # queued: it is listed
    with pytest.raises(OSError) as e:
        xattr(m.path("a.txt"))                   # waits for the failure
    assert e.value.errno == errno.ENODATA
    gone(m.path("a.txt.url"))


def test_hard_links_have_siblings_of_their_own(mnt):
    write_file(mnt.path("a.txt"), b"a")
    os.link(mnt.path("a.txt"), mnt.path("b.txt"))
    url = xattr(mnt.path("a.txt"))
    cached(mnt.path("a.txt.url"))
    cached(mnt.path("b.txt.url"))
    os.unlink(mnt.path("a.txt"))
    gone(mnt.path("a.txt.url"))
    assert url_line(mnt.path("b.txt.url")) == url + "\n"


def test_forgetting_the_url_removes_every_sibling(mnt):
    write_file(mnt.path("a.txt"), b"a")
    os.link(mnt.path("a.txt"), mnt.path("b.txt"))
    xattr(mnt.path("a.txt"))
    cached(mnt.path("a.txt.url"))
    cached(mnt.path("b.txt.url"))
    os.unlink(mnt.path("b.txt.url"))
    gone(mnt.path("a.txt.url"))
    gone(mnt.path("b.txt.url"))
    assert xattr_errno(mnt.path("a.txt"), "user.octofs.url") == \
        errno.ENODATA


def test_open_sibling_outlives_its_name(mnt):
    """An open NAME.url still reads its URL after the name went away, as
    an open file does (fstat answers ESTALE then, as on NFS)."""
    write_file(mnt.path("a.txt"), b"a")
    url = xattr(mnt.path("a.txt"))
    fd = os.open(mnt.path("a.txt.url"), os.O_RDONLY)
    try:
        os.rename(mnt.path("a.txt"), mnt.path("b.txt"))
        assert os.read(fd, 4096) == (url + "\n").encode()
    finally:
        os.close(fd)
    gone(mnt.path("a.txt.url"))


# Listings learn once, per file, whether it shows a sibling; the same
# changes make them learn again.
def test_listing_follows_failure_and_retry(server, mounts):
    server.add_fault("presign", "status", status=401, message="bad key",
                     delay=0.4, count=1)
    m = mounts(server, opts=["url_wait=30", "settle=0"])
    write_file(m.path("a.txt"), b"a")
    assert "a.txt.url" in os.listdir(m.path())  # queued: it is listed
    with pytest.raises(OSError) as e:
        xattr(m.path("a.txt"))                   # waits for the failure
    assert e.value.errno == errno.ENODATA
    assert "a.txt.url" not in os.listdir(m.path())
    os.setxattr(m.path("a.txt"), "user.octofs.status", b"queued")
    assert "a.txt.url" in os.listdir(m.path())
    assert xattr(m.path("a.txt"))


def test_listing_follows_forget(mnt):
    write_file(mnt.path("a.txt"), b"a")
    os.link(mnt.path("a.txt"), mnt.path("b.txt"))
    xattr(mnt.path("a.txt"))
    assert {"a.txt.url", "b.txt.url"} <= set(os.listdir(mnt.path()))
    os.unlink(mnt.path("b.txt.url"))
    assert sorted(os.listdir(mnt.path())) == ["a.txt", "b.txt"]


def test_listing_follows_rename_to_ignored(mnt):
    write_file(mnt.path("a.txt"), b"a")
    xattr(mnt.path("a.txt"))
    assert "a.txt.url" in os.listdir(mnt.path())
    os.rename(mnt.path("a.txt"), mnt.path("a.txt~"))
    assert os.listdir(mnt.path()) == ["a.txt~"]


def test_real_sibling_name_wins_in_listing(mnt):
    write_file(mnt.path("a.txt"), b"a")
    xattr(mnt.path("a.txt"))
    write_file(mnt.store_path("a.txt.url"), b"mine\n")
    names = os.listdir(mnt.path())
    assert sorted(names) == ["a.txt", "a.txt.url"]
    assert read_file(mnt.path("a.txt.url")) == b"mine\n"


# -- Listings: the kernel keeps a directory's listing (readdir cache) ------

def listed(m, *parts):
    """List twice: the second listing comes from the kernel's cache."""
    first = sorted(os.listdir(m.path(*parts)))
    assert sorted(os.listdir(m.path(*parts))) == first
    return first


def test_listing_shows_sibling_of_a_stored_file_written_later(server,
                                                              mounts):
    """A file put in the store behind the mount has no upload state and
    no sibling; written through the mount, it gets one, though its
    directory did not change."""
    m = mounts(server, opts=["url_wait=30", "settle=0"])
    write_file(m.store_path("old.txt"), b"from before")
    assert listed(m) == ["old.txt"]
    with open(m.path("old.txt"), "r+b") as f:
        f.write(b"FROM")
    assert listed(m) == ["old.txt", "old.txt.url"]
    assert server.fetch(xattr(m.path("old.txt"))) == b"FROM before"


def test_listing_of_a_subdirectory_follows_failure(server, mounts):
    """Every directory whose listing the kernel keeps is told."""
    server.add_fault("presign", "success_false", message="refused",
                     delay=0.4, count=1)
    m = mounts(server, opts=["url_wait=30", "settle=0"])
    os.makedirs(m.path("a", "b"))
    write_file(m.path("a", "b", "f.txt"), b"f")
    assert listed(m, "a", "b") == ["f.txt", "f.txt.url"]
    with pytest.raises(OSError):
        xattr(m.path("a", "b", "f.txt"))          # waits for the failure
    assert listed(m, "a", "b") == ["f.txt"]


def test_listing_follows_the_store(server, mounts):
    """Names added or removed in the store behind the mount show once the
    directory's attributes time out (1 s), like any cached file."""
    m = mounts(server, opts=["url_wait=30", "settle=0"])
    write_file(m.path("mine.txt"), b"m")
    assert listed(m) == ["mine.txt", "mine.txt.url"]
    write_file(m.store_path("theirs.txt"), b"t")
    wait_until(lambda: "theirs.txt" in os.listdir(m.path()), 5,
               "the store's new name in the listing")
    os.unlink(m.store_path("theirs.txt"))
    wait_until(lambda: "theirs.txt" not in os.listdir(m.path()), 5,
               "the store's removed name to leave the listing")
    assert listed(m) == ["mine.txt", "mine.txt.url"]


def lookups(m):
    return m.log().count("opcode: LOOKUP (")


def test_absent_names_are_kept_but_not_siblings(server, mounts):
    """The kernel keeps that a name is absent (cp looks a name up twice
    before it creates it), except NAME.url: a sibling may appear at any
    moment, so its absence is asked for each time."""
    m = mounts(server, opts=["url_wait=30", "settle=0", "debug"])
    before = lookups(m)
    for _ in range(3):
        assert not os.path.exists(m.path("missing"))
    assert lookups(m) == before + 1
    for _ in range(3):
        assert not os.path.exists(m.path("missing.url"))
    assert lookups(m) == before + 4
    # Created through the mount: there at once; behind it, in the
    # store: within the kernel's second.
    write_file(m.path("missing"), b"here now")
    assert read_file(m.path("missing.url")).decode().startswith("http")
    assert not os.path.exists(m.path("behind"))
    write_file(m.store_path("behind"), b"behind the mount")
    wait_until(lambda: os.path.exists(m.path("behind")), 5,
               "a name created in the store to show")
