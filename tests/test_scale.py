"""A drop folder at scale: tens of thousands of stored files walked through
a daemon held to a hard open-file limit, uploads and renames among them,
and deleting that gives the space back at once.

The daemon keeps an O_PATH descriptor only for the inodes in its bounded
cache (-o fd_cache=N, default a quarter of the hard limit), however many
the kernel remembers; a NAME.url sibling the kernel remembers must not
keep its file's inode open in the store either.
"""
import os
import shutil
import stat
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import Mount, read_file, wait_until, write_file, xattr
from harness import TIME_FACTOR

NOFILE = 4096                   # the daemon's hard open-file limit
FD_CACHE = 512                  # -o fd_cache= where the bound is checked
DEFAULT_FD_CACHE = NOFILE // 4  # what octofs keeps without the option
# Descriptors a daemon holds besides its inode cache: the standard ones
# and its log, /dev/fuse (a clone per worker thread), the store's root,
# the workers' sockets and libcurl's pipes and eventfds, the resume scan's
# directory, and what the walks below hold open at one time (tar, rsync
# and find have a few files or directories open each, and every open
# file through the mount is a descriptor in the daemon).  A leak, or a
# descriptor per inode the kernel remembers, is thousands more.
FD_ALLOWANCE = 128

BIG = 20000                     # files in big/
SUBDIRS = 10                    # sub0..sub9, SUB_FILES files each
SUB_FILES = 1000
FILES = BIG + SUBDIRS * SUB_FILES
DONE_EVERY = 3                  # every third file was uploaded already
RENAME_FILES = 10000
LINKS = 300
MIB = 1 << 20
WALK_TIMEOUT = 120              # seconds per walk, times TIME_FACTOR


class LimitedMount(Mount):
    """octofs under prlimit --nofile=NOFILE:NOFILE (prlimit execs it, so
    the process is still the daemon)."""

    def command(self):
        return ["prlimit", "--nofile=%d:%d" % (NOFILE, NOFILE), "--"] + \
            super().command()


def fake_done(path, key):
    """What a finished upload leaves on a stored file (see state.c)."""
    url = "https://objects.example/%s" % key
    os.setxattr(path, "user.octofs.url", url.encode())
    os.setxattr(path, "user.octofs.key", key.encode())
    os.setxattr(path, "user.octofs.status", b"done")
    return url


def make_files(dir, count, stem, done_every):
    """@count small files in @dir, every @done_every-th one uploaded;
    returns {name: URL} of those."""
    os.makedirs(dir, exist_ok=True)
    urls = {}
    for i in range(count):
        name = "%s%05d.txt" % (stem, i)
        path = os.path.join(dir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, b"%s %d\n" % (stem.encode(), i))
        finally:
            os.close(fd)
        if done_every and i % done_every == 0:
            urls[name] = fake_done(path, "%s/%s" % (os.path.basename(dir),
                                                    name))
    return urls


class ScaleStore:
    """The store of the walks: big/ and sub0..sub9/, and what the mount
    should show of it."""

    def __init__(self, top):
        self.top = top
        self.path = os.path.join(top, "store")
        self.urls = {"big": make_files(os.path.join(self.path, "big"),
                                       BIG, "f", DONE_EVERY)}
        for d in range(SUBDIRS):
            sub = "sub%d" % d
            self.urls[sub] = make_files(os.path.join(self.path, sub),
                                        SUB_FILES, "g", DONE_EVERY)
        self.done = sum(len(u) for u in self.urls.values())
        # Entries find lists in the mount: the root, the directories, the
        # files and one NAME.url per uploaded file.
        self.mount_entries = 1 + 1 + SUBDIRS + FILES + self.done
        self.mount_files = FILES + self.done
        self.big_entries = BIG + len(self.urls["big"])

    def check_unchanged(self):
        """What a test added to the store it took away again."""
        assert sorted(os.listdir(self.path)) == sorted(self.urls), \
            "a test left entries in the shared store"


@pytest.fixture(scope="module")
def scale_store(tmp_path_factory):
    top = str(tmp_path_factory.mktemp("scale"))
    try:
        yield ScaleStore(top)
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def limited(tmp_path):
    """Factory: limited(server, opts=[...], store=...) -> a started
    LimitedMount, stopped at the end."""
    started = []

    def make(server, **kwargs):
        m = LimitedMount(tmp_path, server, name="lim%d" % len(started),
                         **kwargs)
        started.append(m)
        m.start()
        assert limits_nofile(m.pid) == (NOFILE, NOFILE), \
            "octofs does not run under the hard limit"
        return m

    yield make
    for m in reversed(started):
        m.stop()


