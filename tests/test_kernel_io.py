"""passthrough=1: the kernel moves an open file's bytes to and from the
store itself (FUSE passthrough, Linux 6.9 and later, CAP_SYS_ADMIN), and
every upload rule still holds.

The daemon's libfuse debug output (-o debug) names each request it gets;
that is how these tests see which bytes went through the daemon."""
import os
import pathlib
import re

import pytest

from conftest import read_file, wait_until, write_file, xattr
from harness import kernel_can_pass_through

MIB = 1 << 20


needs_passthrough = pytest.mark.skipif(
    not kernel_can_pass_through(),
    reason="FUSE passthrough needs root and Linux >= 6.9 built with it")

ON = "passthrough: the kernel moves file bytes"


def requests(m, opcode):
    """How many requests of @opcode the daemon has been sent."""
    return len(re.findall(r"opcode: %s \(" % opcode, m.log()))


def write_in_chunks(path, chunks, flags=os.O_WRONLY | os.O_CREAT |
                    os.O_EXCL):
    fd = os.open(path, flags, 0o644)
    try:
        for chunk in chunks:
            assert os.write(fd, chunk) == len(chunk)
    finally:
        os.close(fd)


@needs_passthrough
def test_bytes_skip_the_daemon(server, mounts):
    m = mounts(server, opts=["url_wait=30", "settle=0", "debug"])
    chunks = [bytes([i]) * MIB for i in range(8)]
    path = m.path("big.bin")
    write_in_chunks(path, chunks)
    # Logged while INIT was answered, so before any request was served.
    assert ON in m.log()
    # FUSE_HANDLE_KILLPRIV_V2: security.capability is not asked for
    # before every write, only before the first after the kernel learnt
    # the file's attributes anew (once here, unless a lookup came
    # between the writes).
    capability_reads = requests(m, "GETXATTR")
    assert server.fetch(xattr(path)) == b"".join(chunks)
    assert read_file(path) == b"".join(chunks)
    assert read_file(m.store_path("big.bin")) == b"".join(chunks)
    counts = {op: requests(m, op) for op in ("CREATE", "WRITE", "READ")}
    assert counts == {"CREATE": 1, "WRITE": 0, "READ": 0}, m.log_tail(60)
    assert capability_reads < len(chunks) // 2, m.log_tail(60)


def test_off_moves_bytes_through_the_daemon(server, mounts):
    """passthrough=0: every write is a request (what the test above
    counts is really there to be counted)."""
    m = mounts(server, opts=["url_wait=30", "settle=0", "debug",
                             "passthrough=0"])
    chunks = [bytes([i]) * MIB for i in range(4)]
    path = m.path("big.bin")
    write_in_chunks(path, chunks)
    assert ON not in m.log()
    assert server.fetch(xattr(path)) == b"".join(chunks)
    assert requests(m, "WRITE") >= 4


@needs_passthrough
def test_preferred_io_size_is_the_stores(server, mounts):
    """Writes that never reach the daemon need no large buffers: st_blksize
    is the store's own with passthrough, the largest write request
    without (each buffer of cp is then one request)."""
    on = mounts(server, opts=["url_wait=30"])
    off = mounts(server, opts=["url_wait=30", "passthrough=0"])
    for m in (on, off):
        write_file(m.path("f.bin"), b"x")
    store = os.stat(on.store_path("f.bin")).st_blksize
    assert os.stat(on.path("f.bin")).st_blksize == store
    assert os.stat(off.path("f.bin")).st_blksize > store


@needs_passthrough
def test_writer_beside_a_reader_makes_a_new_version(server, mounts):
    """An append while the file is open for reading passes through (the
    kernel serves one inode one way), so the version starts at open: the
    appended bytes are uploaded, and an upload in flight is not kept."""
    m = mounts(server, opts=["url_wait=30", "settle=0", "debug"])
    path = m.path("log.txt")
    write_file(path, b"first\n")
    first = xattr(path)
    with open(path, "rb") as reader:
        with open(path, "ab") as f:
            assert xattr(path, "user.octofs.status") == "queued"
            f.write(b"second\n")
        assert reader.read() == b"first\nsecond\n"
    second = xattr(path)
    assert second != first
    assert server.fetch(second) == b"first\nsecond\n"
    assert requests(m, "WRITE") == 0


