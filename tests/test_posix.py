"""Differential POSIX tests: the mount against a plain directory.

Every scenario runs twice with the same arguments: once in a directory
inside the mount and once in a plain directory on the filesystem that
holds the store.  Each call is written to a transcript as "call ->
result" (the value, or the errno name), and the two transcripts must be
equal.  A difference is a passthrough bug unless it is octofs's own,
documented behaviour, and the mounts are set up to leave that out:

- url_files=0, so no virtual NAME.url sibling shows up in a listing;
- attribute lists leave out user.octofs.*, which octofs keeps on the
  files it uploads;
- access times are compared only on files with ignored names (*.tmp):
  uploading a file reads it, which may move its access time.

Scenarios use paths relative to their root, so the roots' own names never
reach a transcript.  Parts run as an unprivileged user in a forked child
that sends its transcript back through a pipe; those need a mount with
allow_other (or nobody else may enter it) and default_permissions (or
the kernel would let every caller act with the daemon's rights).
"""
import contextlib
import ctypes
import difflib
import errno
import fcntl
import json
import mmap
import os
import pathlib
import re
import shutil
import socket
import stat
import struct
import tempfile
import time
import zlib

import pytest

from conftest import Mount
from harness import kernel_can_pass_through

NOBODY = 65534
NOGROUP = 65534
OTHER_GROUP = 100

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
RENAME_WHITEOUT = 4
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
FALLOC_FL_KEEP_SIZE = 1
FALLOC_FL_PUNCH_HOLE = 2
FALLOC_FL_ZERO_RANGE = 0x10
XATTR_CREATE = 1
XATTR_REPLACE = 2
SEEK_DATA = getattr(os, "SEEK_DATA", 3)
SEEK_HOLE = getattr(os, "SEEK_HOLE", 4)
F_OFD_GETLK = getattr(fcntl, "F_OFD_GETLK", 36)
F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)

ROOT_OPTS = ["url_files=0"]
SHARED_OPTS = ["url_files=0", "allow_other", "default_permissions"]

libc = ctypes.CDLL(None, use_errno=True)


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class Dirent(ctypes.Structure):
    _fields_ = [("d_ino", ctypes.c_uint64), ("d_off", ctypes.c_int64),
                ("d_reclen", ctypes.c_ushort), ("d_type", ctypes.c_ubyte),
                ("d_name", ctypes.c_char * 256)]


libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                           ctypes.c_char_p, ctypes.c_uint]
libc.utimensat.argtypes = [ctypes.c_int, ctypes.c_char_p,
                           ctypes.POINTER(Timespec), ctypes.c_int]
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64,
                           ctypes.c_int64]
libc.lgetxattr.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                           ctypes.c_void_p, ctypes.c_size_t]
libc.lgetxattr.restype = ctypes.c_ssize_t
libc.opendir.argtypes = [ctypes.c_char_p]
libc.opendir.restype = ctypes.c_void_p
libc.readdir.argtypes = [ctypes.c_void_p]
libc.readdir.restype = ctypes.POINTER(Dirent)
libc.closedir.argtypes = [ctypes.c_void_p]


def _check(res):
    if res < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return res


def renameat2(old, new, flags):
    _check(libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD,
                          os.fsencode(new), flags))


def utimensat(path, atime_ns, mtime_ns, follow=True):
    """utimensat(2) itself: os.utime cannot say UTIME_NOW or UTIME_OMIT."""
    times = (Timespec * 2)()
    for ts, ns in zip(times, (atime_ns, mtime_ns)):
        if ns in (UTIME_NOW, UTIME_OMIT):
            ts.tv_sec, ts.tv_nsec = 0, ns
        else:
            ts.tv_sec, ts.tv_nsec = divmod(ns, 10**9)
    flags = 0 if follow else AT_SYMLINK_NOFOLLOW
    _check(libc.utimensat(AT_FDCWD, os.fsencode(path), times, flags))


def fallocate(fd, mode, offset, length):
    _check(libc.fallocate(fd, mode, offset, length))


def lgetxattr_size(path, name, size):
    """The length lgetxattr(2) reports into a buffer of @size bytes."""
    buf = ctypes.create_string_buffer(max(size, 1))
    return _check(libc.lgetxattr(os.fsencode(path), name.encode(),
                                 buf if size else None, size))


def raw_readdir(path):
    """(name, d_type, d_ino) of every entry, as readdir(3) returns them."""
    dp = libc.opendir(os.fsencode(path))
    if not dp:
        _check(-1)
    entries = []
    try:
        while True:
            ctypes.set_errno(0)
            de = libc.readdir(dp)
            if not de:
                _check(-1 if ctypes.get_errno() else 0)
                return entries
            d = de.contents
            entries.append((os.fsdecode(d.d_name), d.d_type, d.d_ino))
    finally:
        libc.closedir(dp)


# Transcripts.
class Rel(str):
    """An absolute path that shows itself relative to its root."""

    def __new__(cls, root, rel):
        self = str.__new__(cls, os.path.join(root, rel))
        self.rel = rel
        return self


class Fd(int):
    """A file descriptor that shows the name it was opened by."""

    def __new__(cls, fd, rel):
        self = int.__new__(cls, fd)
        self.rel = rel
        return self


KINDS = {stat.S_IFREG: "reg", stat.S_IFDIR: "dir", stat.S_IFLNK: "lnk",
         stat.S_IFIFO: "fifo", stat.S_IFCHR: "chr", stat.S_IFBLK: "blk",
         stat.S_IFSOCK: "sock"}
DTYPES = {0: "unknown", 1: "fifo", 2: "chr", 4: "dir", 6: "blk", 8: "reg",
          10: "lnk", 12: "sock"}


def _short(text):
    """Runs of one character as c{N}, so long names stay readable."""
    return re.sub(r"(.)\1{7,}",
                  lambda m: "%s{%d}" % (m.group(1), len(m.group(0))), text)


def show(value):
    if value is None:
        return "ok"
    if isinstance(value, Fd):
        return "fd(%s)" % _short(value.rel)
    if isinstance(value, Rel):
        return _short(value.rel)
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value)
        if len(value) <= 24:
            return repr(value)
        return "<%d bytes, %d zero, crc %08x>" % (
            len(value), value.count(0), zlib.crc32(value))
    if isinstance(value, (list, tuple)):
        return "[%s]" % ", ".join(show(v) for v in value)
    if isinstance(value, str):
        return repr(_short(value))
    return str(value)


def describe(st, times=False, blocks=False):
    """The stat fields a passthrough must report as the store does."""
    text = "%s %04o nlink=%d size=%d uid=%d gid=%d" % (
        KINDS.get(stat.S_IFMT(st.st_mode), "?"), stat.S_IMODE(st.st_mode),
        st.st_nlink, st.st_size, st.st_uid, st.st_gid)
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        text += " rdev=%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
    if blocks:
        text += " blocks=%d" % st.st_blocks
    if times:
        text += " atime=%d mtime=%d" % (st.st_atime_ns, st.st_mtime_ns)
    return text


def errname(err):
    return errno.errorcode.get(err, str(err))