def limits_nofile(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    return None


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class FdSampler:
    """The most descriptors the daemon held while the with-block ran."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while True:
            try:
                self.peak = max(self.peak, fd_count(self.pid))
            except OSError:
                pass
            if self.stop.wait(0.02):
                return

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        return False


def stats(m):
    """user.octofs.stats of the root as a dict of ints."""
    return {k: int(v) for k, v in
            (pair.split("=") for pair in
             xattr(m.path(), "user.octofs.stats").split())}


def run(cmd, stdin=subprocess.DEVNULL):
    """Run a walk; (exit status, stdout lines, stderr)."""
    start = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, timeout=WALK_TIMEOUT *
                         TIME_FACTOR, env=dict(os.environ, LC_ALL="C"),
                         stdin=stdin)
    print("%s: %.2f s" % (" ".join(cmd[:2]), time.monotonic() - start))
    return (res.returncode, res.stdout.splitlines(),
            res.stderr.decode(errors="replace")[:2000])


def check_walk(name, result, lines=None):
    rc, out, err = result
    assert (rc, err) == (0, ""), "%s: exit %d: %s" % (name, rc, err)
    if lines is not None:
        assert len(out) == lines, "%s: %d lines, not %d" % (
            name, len(out), lines)
    return out


def tar_through(dir):
    """tar -c of @dir piped to tar -t; tar -t's run() result, once tar -c
    succeeded with nothing to say."""
    err = tempfile.TemporaryFile()
    tar = subprocess.Popen(["tar", "-c", "-f", "-", "-C", dir, "."],
                           stdout=subprocess.PIPE, stderr=err,
                           stdin=subprocess.DEVNULL)
    try:
        listed = run(["tar", "-t", "-f", "-"], stdin=tar.stdout)
        tar.stdout.close()
        status = tar.wait(WALK_TIMEOUT * TIME_FACTOR)
    finally:
        if tar.poll() is None:
            tar.kill()
            tar.wait()
    err.seek(0)
    text = err.read().decode(errors="replace")[:2000]
    err.close()
    assert (status, text) == (0, ""), "tar -c: exit %d: %s" % (status, text)
    return listed


def rm_rf(path):
    """rm -rf through the mount (a NAME.url goes with its file, which
    shutil.rmtree takes for an error)."""
    subprocess.run(["rm", "-rf", path], check=True)


def save_and_wait_url(m, path, data):
    """Save @path through the mount; its URL, once the server has it."""
    write_file(path, data)
    m.wait_status(path, "done", timeout=30)
    url = xattr(path)
    assert m.server.fetch(url) == data
    return url


def test_walks_under_open_file_limit(server, limited, scale_store,
                                     tmp_path):
    """find, ls -l, du, tar, rsync and a stat of every file through a
    daemon limited to NOFILE descriptors, over FILES stored files: all
    complete, and the daemon's descriptors stay within fd_cache."""
    m = limited(server, opts=["url_wait=30", "fd_cache=%d" % FD_CACHE],
                store=scale_store.path)
    copy = str(tmp_path / "rsync-copy")
    try:
        with FdSampler(m.pid) as fds:
            found = check_walk("find", run(["find", m.mnt]),
                               scale_store.mount_entries)
            assert stats(m)["failed"] == 0
            check_walk("ls -l", run(["ls", "-l", m.path("big")]),
                       1 + scale_store.big_entries)
            check_walk("du -s", run(["du", "-s", m.mnt]), 1)
            inodes = check_walk("du --inodes",
                                run(["du", "-s", "--inodes", m.mnt]), 1)
            assert int(inodes[0].split()[0]) == scale_store.mount_entries
            check_walk("tar -t", tar_through(m.mnt),
                       scale_store.mount_entries)
            check_walk("rsync -a", run(["rsync", "-a", m.mnt + "/",
                                        copy + "/"]))
            copied = sum(len(files) for _, _, files in os.walk(copy))
            assert copied == scale_store.mount_files
            shutil.rmtree(copy)
            errors = []
            for line in found:
                path = os.fsdecode(line)
                try:
                    st = os.lstat(path)
                except OSError as e:
                    errors.append("%s: %s" % (path, e.strerror))
                    continue
                if stat.S_ISREG(st.st_mode) and not path.endswith(".url"):
                    store = scale_store.path + path[len(m.mnt):]
                    assert st.st_ino == os.lstat(store).st_ino
            assert errors == [], "%d stats failed, first %s" % (
                len(errors), errors[:3])
        held = fd_count(m.pid)
        print("octofs descriptors after the walks: %d, peak %d"
              % (held, fds.peak))
        assert fds.peak <= FD_CACHE + FD_ALLOWANCE
        assert stats(m)["failed"] == 0
        new = m.path("sub0", "saved-after-walks.txt")
        save_and_wait_url(m, new, b"saved after the walks\n")
        os.unlink(new)
        assert stats(m)["done"] == 1
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    m.stop()
    scale_store.check_unchanged()


def test_upload_during_find(server, limited, scale_store, tmp_path):
    """A file saved while find walks (and stats) the whole folder gets
    its URL, and the find still lists everything.  find is held
    mid-walk, its output pipe full, while the file is saved, so the save
    surely lands during the walk; by then it went through thousands more
    entries than the daemon may hold descriptors."""
    m = limited(server, opts=["url_wait=30"], store=scale_store.path)
    os.mkdir(m.path("incoming"))
    incoming = os.fsencode(m.path("incoming"))
    err_path = str(tmp_path / "find.err")
    try:
        with open(err_path, "wb") as err, FdSampler(m.pid) as fds:
            # Link counts need a stat, so a lookup, of every entry;
            # names alone come from readdir.
            find = subprocess.Popen(["find", m.mnt, "-printf", "%n %p\n"],
                                    stdout=subprocess.PIPE, stderr=err,
                                    stdin=subprocess.DEVNULL)
            try:
                lines = []
                for line in find.stdout:
                    lines.append(line)
                    if len(lines) == scale_store.mount_entries // 2:
                        break
                assert find.poll() is None, "find ended early: " + \
                    read_file(err_path).decode(errors="replace")[:2000]
                new = m.path("incoming", "during-find.txt")
                url = save_and_wait_url(m, new, b"saved during a find\n")
                assert read_file(new + ".url") == url.encode() + b"\n"
                assert stats(m)["done"] == 1
                assert find.poll() is None, "find ended before the upload"
                lines += find.stdout.read().splitlines()
                assert find.wait(WALK_TIMEOUT * TIME_FACTOR) == 0
            finally:
                if find.poll() is None:
                    find.kill()
                find.wait()
                find.stdout.close()
        assert read_file(err_path) == b""
        paths = [line.rstrip(b"\n").split(b" ", 1)[1] for line in lines]
        walked = [p for p in paths if not p.startswith(incoming + b"/")]
        # The entries of the store, and incoming/ itself.
        assert len(walked) == scale_store.mount_entries + 1
        print("octofs descriptors: peak %d" % fds.peak)
        assert fds.peak <= DEFAULT_FD_CACHE + FD_ALLOWANCE
        assert stats(m)["failed"] == 0
        os.unlink(new)
        os.rmdir(m.path("incoming"))
    finally:
        m.stop()
        shutil.rmtree(os.path.join(scale_store.path, "incoming"),
                      ignore_errors=True)
    scale_store.check_unchanged()


def test_hard_links_at_scale(server, limited, scale_store):
    """LINKS hard links made through the mount to files of big/: find
    -links 2 over the whole folder finds both names of each."""
    m = limited(server, opts=["url_wait=30"], store=scale_store.path)
    try:
        os.mkdir(m.path("links"))
        step = BIG // LINKS
        for i in range(LINKS):
            os.link(m.path("big", "f%05d.txt" % (i * step)),
                    m.path("links", "l%03d.txt" % i))
        out = check_walk("find -links 2",
                         run(["find", m.mnt, "-type", "f", "-links", "2"]))
        assert len(out) == 2 * LINKS
        assert stats(m)["failed"] == 0
        st = os.stat(m.path("links", "l%03d.txt" % (LINKS - 1)))
        assert st.st_nlink == 2
        assert st.st_ino == os.stat(m.path(
            "big", "f%05d.txt" % ((LINKS - 1) * step))).st_ino
        rm_rf(m.path("links"))
    finally:
        m.stop()
        shutil.rmtree(os.path.join(scale_store.path, "links"),
                      ignore_errors=True)
    scale_store.check_unchanged()


def test_rename_directory_of_many_files(server, limited, tmp_path):
    """A directory of RENAME_FILES uploaded files, every one looked up
    through the mount, renamed through the mount: each keeps its URL,
    in its attribute and in its NAME.url, under the new path."""
    store = str(tmp_path / "rename-store")
    m = None
    try:
        urls = make_files(os.path.join(store, "before"), RENAME_FILES, "r", 1)
        m = limited(server, opts=["url_wait=30"], store=store)
        seen = {name: xattr(m.path("before", name)) for name in urls}
        assert seen == urls
        os.rename(m.path("before"), m.path("after"))
        assert not os.path.exists(m.path("before"))
        moved = {}
        siblings = {}
        for name in urls:
            path = m.path("after", name)
            moved[name] = xattr(path)
            siblings[name] = read_file(path + ".url").decode()
        assert moved == urls
        assert siblings == {n: u + "\n" for n, u in urls.items()}
        assert len(os.listdir(m.path("after"))) == 2 * RENAME_FILES
        assert stats(m)["failed"] == 0
    finally:
        if m:
            m.stop()
        shutil.rmtree(store, ignore_errors=True)


# ---- Deleting gives the space back ---------------------------------------

TMPFS_SIZE = 64 * MIB
BIG_FILE = 32 * MIB
SLACK = 1 * MIB         # what the store may keep after a delete


@pytest.fixture
def tmpfs_drop(server, tmp_path):
    """Factory: tmpfs_drop(opts) -> a Mount over a store on a tmpfs of
    TMPFS_SIZE.  The mount goes before the tmpfs, and the server's
    copies of the big files with them."""
    top = str(tmp_path / "tmpfs")
    os.makedirs(top)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % TMPFS_SIZE,
                    "octofs-test", top], check=True)
    started = []

    def make(opts=()):
        m = Mount(tmp_path, server, store=top, name="small",
                  opts=["url_wait=30"] + list(opts))
        started.append(m)
        return m.start()

    try:
        yield make
    finally:
        for m in started:
            m.stop()
        if subprocess.run(["umount", top]).returncode:
            subprocess.run(["umount", "-l", top])
            raise AssertionError("the tmpfs store was busy at the end")
        objects = os.path.join(server.dir, "data", "objects")
        for name in os.listdir(objects):
            shutil.rmtree(os.path.join(objects, name))


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bfree * st.f_frsize