@needs_passthrough
def test_touch_is_not_a_new_version(server, mounts):
    """A writer that neither creates nor truncates goes through the daemon
    when it may, so opening without writing (touch) uploads nothing."""
    m = mounts(server, opts=["url_wait=30", "settle=0"])
    path = m.path("kept.txt")
    write_file(path, b"kept")
    url = xattr(path)
    puts = len(server.log("put"))
    os.close(os.open(path, os.O_WRONLY))
    os.utime(path)
    with open(path, "ab"):
        pass
    assert xattr(path, "user.octofs.status") == "done"
    assert xattr(path) == url
    assert len(server.log("put")) == puts


@needs_passthrough
def test_truncating_writer_replaces_the_upload(server, mounts):
    """open(O_TRUNC) passes through and is a new version at once: the
    old URL is gone from the attribute until the new upload ends."""
    m = mounts(server, opts=["url_wait=30", "settle=0"])
    path = m.path("doc.txt")
    write_file(path, b"old text")
    old = xattr(path)
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        assert xattr(path, "user.octofs.status") == "queued"
        os.write(fd, b"new text, longer")
    finally:
        os.close(fd)
    new = xattr(path)
    assert new != old
    assert server.fetch(new) == b"new text, longer"


@needs_passthrough
def test_mmap_writes_are_uploaded(server, mounts):
    """A shared writable mapping writes the store's pages directly."""
    import mmap
    m = mounts(server, opts=["url_wait=30", "settle=0"])
    path = m.path("mapped.bin")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.ftruncate(fd, 4096)
        with mmap.mmap(fd, 4096) as mem:
            mem[:5] = b"hello"
            mem.flush()
    finally:
        os.close(fd)
    assert server.fetch(xattr(path)) == b"hello" + bytes(4091)


def test_many_files_each_open_once(server, mounts):
    """Backing files are dropped at release: many files in a row, each
    written and read back, none left open in the daemon."""
    m = mounts(server, opts=["url_wait=30", "settle=0"])
    for i in range(200):
        write_file(m.path("f%03d" % i), b"%d" % i)
        assert read_file(m.path("f%03d" % i)) == b"%d" % i
    for i in (0, 99, 199):
        assert server.fetch(xattr(m.path("f%03d" % i))) == b"%d" % i

    def open_store_files():
        """Descriptors open on the files, other than O_PATH ones."""
        found = []
        for fd in os.listdir("/proc/%d/fd" % m.pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (m.pid, fd))
                with open("/proc/%d/fdinfo/%s" % (m.pid, fd)) as f:
                    flags = int(re.search(r"flags:\s*(\d+)",
                                          f.read()).group(1), 8)
            except OSError:
                continue
            if re.search(r"/f\d\d\d$", link) and not flags & os.O_PATH:
                found.append(link)
        return found

    wait_until(lambda: not open_store_files(), 10,
               "the daemon to close every file")


def test_concurrent_opens_of_one_file(server, mounts):
    """Readers, appenders and truncating writers open one file at once
    from several threads: every open gets the inode's one way (the
    kernel fails an open with EIO when handles of one file mix passing
    through and going through the daemon), and the last content is what
    gets uploaded."""
    import threading
    m = mounts(server, opts=["url_wait=30", "settle=0"])
    path = m.path("busy.log")
    write_file(path, b"")
    errors = []

    def worker(n):
        try:
            for i in range(40):
                if i % 3 == 0:
                    with open(path, "rb") as f:
                        f.read()
                elif i % 3 == 1:
                    with open(path, "ab") as f:
                        f.write(b"%d.%d\n" % (n, i))
                else:
                    fd = os.open(path, os.O_RDWR | os.O_APPEND)
                    try:
                        os.write(fd, b"+")
                    finally:
                        os.close(fd)
        except OSError as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    final = read_file(m.store_path("busy.log"))
    assert final.count(b"\n") == 4 * 13 and final.count(b"+") == 4 * 13
    assert server.fetch(xattr(path)) == final


NOBODY = 65534


