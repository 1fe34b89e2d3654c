"""Big directories: a listing is read a chunk of the store's directory at
a time, so the daemon's memory per open directory is bounded whatever the
directory's size, and every entry, NAME.url siblings included, still
shows exactly once, at offsets that seekdir() finds again.

The directories are made in the store directly; a file counts as uploaded
(it shows a sibling) when its user.octofs.status says "done", as the
daemon writes it.  Listings go through libc's opendir/readdir/telldir/
seekdir (ctypes), which os.scandir() cannot seek with.
"""
import ctypes
import os
import random
import shutil

import pytest

from harness import SANITIZED

DONE_EVERY = 7          # every 7th file is uploaded: it shows a sibling
REAL_URL_EVERY = 5      # every 5th of those has a real NAME.url too
VIRTUAL_BIT = 1 << 63   # a sibling's inode number: its file's, this flipped
BIG = 100000
NAME_LEN = 100


class Dirent(ctypes.Structure):
    _fields_ = [("d_ino", ctypes.c_uint64), ("d_off", ctypes.c_int64),
                ("d_reclen", ctypes.c_ushort), ("d_type", ctypes.c_ubyte),
                ("d_name", ctypes.c_char * 256)]


libc = ctypes.CDLL(None, use_errno=True)
libc.opendir.restype = ctypes.c_void_p
libc.opendir.argtypes = [ctypes.c_char_p]
libc.readdir64.restype = ctypes.POINTER(Dirent)
libc.readdir64.argtypes = [ctypes.c_void_p]
libc.telldir.restype = ctypes.c_long
libc.telldir.argtypes = [ctypes.c_void_p]
libc.seekdir.restype = None
libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
libc.rewinddir.restype = None
libc.rewinddir.argtypes = [ctypes.c_void_p]
libc.closedir.argtypes = [ctypes.c_void_p]