class Transcript:
    """Runs calls under one root and records each with its result."""

    def __init__(self, root, who=""):
        self.root = root
        self.who = who
        self.lines = []

    def path(self, *parts):
        return Rel(self.root, os.path.join(*parts) if parts else ".")

    def note(self, label, result):
        self.lines.append("%s%s -> %s" % (self.who, _short(label),
                                          _short(str(result))))

    def call(self, fn, *args, what=None, **kwargs):
        """fn(*args): its value, or None after an error (both recorded)."""
        if what is None:
            shown = [show(a) for a in args]
            shown += ["%s=%s" % (k, show(v)) for k, v in kwargs.items()]
            what = "%s(%s)" % (fn.__name__, ", ".join(shown))
        try:
            value = fn(*args, **kwargs)
        except OSError as e:
            self.note(what, errname(e.errno))
            return None
        except Exception as e:  # a failed call earlier on: keep going
            self.note(what, type(e).__name__)
            return None
        self.note(what, show(value))
        return value

    def fails(self, fn, *args, **kwargs):
        """Make the call; True if it failed."""
        before = len(self.lines)
        self.call(fn, *args, **kwargs)
        return " -> E" in self.lines[before]

    # Files.
    def open(self, rel, flags, mode=0o644, dir_fd=None):
        what = "open(%s, %s)" % (rel, flag_names(flags))
        try:
            fd = os.open(rel if dir_fd is not None else self.path(rel),
                         flags, mode, dir_fd=dir_fd)
        except OSError as e:
            self.note(what, errname(e.errno))
            return None
        self.note(what, "fd")
        return Fd(fd, rel)

    def close(self, fd):
        if fd is not None:
            self.call(os.close, fd)

    def write(self, rel, data, mode=0o644):
        fd = self.open(rel, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        if fd is not None:
            self.call(os.write, fd, data)
            self.close(fd)

    def read(self, rel):
        try:
            with open(self.path(rel), "rb") as f:
                data = f.read()
        except OSError as e:
            self.note("read %s" % rel, errname(e.errno))
            return None
        self.note("read %s" % rel, show(data))
        return data

    def stat(self, rel, follow=True, times=False, blocks=False):
        what = "%s(%s)" % ("stat" if follow else "lstat", rel)
        try:
            st = os.stat(self.path(rel), follow_symlinks=follow)
        except OSError as e:
            self.note(what, errname(e.errno))
            return None
        self.note(what, describe(st, times, blocks))
        return st

    def lstat(self, rel, **kwargs):
        return self.stat(rel, follow=False, **kwargs)

    def fstat(self, fd, times=False, blocks=False):
        st = self.call(os.fstat, fd)
        if st is not None:
            self.lines[-1] = "%sfstat(%s) -> %s" % (
                self.who, show(fd), describe(st, times, blocks))
        return st

    def same_inode(self, a, b):
        try:
            same = (os.lstat(self.path(a)).st_ino ==
                    os.lstat(self.path(b)).st_ino)
        except OSError as e:
            self.note("same inode %s %s" % (a, b), errname(e.errno))
            return
        self.note("same inode %s %s" % (a, b), same)

    def listdir(self, rel="."):
        try:
            names = sorted(os.listdir(self.path(rel)))
        except OSError as e:
            self.note("listdir(%s)" % rel, errname(e.errno))
            return None
        self.note("listdir(%s)" % rel, show(names))
        return names

    def xattrs(self, rel, follow=True):
        """listxattr without octofs's own names."""
        what = "listxattr(%s%s)" % (rel, "" if follow else ", nofollow")
        try:
            names = os.listxattr(self.path(rel), follow_symlinks=follow)
        except OSError as e:
            self.note(what, errname(e.errno))
            return
        self.note(what, show(sorted(n for n in names
                                    if not n.startswith("user.octofs."))))

    def tree(self, rel="."):
        """Every entry below @rel: type, mode, owner, links, and which
        names share an inode (numbered in walk order)."""
        classes = {}
        top = self.path(rel)
        for dirpath, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(dirs + files):
                full = os.path.join(dirpath, name)
                st = os.lstat(full)
                ino = classes.setdefault(st.st_ino, len(classes))
                line = describe(st) + " ino#%d" % ino
                if stat.S_ISLNK(st.st_mode):
                    line += " -> %r" % os.readlink(full)
                self.note("tree " + os.path.relpath(full, top), line)

    # Other processes.
    @contextlib.contextmanager
    def child(self, fn, uid=None, gid=None, groups=()):
        """Run fn(transcript) in a child process (as @uid if given) and
        hold it until the block ends; its lines join this transcript."""
        lines_r, lines_w = os.pipe()
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(lines_r)
            os.close(go_w)
            _child_main(self, fn, uid, gid, groups, lines_w, go_r)
        os.close(lines_w)
        os.close(go_r)
        buf = b""
        try:
            while not buf.endswith(b"\n"):
                chunk = os.read(lines_r, 65536)
                if not chunk:
                    break
                buf += chunk
            self.lines.extend(json.loads(buf) if buf.strip()
                              else ["child died"])
            yield pid
        finally:
            os.close(go_w)
            os.close(lines_r)
            os.waitpid(pid, 0)

    def as_user(self, fn, uid=NOBODY, gid=NOGROUP, groups=()):
        with self.child(fn, uid, gid, groups):
            pass


def _child_main(parent, fn, uid, gid, groups, lines_w, go_r):
    """In the forked child: switch user, run, report, wait, exit."""
    status = 0
    try:
        who = "[uid %d] " % uid if uid is not None else "[child] "
        t = Transcript(parent.root, who)
        try:
            if uid is not None:
                os.setgroups(list(groups))
                os.setresgid(gid, gid, gid)
                os.setresuid(uid, uid, uid)
            fn(t)
        except BaseException as e:
            t.lines.append("%sraised %r" % (who, e))
            status = 1
        with os.fdopen(lines_w, "wb") as f:
            f.write(json.dumps(t.lines).encode() + b"\n")
        os.read(go_r, 1)
    finally:
        os._exit(status)


FLAG_NAMES = ["O_WRONLY", "O_RDWR", "O_CREAT", "O_EXCL", "O_TRUNC",
              "O_APPEND", "O_NONBLOCK", "O_DIRECTORY", "O_NOFOLLOW",
              "O_PATH", "O_DIRECT"]


def flag_names(flags):
    names = [n for n in FLAG_NAMES if flags & getattr(os, n)]
    return "|".join(names) or "O_RDONLY"


# The two roots.
class Pair:
    """A mount and a plain directory of the same filesystem."""

    def __init__(self, mount, plain):
        self.mount = mount
        self.plain = plain
        self.count = 0

    def run(self, scenario, root):
        os.mkdir(root)
        os.chmod(root, 0o755)
        old = os.umask(0o022)
        try:
            t = Transcript(root)
            scenario(t)
        finally:
            os.umask(old)
        return t.lines

    def check(self, scenario):
        """Run @scenario in both roots; fail with a diff if they differ."""
        name = "c%d" % self.count
        self.count += 1
        plain = self.run(scenario, os.path.join(self.plain, name))
        mounted = self.run(scenario, self.mount.path(name))
        if plain != mounted:
            diff = difflib.unified_diff(plain, mounted, "plain directory",
                                        "octofs mount", lineterm="", n=2)
            pytest.fail("the mount differs from a plain directory:\n" +
                        "\n".join(diff), pytrace=False)
        return plain


@pytest.fixture
def base():
    """A directory anyone can reach (pytest's own tmp_path is 0700).  Its
    mount point and plain directory have names of the same length, so
    absolute paths in both have the same length too."""
    path = tempfile.mkdtemp(prefix="octofs-posix-")
    os.chmod(path, 0o755)
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def mounted_pair(base, server, opts):
    plain = base / "dir"
    plain.mkdir()
    m = Mount(base, server, opts=opts, name="mnt")
    os.chmod(m.store, 0o755)
    try:
        m.start()
        yield Pair(m, str(plain))
    finally:
        m.stop()


@pytest.fixture(params=[ROOT_OPTS, SHARED_OPTS], ids=["own", "shared"])
def pair(request, base, server):
    """As root, over a mount for its owner only (the daemon's own checks)
    and over one shared with default_permissions (the kernel's)."""
    with mounted_pair(base, server, request.param) as p:
        yield p


@pytest.fixture
def shared(base, server):
    """For other users: allow_other lets them in, default_permissions
    makes the kernel check their rights."""
    with mounted_pair(base, server, SHARED_OPTS) as p:
        yield p


def expect(lines, *wanted):
    """The scenario did exercise what it is about."""
    for w in wanted:
        assert w in lines, "%r not in transcript:\n%s" % (
            w, "\n".join(lines))


# Directories.
def test_mkdir_rmdir(pair):
    def scenario(t):
        t.call(os.mkdir, t.path("d"), 0o750)
        t.call(os.mkdir, t.path("d"))
        t.call(os.mkdir, t.path("d", "e"))
        t.stat("d")
        t.stat("d/e")
        t.call(os.rmdir, t.path("d"))
        t.call(os.rmdir, t.path("nope"))
        t.call(os.mkdir, t.path("nope", "x"))
        t.write("f", b"file")
        t.call(os.mkdir, t.path("f", "x"))
        t.call(os.rmdir, t.path("f"))
        t.call(os.rmdir, t.path("f", "x"))
        t.call(os.mkdir, t.path("f"))
        t.call(os.symlink, "d", t.path("ld"))
        t.call(os.rmdir, t.path("ld"))
        t.call(os.rmdir, t.path("d", "e", "."))
        t.call(os.rmdir, t.path("d", "e", ".."))
        t.call(os.rmdir, t.path("d", "e"))
        t.stat("d")
        t.call(os.rmdir, t.path("d"))
        t.stat("d")
        t.call(os.mkdir, t.path("d"), 0o1777)
        t.call(os.mkdir, t.path("d", "s"), 0o2755)
        t.stat("d/s")
        t.listdir()

    expect(pair.check(scenario), "rmdir(d) -> ENOTEMPTY",
           "rmdir(nope) -> ENOENT", "mkdir(d) -> EEXIST",
           "mkdir(f/x) -> ENOTDIR", "rmdir(f) -> ENOTDIR",
           "rmdir(ld) -> ENOTDIR", "rmdir(d/e/.) -> EINVAL")


def test_umask_applies_once(pair):
    def scenario(t):
        for mask in (0, 0o022, 0o077, 0o007):
            os.umask(mask)
            d = "u%03o" % mask
            t.call(os.mkdir, t.path(d), 0o777)
            t.stat(d)
            t.close(t.open(d + "/f", os.O_CREAT | os.O_WRONLY, 0o666))
            t.stat(d + "/f")
            t.call(os.mkfifo, t.path(d, "p"), 0o666)
            t.stat(d + "/p")
            t.call(os.mknod, t.path(d, "n"), 0o666 | stat.S_IFREG)
            t.stat(d + "/n")

    expect(pair.check(scenario), "stat(u000) -> dir 0777 nlink=2 "
           "size=4096 uid=0 gid=0")


# Renames.
def test_rename(pair):
    def scenario(t):
        t.write("a", b"a")
        t.write("b", b"bb")
        t.call(os.mkdir, t.path("d"))
        t.call(os.mkdir, t.path("full"))
        t.write("full/x", b"x")
        t.call(os.mkdir, t.path("empty"))
        t.call(os.rename, t.path("a"), t.path("a2"))
        t.call(os.rename, t.path("a"), t.path("a3"))
        t.call(os.rename, t.path("a2"), t.path("b"))
        t.read("b")
        t.call(os.rename, t.path("b"), t.path("b"))
        # Onto another name of the same file: nothing happens.
        t.call(os.link, t.path("b"), t.path("b-link"))
        t.call(os.rename, t.path("b"), t.path("b-link"))
        t.same_inode("b", "b-link")
        t.call(os.unlink, t.path("b-link"))
        t.call(renameat2, t.path("b"), t.path("full/x"), RENAME_NOREPLACE)
        t.call(renameat2, t.path("b"), t.path("c"), RENAME_NOREPLACE)
        t.call(renameat2, t.path("c"), t.path("d"), RENAME_EXCHANGE)
        t.lstat("c")
        t.lstat("d")
        t.call(renameat2, t.path("c"), t.path("d"), RENAME_EXCHANGE)
        t.call(renameat2, t.path("c"), t.path("none"), RENAME_EXCHANGE)
        t.call(renameat2, t.path("c"), t.path("d"),
               RENAME_EXCHANGE | RENAME_NOREPLACE)
        t.call(renameat2, t.path("c"), t.path("d"), 1 << 7)
        t.call(os.rename, t.path("d"), t.path("full"))
        t.call(os.rename, t.path("d"), t.path("empty"))
        t.call(os.rename, t.path("c"), t.path("empty"))
        t.call(os.rename, t.path("empty"), t.path("c"))
        t.call(os.rename, t.path("full"), t.path("full/sub"))
        t.call(os.mkdir, t.path("full/sub"))
        t.call(os.rename, t.path("full"), t.path("full/sub/in"))
        t.call(os.rename, t.path("nope"), t.path("x"))
        t.call(os.rename, t.path("c"), t.path("nope/x"))
        t.call(os.rename, t.path("c/"), t.path("c2"))
        t.call(os.rename, t.path("c"), t.path("full/x/y"))
        # Across directories: one filesystem, no EXDEV.
        t.call(os.rename, t.path("c"), t.path("full/sub/c"))
        t.call(os.rename, t.path("full/sub"), t.path("sub"))
        t.call(os.symlink, "sub", t.path("l"))
        t.call(os.rename, t.path("l"), t.path("l2"))
        t.call(os.readlink, t.path("l2"))
        t.call(renameat2, t.path("l2"), t.path("full/x"), RENAME_EXCHANGE)
        t.tree()

    expect(pair.check(scenario), "rename(d, full) -> ENOTEMPTY",
           "same inode b b-link -> True",
           "renameat2(b, full/x, 1) -> EEXIST",
           "rename(c, empty) -> EISDIR", "rename(empty, c) -> ENOTDIR",
           "rename(full, full/sub/in) -> EINVAL",
           "renameat2(c, none, 2) -> ENOENT",
           "rename(c, full/sub/c) -> ok")


def test_rename_whiteout(pair):
    def scenario(t):
        t.write("a", b"a")
        t.call(renameat2, t.path("a"), t.path("b"), RENAME_WHITEOUT)
        t.lstat("a")
        t.lstat("b")
        t.listdir()

    expect(pair.check(scenario), "lstat(a) -> chr 0000 nlink=1 size=0 "
           "uid=0 gid=0 rdev=0:0")


# Links.
def test_link_unlink(pair):
    def scenario(t):
        t.write("f", b"data")
        t.call(os.mkdir, t.path("d"))
        t.call(os.link, t.path("f"), t.path("g"))
        t.call(os.link, t.path("f"), t.path("d/h"))
        t.stat("f")
        t.stat("d/h")
        t.same_inode("f", "g")
        t.same_inode("f", "d/h")
        t.call(os.link, t.path("f"), t.path("g"))
        t.call(os.link, t.path("d"), t.path("d2"))
        t.call(os.link, t.path("nope"), t.path("x"))
        t.call(os.link, t.path("f"), t.path("nope/x"))
        t.call(os.unlink, t.path("g"))
        t.stat("f")
        t.call(os.unlink, t.path("g"))
        t.call(os.unlink, t.path("d"))
        t.call(os.unlink, t.path("f/x"))
        t.call(os.symlink, "f", t.path("s"))
        t.call(os.link, t.path("s"), t.path("s2"), follow_symlinks=False)
        t.lstat("s2")
        t.same_inode("s", "s2")
        t.call(os.link, t.path("s"), t.path("s3"))
        t.same_inode("f", "s3")
        fd = t.open("f", os.O_RDWR)
        t.call(os.unlink, t.path("f"))
        t.call(os.unlink, t.path("d/h"))
        t.call(os.unlink, t.path("s3"))
        t.fstat(fd)
        t.call(os.pwrite, fd, b"more", 4)
        t.call(os.pread, fd, 100, 0)
        t.fstat(fd)
        t.close(fd)
        t.tree()

    expect(pair.check(scenario), "link(d, d2) -> EPERM",
           "unlink(d) -> EISDIR", "same inode f g -> True",
           "fstat(fd(f)) -> reg 0644 nlink=0 size=8 uid=0 gid=0")


def test_symlinks(pair):
    def scenario(t):
        t.write("target", b"t")
        t.call(os.symlink, "target", t.path("l"))
        t.call(os.readlink, t.path("l"))
        t.lstat("l")
        t.stat("l")
        t.call(os.symlink, "missing", t.path("dangling"))
        t.call(os.readlink, t.path("dangling"))
        t.stat("dangling")
        t.lstat("dangling")
        t.call(os.symlink, "x", t.path("l"))
        t.call(os.readlink, t.path("target"))
        t.call(os.readlink, t.path("nope"))
        t.open("l", os.O_RDONLY | os.O_NOFOLLOW)
        t.open("dangling", os.O_RDONLY | os.O_NOFOLLOW)
        fd = t.open("l", os.O_PATH | os.O_NOFOLLOW)
        t.fstat(fd)
        t.close(fd)
        t.close(t.open("l", os.O_RDONLY))
        t.call(os.symlink, "loop2", t.path("loop1"))
        t.call(os.symlink, "loop1", t.path("loop2"))
        t.stat("loop1")
        t.open("loop1", os.O_RDONLY)
        t.call(os.symlink, "/", t.path("abs"))
        t.call(os.readlink, t.path("abs"))
        t.call(os.symlink, "x" * 4095, t.path("long"))
        t.call(os.readlink, t.path("long"))
        t.lstat("long")
        t.call(os.symlink, "x" * 4096, t.path("toolong"))
        t.call(os.symlink, "", t.path("empty"))
        t.call(os.mkdir, t.path("d"))
        t.write("d/in", b"in")
        t.call(os.symlink, "d", t.path("ld"))
        t.read("ld/in")
        t.call(os.symlink, "../target", t.path("d/up"))
        t.read("d/up")
        fd = t.open("dangling", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        t.close(fd)
        fd = t.open("dangling", os.O_CREAT | os.O_WRONLY, 0o600)
        t.close(fd)
        t.lstat("missing")
        t.call(os.chown, t.path("l"), 1, 2, follow_symlinks=False)
        t.lstat("l")
        t.stat("l")
        t.tree()

    expect(pair.check(scenario), "open(l, O_NOFOLLOW) -> ELOOP",
           "stat(dangling) -> ENOENT", "stat(loop1) -> ELOOP",
           "readlink(target) -> EINVAL", "symlink('x', l) -> EEXIST",
           "symlink('x{4096}', toolong) -> ENAMETOOLONG",
           "symlink('', empty) -> ENOENT")


# Attributes.
def test_chmod(pair):
    def scenario(t):
        t.write("f", b"f")
        t.call(os.mkdir, t.path("d"))
        for mode in (0o640, 0o4755, 0o2755, 0o2745, 0o1777, 0, 0o7777):
            t.call(os.chmod, t.path("f"), mode)
            t.stat("f")
            t.call(os.chmod, t.path("d"), mode)
            t.stat("d")
        t.call(os.chmod, t.path("d"), 0o755)
        fd = t.open("f", os.O_RDONLY)
        t.call(os.fchmod, fd, 0o604)
        t.fstat(fd)
        t.close(fd)
        t.call(os.symlink, "f", t.path("l"))
        t.call(os.chmod, t.path("l"), 0o611)
        t.stat("f")
        t.lstat("l")
        t.call(os.chmod, t.path("nope"), 0o644)
        t.call(os.chmod, t.path("f/x"), 0o644)

    expect(pair.check(scenario), "stat(f) -> reg 7777 nlink=1 size=1 "
           "uid=0 gid=0", "chmod(nope, 420) -> ENOENT")


def test_chown_as_root(pair):
    def scenario(t):
        t.write("f", b"f")
        t.call(os.mkdir, t.path("d"))
        t.call(os.symlink, "f", t.path("l"))
        t.call(os.chown, t.path("f"), NOBODY, NOGROUP)
        t.stat("f")
        t.call(os.chown, t.path("f"), -1, 0)
        t.stat("f")
        t.call(os.chown, t.path("f"), 0, -1)
        t.stat("f")
        t.call(os.chown, t.path("d"), 123, 456)
        t.stat("d")
        t.call(os.chown, t.path("l"), 7, 8)
        t.stat("f")
        t.lstat("l")
        t.call(os.chown, t.path("l"), 9, 10, follow_symlinks=False)
        t.lstat("l")
        t.call(os.chmod, t.path("f"), 0o6755)
        t.call(os.chown, t.path("f"), 0, 0)
        t.stat("f")
        t.call(os.chmod, t.path("f"), 0o6745)
        fd = t.open("f", os.O_RDONLY)
        t.call(os.fchown, fd, NOBODY, -1)
        t.fstat(fd)
        t.call(os.fchown, fd, 0, 0)
        t.fstat(fd)
        t.close(fd)
        t.call(os.chown, t.path("nope"), 0, 0)

    expect(pair.check(scenario), "stat(f) -> reg 0644 nlink=1 size=1 "
           "uid=65534 gid=65534", "stat(f) -> reg 0755 nlink=1 size=1 "
           "uid=0 gid=0")


def test_utimens(pair):
    def now_ish(t, rel, which):
        st = os.lstat(t.path(rel))
        ns = st.st_atime_ns if which == "atime" else st.st_mtime_ns
        t.note("%s of %s is now" % (which, rel),
               abs(ns - time.time_ns()) < 60 * 10**9)

    def scenario(t):
        # *.tmp: ignored, never uploaded, so never read behind our back.
        t.write("f.tmp", b"f")
        t.call(os.mkdir, t.path("d"))
        t.call(os.symlink, "f.tmp", t.path("l"))
        t.call(os.utime, t.path("f.tmp"), ns=(1_000_000_123,
                                               2_000_000_456))
        t.stat("f.tmp", times=True)
        t.call(os.utime, t.path("f.tmp"), ns=(-1_999_999_999, 0))
        t.stat("f.tmp", times=True)
        t.call(os.utime, t.path("f.tmp"), ns=(2**33 * 10**9 + 7, 999))
        t.stat("f.tmp", times=True)
        t.call(os.utime, t.path("d"), ns=(5, 6))
        t.stat("d", times=True)
        t.call(os.utime, t.path("l"), ns=(11, 12),
               follow_symlinks=False)
        t.lstat("l", times=True)
        t.stat("l", times=True)
        t.call(utimensat, t.path("f.tmp"), 123_456_789_012, UTIME_OMIT)
        t.stat("f.tmp", times=True)
        t.call(utimensat, t.path("f.tmp"), UTIME_OMIT, 987_654_321)
        t.stat("f.tmp", times=True)
        t.call(utimensat, t.path("f.tmp"), UTIME_OMIT, UTIME_OMIT)
        t.stat("f.tmp", times=True)
        t.call(utimensat, t.path("f.tmp"), UTIME_NOW, UTIME_OMIT)
        now_ish(t, "f.tmp", "atime")
        now_ish(t, "f.tmp", "mtime")
        t.call(utimensat, t.path("f.tmp"), 1, UTIME_NOW)
        now_ish(t, "f.tmp", "atime")
        now_ish(t, "f.tmp", "mtime")
        t.call(utimensat, t.path("l"), UTIME_NOW, 77, follow=False)
        now_ish(t, "l", "atime")
        now_ish(t, "l", "mtime")
        t.call(os.utime, t.path("d"), ns=(5, 6))
        t.call(os.utime, t.path("d"))
        now_ish(t, "d", "mtime")
        fd = t.open("f.tmp", os.O_RDONLY)
        t.call(os.utime, fd, ns=(3_000_000_001, 4_000_000_002))
        t.fstat(fd, times=True)
        t.close(fd)
        t.call(utimensat, t.path("f.tmp"), 10**9, 10**9 * 2)
        t.call(utimensat, t.path("nope"), 1, 1)
        t.call(os.utime, t.path("f.tmp"), ns=(0, 10**9 + 5))
        t.stat("f.tmp", times=True)
        # A write moves mtime from an old explicit value.
        fd = t.open("f.tmp", os.O_WRONLY)
        t.call(os.write, fd, b"g")
        t.close(fd)
        now_ish(t, "f.tmp", "mtime")
        t.call(os.utime, t.path("f.tmp"), ns=(0, 10**9 + 5))
        t.call(os.truncate, t.path("f.tmp"), 100)
        now_ish(t, "f.tmp", "mtime")

    expect(pair.check(scenario), "stat(f.tmp) -> reg 0644 nlink=1 size=1"
           " uid=0 gid=0 atime=1000000123 mtime=2000000456",
           "stat(f.tmp) -> reg 0644 nlink=1 size=1 uid=0 gid=0 "
           "atime=123456789012 mtime=987654321", "mtime of l is now -> "
           "False", "atime of l is now -> True")


def test_truncate(pair):
    def scenario(t):
        t.write("f", b"0123456789")
        t.call(os.truncate, t.path("f"), 4)
        t.read("f")
        t.call(os.truncate, t.path("f"), 100_000)
        t.stat("f", blocks=True)
        t.read("f")
        t.call(os.truncate, t.path("f"), 0)
        t.stat("f")
        t.call(os.truncate, t.path("f"), -1)
        t.call(os.mkdir, t.path("d"))
        t.call(os.truncate, t.path("d"), 0)
        t.call(os.truncate, t.path("nope"), 0)
        fd = t.open("f", os.O_RDWR)
        t.call(os.write, fd, b"abcdef")
        t.call(os.ftruncate, fd, 2)
        t.fstat(fd)
        t.call(os.write, fd, b"X")
        t.call(os.ftruncate, fd, 5000)
        t.call(os.pread, fd, 10, 0)
        t.call(os.lseek, fd, 0, os.SEEK_END)
        t.close(fd)
        fd = t.open("f", os.O_RDONLY)
        t.call(os.ftruncate, fd, 1)
        t.close(fd)
        t.read("f")
        fd = t.open("f", os.O_WRONLY | os.O_TRUNC)
        t.fstat(fd)
        t.close(fd)

    expect(pair.check(scenario), "truncate(f, -1) -> EINVAL",
           "truncate(d, 0) -> EISDIR", "ftruncate(fd(f), 1) -> EINVAL")


def test_fsync(pair):
    def scenario(t):
        fd = t.open("f", os.O_RDWR | os.O_CREAT)
        t.call(os.write, fd, b"synced")
        t.call(os.fsync, fd)
        t.call(os.fdatasync, fd)
        t.close(fd)
        fd = t.open("f", os.O_RDONLY)
        t.call(os.fsync, fd)
        t.call(os.fdatasync, fd)
        t.close(fd)
        t.call(os.mkdir, t.path("d"))
        fd = t.open("d", os.O_RDONLY | os.O_DIRECTORY)
        t.call(os.fsync, fd)
        t.call(os.fdatasync, fd)
        t.close(fd)
        fd = t.open("f", os.O_PATH)
        t.call(os.fsync, fd)
        t.close(fd)
        t.read("f")

    expect(pair.check(scenario), "fsync(fd(d)) -> ok",
           "fsync(fd(f)) -> EBADF")


def test_statvfs(pair):
    def scenario(t):
        t.write("f", b"f")
        for rel in (".", "f"):
            # Free counts move with every write on the filesystem, and
            # f_flag has the mount's own nosuid and nodev.
            sv = os.statvfs(t.path(rel))
            t.note("statvfs(%s)" % rel, "bsize=%d frsize=%d namemax=%d "
                   "blocks=%d files=%d" % (sv.f_bsize, sv.f_frsize,
                                           sv.f_namemax, sv.f_blocks,
                                           sv.f_files))
        t.call(os.statvfs, t.path("nope"))

    expect(pair.check(scenario), "statvfs(nope) -> ENOENT")


# Locks.
FLOCK = "hhqqi"


def getlk(fd, cmd, kind, start, length):
    """F_GETLK or F_OFD_GETLK: the lock that would conflict."""
    packed = struct.pack(FLOCK, kind, os.SEEK_SET, start, length, 0)
    return struct.unpack(FLOCK, fcntl.fcntl(fd, cmd, packed))


def lock_held(res):
    """What F_GETLK reported, without the holder's pid."""
    if res[0] == fcntl.F_UNLCK:
        return "F_UNLCK"
    return "%s %d+%d" % (lock_name(res[0]), res[2], res[3])


def setlk(fd, cmd, kind, start, length):
    fcntl.fcntl(fd, cmd, struct.pack(FLOCK, kind, os.SEEK_SET, start,
                                     length, 0))


def lock_name(kind):
    return {fcntl.F_RDLCK: "F_RDLCK", fcntl.F_WRLCK: "F_WRLCK",
            fcntl.F_UNLCK: "F_UNLCK"}[kind]


def test_locks(pair):
    def holder(c):
        fd = c.open("f", os.O_RDWR)
        c.call(setlk, fd, fcntl.F_SETLK, fcntl.F_WRLCK, 0, 10,
               what="F_SETLK F_WRLCK 0..10")
        c.call(setlk, fd, fcntl.F_SETLK, fcntl.F_RDLCK, 20, 10,
               what="F_SETLK F_RDLCK 20..30")
        c.call(fcntl.flock, fd, fcntl.LOCK_EX | fcntl.LOCK_NB,
               what="flock LOCK_EX")
        fd2 = c.open("g", os.O_RDWR)
        c.call(setlk, fd2, F_OFD_SETLK, fcntl.F_WRLCK, 0, 0,
               what="F_OFD_SETLK F_WRLCK g")
        c.open("f", os.O_RDONLY)   # left open until the child exits

    def try_locks(t, fd, holder_pid):
        for kind, start in ((fcntl.F_WRLCK, 5), (fcntl.F_RDLCK, 5),
                            (fcntl.F_RDLCK, 25), (fcntl.F_WRLCK, 25),
                            (fcntl.F_WRLCK, 40)):
            what = "F_SETLK %s %d..%d" % (lock_name(kind), start,
                                         start + 2)
            t.call(setlk, fd, fcntl.F_SETLK, kind, start, 2, what=what)
            res = getlk(fd, fcntl.F_GETLK, kind, start, 2)
            t.note("F_GETLK " + what[8:], lock_held(res))
            if res[0] != fcntl.F_UNLCK:
                t.note("holder is the child", res[4] == holder_pid)
        t.call(fcntl.flock, fd, fcntl.LOCK_SH | fcntl.LOCK_NB,
               what="flock LOCK_SH")
        t.call(fcntl.flock, fd, fcntl.LOCK_EX | fcntl.LOCK_NB,
               what="flock LOCK_EX")

    def scenario(t):
        t.write("f", b"0123456789" * 10)
        t.write("g", b"g")
        fd = t.open("f", os.O_RDWR)
        g = t.open("g", os.O_RDWR)
        with t.child(holder) as pid:
            try_locks(t, fd, pid)
            t.call(setlk, g, F_OFD_SETLK, fcntl.F_RDLCK, 0, 0,
                   what="F_OFD_SETLK F_RDLCK g")
            res = getlk(g, F_OFD_GETLK, fcntl.F_RDLCK, 0, 0)
            t.note("F_OFD_GETLK g", "%s pid=%d" % (lock_held(res),
                                                   res[4]))
        # The child is gone, and its locks with it.
        try_locks(t, fd, 0)
        # Two open file descriptions in one process: OFD locks conflict,
        # flock conflicts, process-associated locks do not.
        fd2 = t.open("f", os.O_RDWR)
        t.call(setlk, fd, F_OFD_SETLK, fcntl.F_WRLCK, 0, 10,
               what="F_OFD_SETLK fd 0..10")
        t.call(setlk, fd2, F_OFD_SETLK, fcntl.F_WRLCK, 5, 10,
               what="F_OFD_SETLK fd2 5..15")
        t.call(fcntl.flock, fd2, fcntl.LOCK_EX | fcntl.LOCK_NB,
               what="flock fd2 LOCK_EX")
        t.call(setlk, fd2, fcntl.F_SETLK, fcntl.F_WRLCK, 20, 10,
               what="F_SETLK fd2 20..30")
        ro = t.open("f", os.O_RDONLY)
        t.call(setlk, ro, fcntl.F_SETLK, fcntl.F_WRLCK, 50, 1,
               what="F_SETLK F_WRLCK on a read-only fd")
        for f in (fd, fd2, ro, g):
            t.close(f)

    lines = pair.check(scenario)
    expect(lines, "F_SETLK F_WRLCK 5..7 -> EAGAIN",
           "F_SETLK F_RDLCK 25..27 -> ok", "flock LOCK_SH -> EAGAIN",
           "holder is the child -> True",
           "F_OFD_SETLK F_RDLCK g -> EAGAIN",
           "F_SETLK F_WRLCK on a read-only fd -> EBADF")


# Access and opening.
def test_access(pair):
    def scenario(t):
        for mode in (0o644, 0o755, 0o000, 0o100, 0o010, 0o001, 0o200):
            name = "f%03o" % mode
            t.write(name, b"x")
            t.call(os.chmod, t.path(name), mode)
            for m in (os.F_OK, os.R_OK, os.W_OK, os.X_OK,
                      os.R_OK | os.W_OK, os.R_OK | os.X_OK):
                t.call(os.access, t.path(name), m)
        t.call(os.mkdir, t.path("d"), 0o000)
        for m in (os.F_OK, os.R_OK, os.W_OK, os.X_OK):
            t.call(os.access, t.path("d"), m)
        t.call(os.access, t.path("nope"), os.F_OK)
        t.call(os.access, t.path("f644/x"), os.F_OK)
        t.call(os.symlink, "f000", t.path("l"))
        t.call(os.access, t.path("l"), os.X_OK)

    expect(pair.check(scenario), "access(f644, 1) -> False",
           "access(f100, 1) -> True")


def test_special_files(pair):
    def scenario(t):
        t.call(os.mkfifo, t.path("p"), 0o640)
        t.lstat("p")
        t.call(os.mkfifo, t.path("p"))
        t.open("p", os.O_WRONLY | os.O_NONBLOCK)
        r = t.open("p", os.O_RDONLY | os.O_NONBLOCK)
        w = t.open("p", os.O_WRONLY | os.O_NONBLOCK)
        t.call(os.write, w, b"through the pipe")
        t.call(os.read, r, 100)
        t.close(w)
        t.close(r)
        t.call(os.mknod, t.path("c"), stat.S_IFCHR | 0o600,
               os.makedev(1, 3))
        t.lstat("c")
        # The mount is nodev, libfuse's default: its device nodes do not
        # open (EACCES), so that is not compared.
        t.call(os.mknod, t.path("b"), stat.S_IFBLK | 0o600,
               os.makedev(7, 200))
        t.lstat("b")
        t.call(os.mknod, t.path("r"), stat.S_IFREG | 0o600)
        t.lstat("r")
        t.call(os.mknod, t.path("s"), stat.S_IFSOCK | 0o600)
        t.lstat("s")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        t.call(sock.bind, t.path("sock"), what="bind(sock)")
        sock.close()
        t.lstat("sock")
        t.call(os.mknod, t.path("dir"), stat.S_IFDIR | 0o700)
        t.tree()

    expect(pair.check(scenario), "mkfifo(p) -> EEXIST",
           "open(p, O_WRONLY|O_NONBLOCK) -> ENXIO",
           "lstat(c) -> chr 0600 nlink=1 size=0 uid=0 gid=0 rdev=1:3",
           "mknod(dir, 16832) -> EPERM")


def test_open_flags(pair):
    def scenario(t):
        t.write("f", b"0123456789")
        t.call(os.mkdir, t.path("d"))
        t.open("f", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        t.open("d", os.O_WRONLY)
        t.open("d", os.O_RDWR)
        t.open("d", os.O_CREAT | os.O_WRONLY)
        t.close(t.open("d", os.O_RDONLY))
        t.open("f", os.O_RDONLY | os.O_DIRECTORY)
        t.open("nope", os.O_RDONLY)
        t.open("nope/x", os.O_CREAT | os.O_WRONLY)
        t.open("f/x", os.O_CREAT | os.O_WRONLY)
        t.open("d/", os.O_CREAT | os.O_WRONLY)
        t.open("new/", os.O_CREAT | os.O_WRONLY)
        fd = t.open("f", os.O_RDWR | os.O_TRUNC)
        t.fstat(fd)
        t.call(os.write, fd, b"abc")
        t.close(fd)
        fd = t.open("f", os.O_WRONLY | os.O_APPEND)
        t.call(os.lseek, fd, 0, os.SEEK_SET)
        t.call(os.write, fd, b"de")
        t.call(os.lseek, fd, 0, os.SEEK_CUR)
        t.call(os.pwrite, fd, b"FG", 0)
        t.fstat(fd)
        other = t.open("f", os.O_WRONLY)
        t.call(os.pwrite, other, b"0123456789", 0)
        t.call(os.write, fd, b"H")
        t.close(other)
        t.close(fd)
        t.read("f")
        fd = t.open("f", os.O_RDONLY)
        t.call(os.write, fd, b"x")
        t.close(fd)
        fd = t.open("f", os.O_WRONLY)
        t.call(os.read, fd, 1)
        t.close(fd)
        fd = t.open("c", os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o751)
        t.fstat(fd)
        t.close(fd)
        fd = t.open("c", os.O_CREAT | os.O_RDWR, 0o600)
        t.fstat(fd)
        t.close(fd)
        fd = t.open("ro", os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o400)
        t.call(os.write, fd, b"created read-only, still writable")
        t.close(fd)
        t.read("ro")

    expect(pair.check(scenario), "open(f, O_WRONLY|O_CREAT|O_EXCL) -> "
           "EEXIST", "open(d, O_WRONLY) -> EISDIR",
           "open(f, O_DIRECTORY) -> ENOTDIR",
           "read f -> b'0123456789H'")


def test_sparse_and_seek(pair):
    def scenario(t):
        fd = t.open("s", os.O_RDWR | os.O_CREAT)
        t.call(os.pwrite, fd, b"end", 1 << 20)
        t.call(os.pwrite, fd, b"start", 0)
        t.fstat(fd, blocks=True)
        t.call(os.pread, fd, 8, 4096 * 3)
        t.call(os.pread, fd, 8, (1 << 20) - 2)
        t.call(os.pread, fd, 8, (1 << 20) + 3)
        t.call(os.pread, fd, 8, 1 << 30)
        t.call(os.fsync, fd)
        for off in (0, 5, 4096, 100_000, (1 << 20) + 1, (1 << 20) + 3,
                    1 << 21):
            t.call(os.lseek, fd, off, SEEK_DATA,
                   what="lseek(%d, SEEK_DATA)" % off)
            t.call(os.lseek, fd, off, SEEK_HOLE,
                   what="lseek(%d, SEEK_HOLE)" % off)
        t.call(os.lseek, fd, -1, os.SEEK_SET)
        t.call(os.lseek, fd, 10, os.SEEK_END)
        t.call(os.lseek, fd, 0, 17)
        t.call(os.write, fd, b"past")
        t.fstat(fd, blocks=True)
        # More than one FUSE request carries (max_write is 1 MiB).
        t.call(os.pwrite, fd, bytes(range(256)) * 12288, 1 << 22)
        t.call(os.pread, fd, 3 << 20, (1 << 22) + 1)
        t.fstat(fd)
        t.close(fd)
        t.read("s")
        t.call(os.mkdir, t.path("d"))
        fd = t.open("d", os.O_RDONLY)
        t.call(os.pread, fd, 1, 0)
        t.close(fd)

    expect(pair.check(scenario), "lseek(1048579, SEEK_DATA) -> ENXIO",
           "lseek(fd(s), 0, 17) -> EINVAL", "pread(fd(d), 1, 0) -> EISDIR")


def test_fallocate(pair):
    def scenario(t):
        fd = t.open("f", os.O_RDWR | os.O_CREAT)
        t.call(os.posix_fallocate, fd, 0, 8192)
        t.fstat(fd, blocks=True)
        t.call(fallocate, fd, FALLOC_FL_KEEP_SIZE, 8192, 65536)
        t.fstat(fd, blocks=True)
        t.call(os.pwrite, fd, b"x" * 65536, 0)
        t.call(fallocate, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
               4096, 8192)
        t.fstat(fd, blocks=True)
        t.call(os.pread, fd, 16, 4090)
        t.call(os.lseek, fd, 0, SEEK_HOLE)
        t.call(os.lseek, fd, 4096, SEEK_DATA)
        t.call(fallocate, fd, FALLOC_FL_PUNCH_HOLE, 0, 4096)
        t.call(fallocate, fd, FALLOC_FL_ZERO_RANGE, 60000, 10000)
        t.fstat(fd, blocks=True)
        t.call(fallocate, fd, 0, 100_000, 4096)
        t.fstat(fd, blocks=True)
        t.call(fallocate, fd, 0, 0, 0)
        t.call(fallocate, fd, 0, -1, 10)
        t.call(os.posix_fallocate, fd, 0, 0)
        t.close(fd)
        fd = t.open("f", os.O_RDONLY)
        t.call(fallocate, fd, 0, 0, 1 << 20)
        t.call(os.posix_fallocate, fd, 0, 1 << 20)
        t.close(fd)
        t.read("f")

    expect(pair.check(scenario), "fallocate(fd(f), 2, 0, 4096) -> "
           "ENOTSUP", "fallocate(fd(f), 0, 0, 0) -> EINVAL",
           "fallocate(fd(f), 0, 0, 1048576) -> EBADF")


def test_o_direct(pair):
    def scenario(t):
        data = mmap.mmap(-1, 8192)      # page-aligned, as O_DIRECT needs
        data.write(bytes(range(256)) * 32)
        fd = t.open("d", os.O_RDWR | os.O_CREAT | os.O_DIRECT)
        t.call(os.pwritev, fd, [data], 0, what="pwritev(8192 at 0)")
        t.call(os.pwritev, fd, [data], 12288, what="pwritev(8192 at 12288)")
        back = mmap.mmap(-1, 8192)
        t.call(os.preadv, fd, [back], 4096, what="preadv(8192 at 4096)")
        t.note("read back", show(back[:]))
        t.fstat(fd)
        t.call(os.fsync, fd)
        t.close(fd)
        t.read("d")
        fd = t.open("d", os.O_RDWR | os.O_DIRECT)
        t.call(os.preadv, fd, [back], 16384, what="preadv(8192 at 16384)")
        t.note("read back", show(back[:]))
        t.call(os.pwritev, fd, [data], 16384, what="pwritev(8192 at 16384)")
        t.fstat(fd)
        t.close(fd)
        t.read("d")

    expect(pair.check(scenario), "pwritev(8192 at 0) -> 8192",
           "preadv(8192 at 16384) -> 4096", "pwritev(8192 at 16384) -> 8192")


def known_difference(check, scenario, *mount_lines):
    """A documented difference (README): the check fails, and the mount's
    side of its diff shows exactly @mount_lines."""
    with pytest.raises(pytest.fail.Exception) as e:
        check(scenario)
    for line in mount_lines:
        assert "\n+" + line in str(e.value), str(e.value)


def test_o_direct_unaligned(pair):
    """Known difference: where the daemon moves the bytes it cannot see
    the caller's buffer, so the mount accepts O_DIRECT I/O the store would
    refuse as unaligned (a file opened for writing that is neither created
    nor truncated goes through the daemon)."""
    def scenario(t):
        # Made without an open: no other handle of it may still be on
        # its way to release, so the choice of way is free.
        t.call(os.mknod, t.path("u"), stat.S_IFREG | 0o644)
        fd = t.open("u", os.O_RDWR | os.O_DIRECT)
        t.call(os.pwrite, fd, b"x", 1)
        t.call(os.pread, fd, 1, 0)
        t.close(fd)

    known_difference(pair.check, scenario, "pwrite(fd(u), b'x', 1) -> 1")


def test_o_direct_passed_through(pair):
    """A file created with O_DIRECT passes through (passthrough=1 as
    root on Linux >= 6.9): its I/O is the store's own, alignment rules
    included.  Through the daemon, the known difference above."""
    def scenario(t):
        fd = t.open("u", os.O_RDWR | os.O_CREAT | os.O_DIRECT)
        t.call(os.pwrite, fd, b"x", 1)
        t.call(os.pread, fd, 1, 0)
        t.close(fd)

    if kernel_can_pass_through():
        pair.check(scenario)
    else:
        known_difference(pair.check, scenario,
                         "pwrite(fd(u), b'x', 1) -> 1")


def test_copy_file_range(pair):
    data = bytes(range(256)) * 512

    def scenario(t):
        t.write("src", data)
        src = t.open("src", os.O_RDONLY)
        dst = t.open("dst", os.O_RDWR | os.O_CREAT)
        t.call(os.copy_file_range, src, dst, 100_000, 1000, 0)
        t.call(os.copy_file_range, src, dst, 5000, 0, 200_000)
        t.call(os.copy_file_range, src, dst, 10, len(data) + 1, 0)
        t.call(os.copy_file_range, src, dst, 100, 0)
        t.call(os.lseek, src, 0, os.SEEK_CUR)
        t.call(os.lseek, dst, 0, os.SEEK_CUR)
        t.fstat(dst)
        t.call(os.copy_file_range, dst, src, 10, 0, 0)
        t.call(os.copy_file_range, dst, dst, 100, 0, 50)
        t.call(os.copy_file_range, dst, dst, 100, 0, 1000)
        app = t.open("app", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        t.call(os.copy_file_range, src, app, 10, 0, 0)
        t.close(app)
        t.close(src)
        t.close(dst)
        t.read("dst")

    expect(pair.check(scenario), "copy_file_range(fd(src), fd(dst), "
           "100000, 1000, 0) -> 100000", "copy_file_range(fd(dst), "
           "fd(dst), 100, 0, 50) -> EINVAL")


def test_mmap(pair):
    def scenario(t):
        fd = t.open("m", os.O_RDWR | os.O_CREAT)
        t.call(os.ftruncate, fd, 3 * 4096)
        mm = mmap.mmap(fd, 3 * 4096, mmap.MAP_SHARED,
                       mmap.PROT_READ | mmap.PROT_WRITE)
        mm[100:105] = b"hello"
        mm[5000:5003] = b"xyz"
        mm[-1:] = b"!"
        t.call(mm.flush, what="msync")
        mm.close()
        t.close(fd)
        t.read("m")
        fd = t.open("m", os.O_RDONLY)
        mm = mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ)
        t.note("mapped", show(mm[95:110]))
        mm.close()
        t.call(mmap.mmap, fd, 4096, mmap.MAP_SHARED,
               mmap.PROT_READ | mmap.PROT_WRITE, what="mmap writable")
        t.close(fd)
        t.stat("m")

    expect(pair.check(scenario), "mmap writable -> EACCES")


def test_xattrs(pair):
    def scenario(t):
        t.write("f", b"f")
        t.call(os.mkdir, t.path("d"))
        t.call(os.symlink, "f", t.path("l"))
        t.xattrs("f")
        t.call(os.setxattr, t.path("f"), "user.a", b"1")
        t.call(os.getxattr, t.path("f"), "user.a")
        t.call(os.setxattr, t.path("f"), "user.a", b"2", XATTR_CREATE)
        t.call(os.setxattr, t.path("f"), "user.a", b"3", XATTR_REPLACE)
        t.call(os.setxattr, t.path("f"), "user.b", b"4", XATTR_REPLACE)
        t.call(os.setxattr, t.path("f"), "user.b", b"", XATTR_CREATE)
        t.call(os.getxattr, t.path("f"), "user.b")
        # Not near the inode's room for attributes: octofs keeps its
        # own there too on files it uploads.
        t.call(os.setxattr, t.path("f"), "user.big", b"v" * 1000)
        t.call(os.getxattr, t.path("f"), "user.big")
        t.call(lgetxattr_size, t.path("f"), "user.big", 0)
        t.call(lgetxattr_size, t.path("f"), "user.big", 10)
        t.call(os.setxattr, t.path("f"), "user.huge", b"v" * 70000)
        t.call(os.setxattr, t.path("f"), "user." + "n" * 250, b"v")
        t.call(os.setxattr, t.path("f"), "user." + "n" * 251, b"v")
        t.call(os.setxattr, t.path("f"), "bogus.a", b"v")
        t.call(os.setxattr, t.path("f"), "trusted.t", b"root only")
        t.call(os.getxattr, t.path("f"), "trusted.t")
        t.xattrs("f")
        t.call(os.getxattr, t.path("f"), "user.none")
        t.call(os.removexattr, t.path("f"), "user.none")
        t.call(os.removexattr, t.path("f"), "user.a")
        t.call(os.getxattr, t.path("f"), "user.a")
        t.xattrs("f")
        t.call(os.setxattr, t.path("d"), "user.d", b"on a dir")
        t.call(os.getxattr, t.path("d"), "user.d")
        t.xattrs("d")
        t.call(os.setxattr, t.path("l"), "user.l", b"through")
        t.call(os.getxattr, t.path("f"), "user.l")
        t.call(os.setxattr, t.path("l"), "user.l", b"on link",
               follow_symlinks=False)
        t.call(os.getxattr, t.path("l"), "user.l", follow_symlinks=False)
        t.call(os.setxattr, t.path("l"), "trusted.l", b"on link",
               follow_symlinks=False)
        t.call(os.getxattr, t.path("l"), "trusted.l",
               follow_symlinks=False)
        t.xattrs("l", follow=False)
        t.call(os.removexattr, t.path("l"), "trusted.l",
               follow_symlinks=False)
        t.xattrs("l", follow=False)
        fd = t.open("f", os.O_RDONLY)
        t.call(os.setxattr, fd, "user.fd", b"by fd")
        t.call(os.getxattr, fd, "user.fd")
        t.close(fd)
        t.call(os.mkfifo, t.path("p"))
        t.call(os.setxattr, t.path("p"), "user.p", b"fifo")
        t.call(os.setxattr, t.path("p"), "trusted.p", b"fifo")
        t.call(os.getxattr, t.path("p"), "trusted.p")
        t.call(os.getxattr, t.path("nope"), "user.a")
        t.xattrs("f")

    expect(pair.check(scenario), "setxattr(f, 'user.a', b'2', 1) -> EEXIST",
           "setxattr(f, 'user.b', b'4', 2) -> ENODATA",
           "getxattr(f, 'user.none') -> ENODATA",
           "lgetxattr_size(f, 'user.big', 10) -> ERANGE",
           "setxattr(l, 'user.l', b'on link', follow_symlinks=False) -> "
           "EPERM", "getxattr(l, 'trusted.l', follow_symlinks=False) -> "
           "b'on link'")


# Names and paths.
def test_long_names(pair):
    def scenario(t):
        n255 = "n" * 255
        n256 = "n" * 256
        wide = "\u00e9" * 127 + "w"
        t.write(n255, b"255")
        t.stat(n255)
        t.write(n256, b"256")
        t.stat(n256)
        t.write(wide, b"wide")
        t.stat(wide)
        t.write("\u00e9" * 128, b"too wide")
        t.call(os.mkdir, t.path("d" * 255))
        t.call(os.mkdir, t.path("d" * 256))
        t.call(os.symlink, n255, t.path("s" * 255))
        t.call(os.symlink, n255, t.path("s" * 256))
        t.call(os.readlink, t.path("s" * 255))
        t.call(os.link, t.path(n255), t.path("l" * 255))
        t.call(os.link, t.path(n255), t.path("l" * 256))
        t.call(os.rename, t.path(n255), t.path("r" * 256))
        t.call(os.rename, t.path(n255), t.path("r" * 255))
        t.call(os.mkfifo, t.path("p" * 256))
        t.call(os.unlink, t.path("x" * 256))
        t.call(os.setxattr, t.path("r" * 255), "user.x", b"x")
        t.listdir()

    expect(pair.check(scenario), "open(n{256}, O_WRONLY|O_CREAT|O_TRUNC)"
           " -> ENAMETOOLONG", "stat(n{255}) -> reg 0644 nlink=1 size=3 "
           "uid=0 gid=0", "mkdir(d{256}) -> ENAMETOOLONG")


def test_path_max(pair):
    def scenario(t):
        rel = ""
        for i in range(30):
            rel = os.path.join(rel, chr(ord("a") + i) * 200)
            if t.fails(os.mkdir, t.path(rel)):
                break
        # The deepest directory made: fill up to PATH_MAX exactly.
        deepest = os.path.dirname(rel)
        room = 4095 - len(t.path(deepest)) - 1
        t.write(os.path.join(deepest, "f" * room), b"at PATH_MAX - 1")
        t.stat(os.path.join(deepest, "f" * room))
        t.write(os.path.join(deepest, "g" * (room + 1)), b"at PATH_MAX")
        # Beyond PATH_MAX through directory descriptors.
        fd = t.open(deepest, os.O_RDONLY | os.O_DIRECTORY)
        for i in range(3):
            name = chr(ord("A") + i) * 200
            t.call(os.mkdir, name, dir_fd=fd)
            sub = t.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            t.close(fd)
            fd = sub
        f = t.open("deep", os.O_RDWR | os.O_CREAT, dir_fd=fd)
        t.call(os.write, f, b"beyond PATH_MAX")
        t.call(os.fchmod, f, 0o600)
        t.call(os.setxattr, f, "user.deep", b"1")
        t.call(os.getxattr, f, "user.deep")
        t.fstat(f)
        t.close(f)
        t.call(os.chmod, "deep", 0o640, dir_fd=fd)
        t.call(os.rename, "deep", "deeper", src_dir_fd=fd, dst_dir_fd=fd)
        t.call(os.listdir, fd)
        t.call(os.unlink, "deeper", dir_fd=fd)
        t.close(fd)

    lines = pair.check(scenario)
    assert any(line.endswith("ENAMETOOLONG") and line.startswith("mkdir")
               for line in lines), lines
    assert any("g{" in line and line.endswith("ENAMETOOLONG")
               for line in lines), lines
    expect(lines, "write(fd(deep), b'beyond PATH_MAX') -> 15")


# Directory listings.
def test_readdir(pair):
    def listing(t, rel):
        try:
            entries = raw_readdir(t.path(rel))
        except OSError as e:
            t.note("readdir(%s)" % rel, errname(e.errno))
            return
        for name, d_type, d_ino in sorted(entries):
            ino = os.lstat(t.path(rel, name)).st_ino
            t.note("readdir(%s) %s" % (rel, name), "%s, d_ino %s" % (
                DTYPES.get(d_type, d_type),
                "matches" if d_ino == ino else "differs"))

    def scenario(t):
        t.write("f", b"f")
        t.call(os.link, t.path("f"), t.path("hard"))
        t.call(os.mkdir, t.path("d"))
        t.call(os.symlink, "f", t.path("l"))
        t.call(os.mkfifo, t.path("p"))
        t.call(os.mknod, t.path("c"), stat.S_IFCHR | 0o600,
               os.makedev(1, 3))
        t.call(os.mknod, t.path("s"), stat.S_IFSOCK | 0o600)
        t.write(".hidden", b"h")
        listing(t, ".")
        listing(t, "d")
        listing(t, "f")
        listing(t, "nope")
        t.call(os.mkdir, t.path("many"))
        for i in range(300):
            t.call(os.mknod, t.path("many", "%03d-" % i + "m" * 100),
                   what="mknod many/%03d" % i)
        names = t.listdir("many")
        t.note("many entries", len(set(names or ())))
        for i in range(0, 300, 2):
            os.unlink(t.path("many", "%03d-" % i + "m" * 100))
        t.note("after unlinking half", len(os.listdir(t.path("many"))))
        fd = t.open("d", os.O_RDONLY | os.O_DIRECTORY)
        t.call(os.listdir, fd)
        t.close(fd)

    expect(pair.check(scenario), "readdir(.) l -> lnk, d_ino matches",
           "readdir(.) c -> chr, d_ino matches", "readdir(f) -> ENOTDIR",
           "many entries -> 300")


# As an unprivileged user.
def test_shared_mount_works(shared):
    """allow_other lets another user in at all: without it, FUSE refuses
    every call by anyone but the mounting user."""
    def scenario(t):
        t.write("f", b"f")
        t.as_user(lambda c: (c.stat("f"), c.read("f")))

    expect(shared.check(scenario), "[uid 65534] read f -> b'f'")


ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER = (
    0x01, 0x02, 0x04, 0x10, 0x20)
ACL_UNDEFINED_ID = 0xffffffff


def acl_xattr(*entries):
    """The system.posix_acl_* value of (tag, perm, id) entries."""
    return struct.pack("<I", 2) + b"".join(
        struct.pack("<HHI", tag, perm, ident) for tag, perm, ident in entries)


def test_posix_acls(shared):
    """Known difference: the mount does not carry POSIX ACLs (the kernel
    would check mode bits only), so setting one is refused as not
    supported, and the umask applies in full."""
    def scenario(t):
        t.write("f", b"acl")
        t.call(os.chmod, t.path("f"), 0o600)
        t.call(os.setxattr, t.path("f"), "system.posix_acl_access",
               acl_xattr((ACL_USER_OBJ, 6, ACL_UNDEFINED_ID),
                         (ACL_USER, 6, NOBODY),
                         (ACL_GROUP_OBJ, 0, ACL_UNDEFINED_ID),
                         (ACL_MASK, 6, ACL_UNDEFINED_ID),
                         (ACL_OTHER, 0, ACL_UNDEFINED_ID)))
        t.stat("f")
        t.as_user(lambda c: c.read("f"))
        t.call(os.mkdir, t.path("d"))
        t.call(os.setxattr, t.path("d"), "system.posix_acl_default",
               acl_xattr((ACL_USER_OBJ, 7, ACL_UNDEFINED_ID),
                         (ACL_GROUP_OBJ, 7, ACL_UNDEFINED_ID),
                         (ACL_OTHER, 7, ACL_UNDEFINED_ID)))
        os.umask(0o077)
        t.close(t.open("d/f", os.O_CREAT | os.O_WRONLY, 0o666))
        t.stat("d/f")

    known_difference(
        shared.check, scenario,
        "setxattr(f, 'system.posix_acl_access', <44 bytes, 17 zero, "
        "crc bf2db1e5>) -> ENOTSUP",
        "[uid 65534] read f -> EACCES",
        "setxattr(d, 'system.posix_acl_default', <28 bytes, 9 zero, "
        "crc 98d31f1c>) -> ENOTSUP")


def _nonroot_setup(t):
    t.call(os.mkdir, t.path("priv"), 0o700)
    t.write("priv/f", b"secret")
    t.call(os.mkdir, t.path("pub"), 0o755)
    for name, mode in (("r", 0o644), ("s", 0o600), ("x", 0o755),
                       ("w", 0o666)):
        t.write("pub/" + name, b"#!/bin/sh\n")
        t.call(os.chmod, t.path("pub", name), mode)
    t.call(os.mkdir, t.path("shared"))
    t.call(os.chmod, t.path("shared"), 0o1777)
    t.write("shared/rootfile", b"root")
    t.call(os.chmod, t.path("shared/rootfile"), 0o666)
    t.call(os.mkdir, t.path("sgid"))
    t.call(os.chown, t.path("sgid"), 0, OTHER_GROUP)
    t.call(os.chmod, t.path("sgid"), 0o2777)


def test_nonroot_denied(shared):
    def denied(c):
        c.listdir("priv")
        c.stat("priv/f")
        c.open("priv/f", os.O_RDONLY)
        c.call(os.access, c.path("priv"), os.F_OK)
        c.call(os.access, c.path("priv"), os.R_OK)
        c.call(os.access, c.path("priv/f"), os.F_OK)
        c.close(c.open("pub/r", os.O_RDONLY))
        c.open("pub/r", os.O_WRONLY)
        c.open("pub/s", os.O_RDONLY)
        c.close(c.open("pub/w", os.O_WRONLY))
        for name in ("r", "s", "x", "w"):
            for m in (os.R_OK, os.W_OK, os.X_OK):
                c.call(os.access, c.path("pub", name), m)
        c.open("pub/new", os.O_CREAT | os.O_WRONLY)
        c.call(os.mkdir, c.path("pub/nd"))
        c.call(os.mkfifo, c.path("pub/np"))
        c.call(os.symlink, "r", c.path("pub/ns"))
        c.call(os.unlink, c.path("pub/r"))
        c.call(os.rename, c.path("pub/r"), c.path("pub/r2"))
        c.call(os.link, c.path("pub/r"), c.path("pub/r3"))
        c.call(os.rmdir, c.path("priv"))
        c.call(os.chown, c.path("pub/w"), NOBODY, NOGROUP)
        c.call(os.chmod, c.path("pub/w"), 0o777)
        c.call(os.utime, c.path("pub/w"), ns=(1, 2))
        c.call(os.utime, c.path("pub/w"))
        c.call(os.utime, c.path("pub/r"))
        c.call(utimensat, c.path("pub/w"), UTIME_NOW, UTIME_OMIT)
        c.call(os.truncate, c.path("pub/r"), 0)
        c.call(os.truncate, c.path("pub/w"), 3)
        c.call(os.setxattr, c.path("pub/r"), "user.a", b"no")
        c.call(os.setxattr, c.path("pub/w"), "user.a", b"yes")
        c.call(os.getxattr, c.path("pub/w"), "user.a")
        c.call(os.getxattr, c.path("pub/s"), "user.a")
        c.call(os.setxattr, c.path("pub/w"), "trusted.a", b"no")
        c.call(os.getxattr, c.path("pub/w"), "trusted.x")
        c.call(os.removexattr, c.path("pub/r"), "user.a")
        c.call(os.execv, c.path("pub/r"), ["r"])
        c.call(os.unlink, c.path("shared/rootfile"))
        c.call(os.rename, c.path("shared/rootfile"), c.path("shared/mine"))
        c.call(os.link, c.path("pub/r"), c.path("shared/hl"))
        c.call(os.link, c.path("pub/w"), c.path("shared/hlw"))
        fd = c.open("shared/rootfile", os.O_WRONLY | os.O_APPEND)
        c.call(os.write, fd, b"+nobody")
        c.close(fd)

    def scenario(t):
        _nonroot_setup(t)
        t.call(os.setxattr, t.path("pub/w"), "trusted.x", b"root's")
        t.as_user(denied)
        t.tree()
        t.read("shared/rootfile")
        t.read("pub/w")

    expect(shared.check(scenario), "[uid 65534] listdir(priv) -> EACCES",
           "[uid 65534] open(pub/s, O_RDONLY) -> EACCES",
           "[uid 65534] chown(pub/w, 65534, 65534) -> EPERM",
           "[uid 65534] chmod(pub/w, 511) -> EPERM",
           "[uid 65534] utime(pub/w, ns=[1, 2]) -> EPERM",
           "[uid 65534] unlink(shared/rootfile) -> EPERM",
           "[uid 65534] access(pub/r, 2) -> False")


def test_nonroot_creates(shared):
    def creates(c):
        c.write("shared/mine", b"mine")
        c.stat("shared/mine")
        c.call(os.mkdir, c.path("shared/mydir"), 0o2775)
        c.stat("shared/mydir")
        c.call(os.symlink, "mine", c.path("shared/mylink"))
        c.lstat("shared/mylink")
        c.call(os.mkfifo, c.path("shared/myfifo"))
        c.lstat("shared/myfifo")
        c.call(os.mknod, c.path("shared/mynode"), stat.S_IFREG | 0o640)
        c.lstat("shared/mynode")
        c.call(os.mknod, c.path("shared/mychr"), stat.S_IFCHR | 0o640,
               os.makedev(1, 3))
        c.call(os.link, c.path("shared/mine"), c.path("shared/mine2"))
        c.stat("shared/mine2")
        c.call(os.rename, c.path("shared/mine2"), c.path("shared/mine3"))
        c.call(os.chown, c.path("shared/mine"), 0, -1)
        c.call(os.chown, c.path("shared/mine"), -1, 0)
        c.call(os.chown, c.path("shared/mine"), NOBODY, NOGROUP)
        c.call(os.chown, c.path("shared/mine"), -1, OTHER_GROUP)
        c.stat("shared/mine")
        c.call(os.chmod, c.path("shared/mine"), 0o6755)
        c.stat("shared/mine")
        fd = c.open("shared/mine", os.O_WRONLY)
        c.call(os.write, fd, b"written by its owner")
        c.close(fd)
        c.stat("shared/mine")
        c.call(os.chmod, c.path("shared/mine"), 0o6755)
        c.call(os.truncate, c.path("shared/mine"), 2)
        c.stat("shared/mine")
        c.call(os.chmod, c.path("shared/mine"), 0o6755)
        c.close(c.open("shared/mine", os.O_WRONLY | os.O_TRUNC))
        c.stat("shared/mine")
        c.call(os.chmod, c.path("shared/mine"), 0o6755)
        fd = c.open("shared/mine", os.O_WRONLY)
        c.call(os.ftruncate, fd, 1)
        c.close(fd)
        c.stat("shared/mine")
        c.call(os.utime, c.path("shared/mine"), ns=(5, 6))
        c.call(os.unlink, c.path("shared/mine3"))
        # Writes clear set-user-ID and group-executable set-group-ID bits,
        # on a new file and on one open for reading elsewhere.
        fd = c.open("shared/suid", os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                    0o6755)
        c.fstat(fd)
        c.call(os.write, fd, b"new")
        c.fstat(fd)
        c.close(fd)
        c.call(os.chmod, c.path("shared/suid"), 0o6755)
        rd = c.open("shared/suid", os.O_RDONLY)
        fd = c.open("shared/suid", os.O_WRONLY | os.O_APPEND)
        c.call(os.write, fd, b"+more")
        c.fstat(fd)
        c.close(fd)
        c.close(rd)
        c.call(os.chmod, c.path("shared/suid"), 0o6755)
        fd = c.open("shared/suid", os.O_RDWR)
        c.call(os.ftruncate, fd, 2)
        c.fstat(fd)
        c.close(fd)
        # A setgid directory of a group nobody is not in.
        c.write("sgid/f", b"f")
        c.stat("sgid/f")
        c.call(os.mkdir, c.path("sgid/d"))
        c.stat("sgid/d")
        fd = c.open("sgid/g", os.O_CREAT | os.O_WRONLY, 0o2755)
        c.fstat(fd)
        c.close(fd)
        c.call(os.mkdir, c.path("sgid/e"), 0o2755)
        c.stat("sgid/e")
        c.call(os.chmod, c.path("sgid/f"), 0o2755)
        c.stat("sgid/f")

    def scenario(t):
        _nonroot_setup(t)
        t.as_user(creates)
        t.tree("shared")
        t.tree("sgid")

    expect(shared.check(scenario), "[uid 65534] stat(shared/mine) -> reg "
           "0644 nlink=1 size=4 uid=65534 gid=65534",
           "[uid 65534] chown(shared/mine, 0, -1) -> EPERM",
           "[uid 65534] chown(shared/mine, -1, 100) -> EPERM",
           "[uid 65534] stat(sgid/f) -> reg 0644 nlink=1 size=1 "
           "uid=65534 gid=100")


def test_nonroot_in_group(shared):
    """Group permissions count the caller's supplementary groups."""
    def member(c):
        c.write("grp/f", b"by a member")
        c.stat("grp/f")
        c.call(os.chown, c.path("grp/f"), -1, OTHER_GROUP)
        c.stat("grp/f")
        c.read("grp/r")
        c.call(os.access, c.path("grp/r"), os.R_OK)

    def scenario(t):
        t.call(os.mkdir, t.path("grp"))
        t.call(os.chown, t.path("grp"), 0, OTHER_GROUP)
        t.call(os.chmod, t.path("grp"), 0o770)
        t.write("grp/r", b"group readable")
        t.call(os.chown, t.path("grp/r"), 0, OTHER_GROUP)
        t.call(os.chmod, t.path("grp/r"), 0o640)
        t.as_user(member, groups=(OTHER_GROUP,))
        t.as_user(member)
        t.tree("grp")

    expect(shared.check(scenario), "[uid 65534] read grp/r -> "
           "b'group readable'", "[uid 65534] read grp/r -> EACCES")