@needs_passthrough
def test_without_privilege_every_byte_goes_through_the_daemon(server):
    """octofs run by a user other than root cannot register backing files
    (CAP_SYS_ADMIN): it says so once and moves every byte itself.  Such
    a user opens /dev/fuse itself: Debian makes it 0666; where it is not
    (this test's machine may have 0600), it is for the test's length."""
    import shutil
    import subprocess
    import tempfile
    from harness import OCTOFS, Mount
    base = pathlib.Path(tempfile.mkdtemp(prefix="octofs-user-", dir="/tmp"))
    dev_mode = os.stat("/dev/fuse").st_mode & 0o7777
    m = None
    try:
        os.chmod("/dev/fuse", dev_mode | 0o666)
        os.chmod(base, 0o755)
        for sub in ("mnt", "mnt-store", "home"):
            os.mkdir(base / sub)
            os.chown(base / sub, NOBODY, NOBODY)
        # The build may sit where that user cannot reach it.
        octofs = str(base / "octofs")
        shutil.copy(OCTOFS, octofs)
        os.chmod(octofs, 0o755)
        data = os.urandom(3 * MIB)
        (base / "src").write_bytes(data)
        os.chmod(base / "src", 0o644)
        m = Mount(base, server, opts=["url_wait=30", "settle=0", "debug"],
                  octofs=octofs, user=NOBODY, env={"HOME": str(base / "home"),
                                    "XDG_CONFIG_HOME": str(base / "home")})
        m.start()
        subprocess.run(["dd", "if=" + str(base / "src"),
                        "of=" + m.path("f.bin"), "bs=1M", "status=none"],
                       user=NOBODY, group=NOBODY, extra_groups=[],
                       check=True, timeout=60)
        stored = m.store_path("f.bin")

        def status():
            try:
                return os.getxattr(stored, "user.octofs.status")
            except OSError:
                return None

        wait_until(lambda: status() == b"done", 30, "the upload")
        url = os.getxattr(stored, "user.octofs.url").decode()
        assert server.fetch(url) == data
        assert "passthrough needs CAP_SYS_ADMIN" in m.log()
        assert requests(m, "WRITE") >= 3
    finally:
        try:
            if m:
                m.stop()
        finally:
            os.chmod("/dev/fuse", dev_mode)
            shutil.rmtree(base, ignore_errors=True)


def test_close_asks_no_flush_where_the_stores_close_cannot_fail(
        server, mounts, tmp_path):
    """Over a store on ext4, xfs, btrfs or tmpfs (here tmpfs) close()
    reports no error, so the kernel is told not to send a flush with each
    close().  Over a filesystem whose close() may report one (here
    overlayfs, which asks the filesystem below), mounted inside the
    store, each close() still asks the daemon, which passes on what the
    store says."""
    import shutil
    import subprocess
    import tempfile

    def fs_type(path):
        return subprocess.run(["stat", "-f", "-c", "%T", path], check=True,
                              capture_output=True,
                              text=True).stdout.strip()

    shm = pathlib.Path(tempfile.mkdtemp(prefix="octofs-test-",
                                        dir="/dev/shm"))
    layers = {k: tmp_path / k for k in ("lower", "upper", "work")}
    layers["ovl"] = shm / "ovl"
    for path in layers.values():
        path.mkdir()
    m = None
    try:
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        "lowerdir=%(lower)s,upperdir=%(upper)s,"
                        "workdir=%(work)s" % layers, str(layers["ovl"])],
                       check=True)
        assert fs_type(shm) == "tmpfs"
        assert fs_type(layers["ovl"]) == "overlayfs"
        m = mounts(server, store=str(shm), opts=["url_wait=30", "settle=0",
                                                 "debug"])
        for name in ("a.txt", "b.txt"):
            write_file(m.path(name), name.encode())
            assert server.fetch(xattr(m.path(name))) == name.encode()
        assert requests(m, "CREATE") == 2
        assert requests(m, "FLUSH") == 0, m.log_tail(40)
        write_file(m.path("ovl/c.txt"), b"c")
        assert server.fetch(xattr(m.path("ovl/c.txt"))) == b"c"
        assert requests(m, "FLUSH") >= 1, m.log_tail(40)
    finally:
        try:
            if m:
                m.stop()
        finally:
            if subprocess.run(["umount", str(layers["ovl"])]).returncode:
                subprocess.run(["umount", "-l", str(layers["ovl"])])
            shutil.rmtree(shm, ignore_errors=True)