def big_data():
    block = os.urandom(MIB)
    return b"".join(i.to_bytes(8, "little") + block[8:]
                    for i in range(BIG_FILE // MIB))


def wait_space_back(m, before):
    """The store's free space back to @before, without drop_caches."""
    wait_until(lambda: free_bytes(m.store) >= before - SLACK, 10,
               "the store's space back (free %d, was %d)"
               % (free_bytes(m.store), before))


def saved_big(m, name):
    """A BIG_FILE file saved through the mount, uploaded, its NAME.url
    and attribute read; the store's free space before it."""
    before = free_bytes(m.store)
    path = m.path(name)
    data = big_data()
    url = save_and_wait_url(m, path, data)
    assert free_bytes(m.store) <= before - BIG_FILE
    assert read_file(path + ".url") == url.encode() + b"\n"
    assert xattr(path) == url
    return path, before


@pytest.mark.parametrize("passthrough", ["1", "0"])
def test_rm_after_url_sibling_read_frees_space(tmpfs_drop, passthrough):
    m = tmpfs_drop(["passthrough=" + passthrough])
    path, before = saved_big(m, "big.bin")
    subprocess.run(["rm", path], check=True)
    # Nothing looks at NAME.url in between: a lookup that finds it gone
    # would make the kernel let go of it.
    wait_space_back(m, before)
    assert not os.path.exists(path + ".url")


def test_rm_after_lookup_frees_space(tmpfs_drop):
    """A stored file only looked up (stat) through the mount."""
    m = tmpfs_drop()
    before = free_bytes(m.store)
    write_file(m.store_path("stored.bin"), big_data())
    st = os.stat(m.path("stored.bin"))
    assert st.st_size == BIG_FILE
    assert free_bytes(m.store) <= before - BIG_FILE
    subprocess.run(["rm", m.path("stored.bin")], check=True)
    wait_space_back(m, before)


def test_rm_hard_linked_frees_space_after_last_name(tmpfs_drop):
    m = tmpfs_drop()
    path, before = saved_big(m, "big.bin")
    os.link(path, m.path("other.bin"))
    assert xattr(m.path("other.bin")) == xattr(path)
    subprocess.run(["rm", path], check=True)
    # The other name still holds the bytes.
    assert read_file(m.path("other.bin"))[:8] == bytes(8)
    assert free_bytes(m.store) <= before - BIG_FILE
    subprocess.run(["rm", m.path("other.bin")], check=True)
    wait_space_back(m, before)
    assert os.listdir(m.path()) == []