class Dir:
    """A libc DIR stream."""

    def __init__(self, path):
        self.dp = libc.opendir(os.fsencode(path))
        if not self.dp:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)

    def read(self):
        """(name, d_ino) of the next entry, or None at the end."""
        ctypes.set_errno(0)
        de = libc.readdir64(self.dp)
        if not de:
            err = ctypes.get_errno()
            if err:
                raise OSError(err, os.strerror(err))
            return None
        return de.contents.d_name.decode(), de.contents.d_ino

    def tell(self):
        return libc.telldir(self.dp)

    def seek(self, pos):
        libc.seekdir(self.dp, pos)

    def rewind(self):
        libc.rewinddir(self.dp)

    def entries(self, limit=None):
        """[(position, name, d_ino)] from here on, the position being where
        seekdir() finds the entry again."""
        out = []
        while limit is None or len(out) < limit:
            pos = self.tell()
            entry = self.read()
            if entry is None:
                break
            out.append((pos,) + entry)
        return out

    def close(self):
        if self.dp:
            libc.closedir(self.dp)
            self.dp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def fill(dir, count, name_len=12):
    """@count files in the store's @dir, every DONE_EVERY-th uploaded and
    every REAL_URL_EVERY-th of those with a real NAME.url; the names the
    mount lists (without . and ..) and the siblings' inode numbers."""
    os.makedirs(dir)
    pad = "n" * max(0, name_len - 7)
    names, siblings = [], {}
    for i in range(count):
        name = "%s%07d" % (pad, i)
        path = os.path.join(dir, name)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
        names.append(name)
        if i % DONE_EVERY:
            continue
        os.setxattr(path, "user.octofs.url", b"http://x/%d" % i)
        os.setxattr(path, "user.octofs.status", b"done")
        if (i // DONE_EVERY) % REAL_URL_EVERY == 0:
            os.close(os.open(path + ".url", os.O_CREAT | os.O_WRONLY))
            names.append(name + ".url")
        else:
            siblings[name + ".url"] = os.stat(path).st_ino ^ VIRTUAL_BIT
    return sorted(names + list(siblings)), siblings


def mount_settled(mounts, server, store):
    """Mount @store marked as left settled: no start-up scan of its files
    (it would read every file's attributes while a test measures)."""
    os.setxattr(store, "user.octofs.settled", b"1")
    return mounts(server, store=store)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A store whose big/ holds BIG files with long names (a listing held
    whole would take over 12 MiB), left alone by the tests; the names a
    listing shows, and the siblings' inode numbers."""
    store = str(tmp_path_factory.mktemp("listing") / "store")
    want, siblings = fill(os.path.join(store, "big"), BIG, NAME_LEN)
    yield store, want, siblings
    shutil.rmtree(store)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_every_entry_once(server, mounts, big):
    """Exactly the store's names and the expected siblings (none where a
    real NAME.url exists), each once, . and .. once, the siblings with
    their virtual inode numbers."""
    store, want, siblings = big
    m = mount_settled(mounts, server, store)
    with Dir(m.path("big")) as d:
        got = d.entries()
    names = [name for _, name, _ in got]
    assert names.count(".") == 1 and names.count("..") == 1
    listed = sorted(n for n in names if n not in (".", ".."))
    assert len(listed) == len(set(listed)), "an entry shows twice"
    assert listed == want
    inos = {name: ino for _, name, ino in got}
    assert all(inos[n] == ino for n, ino in siblings.items())
    # Read again from the start (the kernel's kept listing): the same.
    assert sorted(os.listdir(m.path("big"))) == want


def test_seekdir_finds_every_position(server, mounts, big):
    """telldir() positions taken while reading find their entries again
    with seekdir(), backwards across chunks and forwards, also from
    another open directory, and reading on from one gives what
    followed; rewinddir() starts over from the directory as it is now."""
    store, want, _ = big
    m = mount_settled(mounts, server, store)
    rand = random.Random(5)
    with Dir(m.path("big")) as d, Dir(m.path("big")) as other:
        # Not to the end: the kernel keeps no complete listing yet, so
        # every seek below reaches the daemon.
        first = d.entries(limit=len(want) * 3 // 4)
        for _ in range(60):
            j = rand.randrange(len(first))
            for stream in (d, other):
                stream.seek(first[j][0])
                assert [e[1] for e in stream.entries(limit=3)] == \
                    [e[1] for e in first[j:j + 3]]
        d.seek(first[-1][0])
        rest = d.entries()
        assert rest[0][1] == first[-1][1]
        names = [e[1] for e in first[:-1] + rest]
        assert sorted(n for n in names if n not in (".", "..")) == want
        os.mkdir(m.path("big", "new"))
        try:
            d.rewind()
            again = sorted(e[1] for e in d.entries())
        finally:
            os.rmdir(m.path("big", "new"))
        assert again == sorted(names + ["new"])


def test_changes_between_chunks(server, mounts, tmp_path):
    """Names removed and added in the store while a listing is read:
    none shows twice, every name left alone shows, a name removed before
    the listing got to it does not (the store's readdir decides).  Real
    NAME.url files are left alone: one removed (or created) while the
    listing is read may show twice, as itself and as its file's sibling,
    like any name removed and made again during a listing."""
    store = str(tmp_path / "store")
    dir = os.path.join(store, "changing")
    want, siblings = fill(dir, 20000)
    m = mount_settled(mounts, server, store)
    with Dir(m.path("changing")) as d:
        first = [e[1] for e in d.entries(limit=6000)]
        unread = sorted(set(os.listdir(dir)) - set(first))
        removed = {n for n in unread[::3] if not n.endswith(".url")}
        for name in removed:
            os.unlink(os.path.join(dir, name))
        for i in range(3000):
            with open(os.path.join(dir, "added%05d" % i), "w"):
                pass
        rest = [e[1] for e in d.entries()]
    shutil.rmtree(dir)
    names = first + rest
    assert len(names) == len(set(names)), "an entry shows twice"
    # Left alone: the files kept, their siblings, the real NAME.url kept.
    kept = {n for n in want if n not in removed and
            not (n in siblings and n[:-4] in removed)}
    assert kept <= set(names)
    # Read before the change: the daemon's chunk (4096 files and their
    # siblings at most) and what libc read ahead (32 KiB).
    early = 2 * 4096 + 32768 // 24
    assert not removed & set(rest[early:])
    assert len(rest) > early + 4000


@pytest.mark.skipif(SANITIZED, reason="memory figures mean nothing "
                    "under the sanitizers")
def test_memory_does_not_grow_with_the_directory(server, mounts, big):
    """Read slowly, the big directory costs the daemon no more resident
    memory than a few chunks' worth, from its first entry to its last."""
    store, want, _ = big
    m = mount_settled(mounts, server, store)
    with Dir(m.path()) as small:     # the daemon's buffers, warm
        small.entries()
    before = rss_kib(m.pid)
    peak, count = 0, 0
    with Dir(m.path("big")) as d:
        assert d.read() is not None
        first = rss_kib(m.pid) - before
        while d.read() is not None:
            count += 1
            if count % 2000 == 0:
                peak = max(peak, rss_kib(m.pid) - before)
    assert count + 1 == len(want) + 2
    assert first < 8 * 1024, "%d KiB after the first entry" % first
    assert peak < 8 * 1024, "%d KiB while reading" % peak
