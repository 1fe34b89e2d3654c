"""A full store: a version whose writing failed is never published.

The store is a tmpfs of STORE_MIB, so copying a bigger file into the
mount fails with ENOSPC, and so does any write once it is full.  Each
test runs with open files passed through (the kernel writes the store
itself and the daemon never sees a write) and with every write served
by the daemon.
"""
import errno
import os
import subprocess

import pytest

from conftest import read_file, wait_until, write_file, xattr, xattr_errno
from harness import kernel_can_pass_through

STORE_MIB = 8
CHUNK = bytes(range(256)) * 4096        # 1 MiB


@pytest.fixture
def small_store(tmp_path):
    """A tmpfs of STORE_MIB; unmounted after the mount over it stopped
    (the fixtures that use it tear down first)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path = tmp_path / "small-store"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % STORE_MIB,
                    "octofs-test", str(path)], check=True)
    try:
        yield str(path)
    finally:
        unmount_store(str(path))


def unmount_store(path):
    """umount, retried while busy (the kernel may still hold a file the
    daemon passed through a moment after it exited); never left behind."""
    def unmounted():
        return subprocess.run(["umount", path],
                              capture_output=True).returncode == 0
    try:
        wait_until(unmounted, 10, "the small store to unmount",
                   interval=0.1)
    except AssertionError:
        subprocess.run(["umount", "-l", path])
        raise


@pytest.fixture(params=["passthrough=1", "passthrough=0"])
def full_mnt(request, small_store, server, mounts):
    m = mounts(server, store=small_store,
               opts=["url_wait=30", request.param])
    if request.param == "passthrough=1" and kernel_can_pass_through():
        wait_until(lambda: "passthrough: the kernel moves" in m.log(),
                   what="the kernel to take passthrough")
    return m


def fill(path):
    """Write to path until the store is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with pytest.raises(OSError) as e:
            while True:
                os.write(fd, CHUNK)
    finally:
        os.close(fd)
    assert e.value.errno == errno.ENOSPC


def free_room(m, name):
    """Remove name through the mount and wait until the store has room
    again: its blocks are freed once the daemon, told by the kernel a
    moment later, lets go of the file."""
    os.unlink(m.path(name))
    wait_until(lambda: os.statvfs(m.store).f_bavail *
               os.statvfs(m.store).f_frsize >= (STORE_MIB // 2) << 20,
               what="room in the store after removing " + name)


def assert_held_back(m, server, name, reason):
    """name failed for lack of room, and nothing of it was published."""
    path = m.path(name)
    m.wait_status(path, "failed")
    assert reason in xattr(path, "user.octofs.error")
    assert xattr_errno(path, "user.octofs.url") == errno.ENODATA
    assert not os.path.exists(path + ".url")
    assert name + ".url" not in os.listdir(m.path())
    assert server.log("put") == []
    assert server.objects() == {}
    assert [line for line in m.log().splitlines()
            if name + " not uploaded" in line and reason in line]


def test_copy_that_does_not_fit_is_never_published(full_mnt, server,
                                                   tmp_path):
    m = full_mnt
    write_file(m.path("filler.part"), CHUNK * (STORE_MIB // 2))
    src = tmp_path / "big.src"
    write_file(src, CHUNK * (STORE_MIB + 12))
    res = subprocess.run(["cp", str(src), m.path("big.bin")],
                         capture_output=True, text=True)
    assert res.returncode != 0
    assert "No space left on device" in res.stderr
    assert 0 < os.path.getsize(m.path("big.bin")) < STORE_MIB << 20
    # Passed through, the daemon sees only that the store filled up.
    assert_held_back(m, server, "big.bin", "space")

    # Room again: the same file written anew uploads, with no trace of
    # the failure.
    os.unlink(m.path("filler.part"))
    write_file(src, CHUNK * 2)
    subprocess.run(["cp", str(src), m.path("big.bin")], check=True)
    assert server.fetch(xattr(m.path("big.bin"))) == CHUNK * 2
    assert xattr(m.path("big.bin"), "user.octofs.status") == "done"
    assert xattr_errno(m.path("big.bin"), "user.octofs.error") == \
        errno.ENODATA
    write_file(m.path("other.txt"), b"other")
    assert server.fetch(xattr(m.path("other.txt"))) == b"other"
    os.unlink(src)


def test_small_write_on_full_store_publishes_nothing(full_mnt, server):
    m = full_mnt
    fill(m.path("filler.part"))
    res = subprocess.run(["sh", "-c", "echo small > f.txt"], cwd=m.path(),
                         capture_output=True)
    assert res.returncode != 0
    assert os.path.getsize(m.path("f.txt")) == 0
    # A writer opened on a full store is served: its own error is seen.
    assert_held_back(m, server, "f.txt", "No space left on device")

    free_room(m, "filler.part")
    subprocess.run(["sh", "-c", "echo small > f.txt"], cwd=m.path(),
                   check=True)
    assert server.fetch(xattr(m.path("f.txt"))) == b"small\n"
    # Failed, then deleted: nothing of it lingers on a new file.
    fill(m.path("filler.part"))
    subprocess.run(["sh", "-c", "echo again > g.txt"], cwd=m.path(),
                   capture_output=True)
    m.wait_status(m.path("g.txt"), "failed")
    os.unlink(m.path("g.txt"))
    free_room(m, "filler.part")
    write_file(m.path("g.txt"), b"again")
    assert server.fetch(xattr(m.path("g.txt"))) == b"again"
    assert read_file(m.path("g.txt")) == b"again"


def test_failed_temporary_renamed_into_place_is_not_published(full_mnt,
                                                               server):
    """A program that saves through a temporary name and renames it
    into place despite the error publishes nothing either."""
    m = full_mnt
    fill(m.path("save.tmp"))
    os.rename(m.path("save.tmp"), m.path("save.txt"))
    assert_held_back(m, server, "save.txt", "space")


def fallocate_too_much(fd, src_path):
    os.posix_fallocate(fd, 0, (STORE_MIB + 4) << 20)


def copy_range_too_much(fd, src_path):
    src = os.open(src_path, os.O_RDONLY)
    try:
        while os.copy_file_range(src, fd, 1 << 20):
            pass
    finally:
        os.close(src)


@pytest.mark.parametrize("grow", [fallocate_too_much, copy_range_too_much],
                         ids=["fallocate", "copy_file_range"])
def test_failed_allocation_or_copy_is_not_published(full_mnt, server, grow):
    """fallocate and copy_file_range reach the daemon even when writes
    pass through: their ENOSPC fails the version."""
    m = full_mnt
    write_file(m.path("src.part"), CHUNK * (STORE_MIB // 2 + 1))
    fd = os.open(m.path("grown.bin"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        with pytest.raises(OSError) as e:
            grow(fd, m.path("src.part"))
    finally:
        os.close(fd)
    assert e.value.errno == errno.ENOSPC
    assert_held_back(m, server, "grown.bin", "No space left on device")
