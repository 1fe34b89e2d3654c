"""Hostile file names and links: every name uploads with a valid JSON
file_name, and nothing reaches outside the store.

Names travel as bytes (os.fsencode) end to end.  The presign body's
file_name is the basename with each byte that does not start well-formed
UTF-8 replaced by U+FFFD; the stored file keeps its exact bytes.  A file
whose NAME.url would pass NAME_MAX (255 bytes) has no sibling, only the
user.octofs.url attribute.

Symlinks are stored as symlinks and never followed by octofs itself: not
when it creates a file, not when it uploads, not in the start-up scan.
"""
import errno
import hashlib
import os
import threading

import pytest

from conftest import Mount, wait_until, write_file, read_file, xattr

FAST_RETRY = ["retry_min_ms=50", "retry_max_ms=300", "timeout=5"]
OWN = "user.octofs."
R = "\ufffd"


def bpath(m, *names):
    """A path in the mount, as bytes, so any name survives."""
    return os.path.join(os.fsencode(m.mnt), *names)


def bstore(m, *names):
    return os.path.join(os.fsencode(m.store), *names)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def presigns(server):
    return server.log("presign")


def own_attrs(path):
    """octofs's attributes on a file outside the mount, without links."""
    return sorted(n for n in os.listxattr(path, follow_symlinks=False)
                  if n.startswith(OWN))


def assert_sane_url(url, server):
    """Published URLs are plain ASCII without spaces, quotes or
    fragments: nothing of the local name leaks into them raw."""
    assert url.startswith(server.url + "/files/")
    assert url.isascii() and url.isprintable()
    for c in " \"'<>\\#?":
        assert c not in url


def upload_and_check(m, server, name, data, file_name):
    """Save @name (bytes) through the mount; check what the server saw,
    what it serves and what the mount shows.  Returns the URL."""
    write_file(bpath(m, name), data)
    m.wait_status(bpath(m, name), "done")
    url = xattr(bpath(m, name))
    reqs = presigns(server)
    assert len(reqs) == 1
    # 200 and a parsed body: the server read valid JSON.
    assert reqs[0]["status"] == 200
    assert reqs[0]["body"]["file_name"] == file_name
    file_name.encode("utf-8")       # no lone surrogates: real UTF-8
    assert_sane_url(url, server)
    assert server.fetch(url) == data
    key = xattr(bpath(m, name), "user.octofs.key")
    assert url.endswith(key)
    assert key.isprintable() and ".." not in key.split("/")
    assert read_file(bstore(m, name)) == data
    assert name in os.listdir(os.fsencode(m.mnt))
    return url


NAMES = [
    # (name as stored, file_name the server must get)
    (b"two words.txt", "two words.txt"),
    (b"   ", "   "),
    (b" lead and trail .txt", " lead and trail .txt"),
    (b'say "hi".txt', 'say "hi".txt'),
    (b"back\\slash\\.txt", "back\\slash\\.txt"),
    (b"it's.txt", "it's.txt"),
    (b"line\nbreak.txt", "line\nbreak.txt"),
    (b"tab\tcr\r.txt", "tab\tcr\r.txt"),
    (b"\x01\x1f\x7fctl.bin", "\x01\x1f\x7fctl.bin"),
    (b"-rf", "-rf"),
    (b"--help.txt", "--help.txt"),
    (b"-", "-"),
    (b"...", "..."),
    (b"100%.txt", "100%.txt"),
    (b"%2e%2e%2fup.txt", "%2e%2e%2fup.txt"),
    (b"a#b.txt", "a#b.txt"),
    (b"what?.txt", "what?.txt"),
    (b"a&b=c.txt", "a&b=c.txt"),
    (b"q?x=1&y=2#frag.png", "q?x=1&y=2#frag.png"),
    ("café.txt".encode(), "café.txt"),
    ("日本語のファイル.txt".encode(), "日本語のファイル.txt"),
    ("\U0001F600.png".encode(), "\U0001F600.png"),
    # Invalid UTF-8: one U+FFFD per byte that starts no valid sequence.
    (b"caf\xe9.txt", "caf" + R + ".txt"),
    (b"\xff\xfe.bin", R * 2 + ".bin"),
    (b"\x80", R),
    (b"cut\xe2\x82.txt", "cut" + R * 2 + ".txt"),
    (b"over\xc0\xaflong.txt", "over" + R * 2 + "long.txt"),
    (b"sur\xed\xa0\x80.txt", "sur" + R * 3 + ".txt"),
    (b"big\xf4\x90\x80\x80.txt", "big" + R * 4 + ".txt"),
    (b"mix\xe9\xc3\xa9.png", "mix" + R + "é.png"),
]


@pytest.mark.parametrize("name,file_name", NAMES,
                         ids=[repr(n[0])[2:-1] for n in NAMES])
def test_name_uploads(mnt, server, name, file_name):
    data = b"bytes of " + name
    url = upload_and_check(mnt, server, name, data, file_name)
    sibling = bpath(mnt, name + b".url")
    assert read_file(sibling) == (url + "\n").encode()
    assert name + b".url" in os.listdir(os.fsencode(mnt.mnt))
    assert not os.path.lexists(bstore(mnt, name + b".url"))


def test_extension_survives_invalid_utf8(mnt, server):
    """The replacement stays inside the base: the server still sees the
    extension, so the content type and object key keep it."""
    upload_and_check(mnt, server, b"shot\xff.png", b"\x89PNG",
                     "shot" + R + ".png")
    obj, = server.objects().values()
    assert obj["content_type"] == "image/png"
    assert obj["object_key"].endswith(".png")


LONG = [
    # (name, its sibling fits in NAME_MAX)
    (b"L" * 251 + b".bin", False),         # 255 bytes
    (b"l" * 247 + b".bin", True),          # 251 + ".url" = 255 bytes
    (b"m" * 248 + b".bin", False),         # 252 + ".url" = 256 bytes
    ("é".encode() * 125 + b"x.txt", False),          # 255 bytes, UTF-8
    (b"\xff" * 251 + b".txt", False),      # 255 bytes, none of it UTF-8
]


@pytest.mark.parametrize("name,has_sibling", LONG,
                         ids=["255", "251", "252", "255-utf8", "255-bad"])
def test_long_name(mnt, server, name, has_sibling):
    """Up to 251 bytes a file has its NAME.url; beyond, NAME.url would
    pass NAME_MAX, so there is none (the kernel refuses the name) and
    the attribute alone carries the URL."""
    assert len(name) + len(b".url") <= 255 or not has_sibling
    url = upload_and_check(mnt, server, name, b"long",
                           name.decode("utf-8", "replace"))
    names = os.listdir(os.fsencode(mnt.mnt))
    sibling = bpath(mnt, name + b".url")
    if has_sibling:
        assert read_file(sibling) == (url + "\n").encode()
        assert name + b".url" in names
    else:
        with pytest.raises(OSError) as e:
            os.stat(sibling)
        assert e.value.errno == errno.ENAMETOOLONG
        assert sorted(names) == [name]
    assert xattr(bpath(mnt, name), "user.octofs.status") == "done"


def test_name_ending_in_url(mnt, server):
    """bookmark.url is a file like any other: its own bytes, its own
    upload and its own sibling bookmark.url.url."""
    data = b"[InternetShortcut]\nURL=https://example.org/\n"
    url = upload_and_check(mnt, server, b"bookmark.url", data,
                           "bookmark.url")
    assert read_file(mnt.path("bookmark.url")) == data
    assert read_file(mnt.path("bookmark.url.url")) == (url + "\n").encode()
    assert sorted(os.listdir(mnt.path())) == ["bookmark.url",
                                              "bookmark.url.url"]


def test_real_name_url_beside_its_base(mnt, server):
    """A real page.url beside page: the real file wins its name (saved
    first: once page has a URL, page.url is its read-only sibling), page
    keeps its URL in the attribute, and page.url gets a sibling too."""
    write_file(mnt.path("page.url"), b"real")
    own_url = xattr(mnt.path("page.url"))
    write_file(mnt.path("page"), b"page")
    page_url = xattr(mnt.path("page"))
    assert read_file(mnt.path("page.url")) == b"real"
    assert read_file(mnt.path("page.url.url")) == (own_url + "\n").encode()
    assert sorted(os.listdir(mnt.path())) == ["page", "page.url",
                                              "page.url.url"]
    assert server.fetch(page_url) == b"page"
    assert server.fetch(own_url) == b"real"


def test_only_dotted_url_name(mnt, server):
    """".url" has no base, so it is a real name with a sibling
    ".url.url"."""
    url = upload_and_check(mnt, server, b".url", b"dot", ".url")
    assert read_file(mnt.path(".url.url")) == (url + "\n").encode()


# ---- Nothing outside the store --------------------------------------


@pytest.fixture
def outside(tmp_path):
    """A directory beside the mount, with a file that looks like an
    unfinished upload (as if its attributes had been copied)."""
    d = tmp_path / "outside"
    d.mkdir()
    f = d / "secret.txt"
    f.write_bytes(b"outside secret\n")
    os.setxattr(str(f), "user.octofs.status", b"queued")
    os.setxattr(str(f), "user.keep", b"1")
    return d


def assert_outside_untouched(outside, server):
    f = str(outside / "secret.txt")
    assert read_file(f) == b"outside secret\n"
    assert own_attrs(f) == ["user.octofs.status"]
    assert os.getxattr(f, "user.octofs.status") == b"queued"
    served = {o["sha256"] for o in server.objects().values()}
    assert sha(b"outside secret\n") not in served
    with open("/etc/passwd", "rb") as p:
        assert sha(p.read()) not in served
    assert not [r for r in presigns(server)
                if r["file_name"] in ("secret.txt", "passwd")]


def barrier(m, server, name="barrier.txt"):
    """With jobs=1, uploads run in order: once this one is done, any
    upload queued before it has been tried."""
    write_file(m.path(name), b"barrier")
    m.wait_status(m.path(name), "done")


def test_symlink_to_outside_file(server, mounts, outside):
    m = mounts(server, opts=["url_wait=30", "jobs=1"])
    secret = str(outside / "secret.txt")
    passwd_attrs = os.listxattr("/etc/passwd")
    os.symlink(secret, m.path("x"))
    os.symlink("/etc/passwd", m.path("passwd"))
    os.symlink("../../../../../../etc/passwd", m.path("rel"))
    os.symlink(secret, m.path("y.tmp"))
    os.rename(m.path("y.tmp"), m.path("y.txt"))    # ignored -> real name
    for name, target in (("x", secret), ("passwd", "/etc/passwd"),
                         ("rel", "../../../../../../etc/passwd"),
                         ("y.txt", secret)):
        assert os.readlink(m.path(name)) == target
        assert os.readlink(m.store_path(name)) == target
        assert not os.path.lexists(m.path(name + ".url"))
        # The link itself has no attributes of ours, nor its target's.
        assert os.listxattr(m.path(name), follow_symlinks=False) == []
        with pytest.raises(OSError) as e:
            os.getxattr(m.path(name), "user.octofs.url",
                        follow_symlinks=False)
        assert e.value.errno == errno.ENODATA
        with pytest.raises(OSError) as e:
            os.setxattr(m.path(name), "user.octofs.status", b"queued",
                        follow_symlinks=False)
        assert e.value.errno == errno.EPERM
    # Owner, times and hard links act on the link, never its target.
    before = os.stat(secret)
    os.chown(m.path("x"), 4321, 4321, follow_symlinks=False)
    os.utime(m.path("x"), (1, 1), follow_symlinks=False)
    os.link(m.path("x"), m.path("x2"), follow_symlinks=False)
    assert os.lstat(m.store_path("x")).st_uid == 4321
    assert os.lstat(m.store_path("x")).st_mtime == 1
    assert os.readlink(m.store_path("x2")) == secret
    after = os.stat(secret)
    assert (after.st_uid, after.st_mtime_ns, after.st_nlink) == (
        before.st_uid, before.st_mtime_ns, before.st_nlink)
    barrier(m, server)
    assert [r["file_name"] for r in presigns(server)] == ["barrier.txt"]
    assert_outside_untouched(outside, server)
    assert os.listxattr("/etc/passwd") == passwd_attrs


def test_symlink_to_outside_directory(server, mounts, outside):
    """Paths through a linked directory are the kernel's to resolve;
    what lands outside is not stored and not uploaded."""
    m = mounts(server, opts=["url_wait=30", "jobs=1"])
    os.symlink(str(outside), m.path("d"))
    write_file(m.path("d", "new.txt"), b"written via the link")
    assert read_file(str(outside / "new.txt")) == b"written via the link"
    assert sorted(os.listdir(m.path("d"))) == ["new.txt", "secret.txt"]
    assert not os.path.lexists(m.store_path("new.txt"))
    barrier(m, server)
    assert [r["file_name"] for r in presigns(server)] == ["barrier.txt"]
    assert own_attrs(str(outside / "new.txt")) == []
    assert_outside_untouched(outside, server)


@pytest.fixture
def remounts(tmp_path):
    """Mounts of one store, one at a time; all unmounted at the end."""
    made = []

    def make(server, opts=()):
        m = Mount(tmp_path, server, opts=opts, name="drop")
        made.append(m)
        return m.start()

    yield make
    for m in reversed(made):
        m.stop()


def test_store_symlink_where_queued_file_was(server, remounts, outside):
    """A queued file replaced in the store by a symlink between mounts,
    plus links to a directory outside and to the store itself: the
    start-up scan queues only real files, reads nothing through links
    and reports no error."""
    server.add_fault("presign", "status", status=503, count=-1)
    m = remounts(server, opts=["url_wait=1", "stop_grace=1"] + FAST_RETRY)
    write_file(m.path("q.txt"), b"queued file")
    write_file(m.path("keep.txt"), b"keep me")
    wait_until(lambda: len(presigns(server)) >= 2, 10, "refused presigns")
    assert m.stop() == 0
    for name in ("q.txt", "keep.txt"):
        assert os.getxattr(m.store_path(name), "user.octofs.status") in (
            b"queued", b"uploading")
    os.unlink(m.store_path("q.txt"))
    os.symlink(str(outside / "secret.txt"), m.store_path("q.txt"))
    os.symlink(str(outside), m.store_path("linked-dir"))
    os.symlink(".", m.store_path("loop"))
    server.clear_faults()
    server.clear_log()

    m2 = remounts(server, opts=["url_wait=30"] + FAST_RETRY)
    m2.wait_status(m2.path("keep.txt"), "done")
    wait_until(lambda: "resume: 1 unfinished uploads queued again (1 "
               "files scanned" in m2.log(), 10, "the scan (log: %s)"
               % m2.log())
    assert "scan incomplete" not in m2.log()
    assert "warn: resume" not in m2.log()
    assert [r["file_name"] for r in presigns(server)] == ["keep.txt"]
    assert os.readlink(m2.path("q.txt")) == str(outside / "secret.txt")
    assert not os.path.lexists(m2.path("q.txt.url"))
    with pytest.raises(OSError) as e:
        os.getxattr(m2.path("q.txt"), "user.octofs.status",
                    follow_symlinks=False)
    assert e.value.errno == errno.ENODATA
    assert_outside_untouched(outside, server)


def test_store_file_swapped_for_symlink_while_queued(server, mounts,
                                                     outside):
    """Someone replaces a queued file in the store with a symlink while
    its upload waits: the upload follows the file it was given, never
    the link."""
    server.add_fault("presign", "delay", seconds=2, count=1)
    m = mounts(server, opts=["url_wait=30", "jobs=1"])
    write_file(m.path("first.txt"), b"first")
    write_file(m.path("q.txt"), b"written through the mount")
    assert xattr(m.path("q.txt"), "user.octofs.status") == "queued"
    os.symlink(str(outside / "secret.txt"), m.store_path(".swap"))
    os.rename(m.store_path(".swap"), m.store_path("q.txt"))
    barrier(m, server)
    served = {o["sha256"] for o in server.objects().values()}
    assert served <= {sha(b"first"), sha(b"written through the mount"),
                      sha(b"barrier")}
    assert_outside_untouched(outside, server)


def test_create_never_follows_a_symlink_planted_in_the_store(mnt, outside):
    """The kernel asks octofs to create a name only after a lookup found
    none; a symlink planted in the store in between must make the
    create fail, not create or open the link's target outside.  The
    caller's O_NOFOLLOW keeps the kernel itself from following links
    it sees, so anything outside comes from octofs."""
    target = str(outside / "created-by-octofs")
    link = mnt.store_path(".plant")
    current = [0]
    stop = threading.Event()

    def plant():
        while not stop.is_set():
            name = mnt.store_path("p%d.tmp" % current[0])
            try:
                os.symlink(target, link)
                os.rename(link, name)
                os.unlink(name)
            except OSError:
                pass

    planter = threading.Thread(target=plant)
    planter.start()
    try:
        for i in range(3000):
            current[0] = i
            try:
                fd = os.open(mnt.path("p%d.tmp" % i),
                             os.O_WRONLY | os.O_CREAT | os.O_TRUNC |
                             os.O_NOFOLLOW, 0o644)
            except OSError as e:
                assert e.errno in (errno.ELOOP, errno.ENOENT, errno.EIO)
                continue
            os.close(fd)
            if os.path.lexists(target):
                break
    finally:
        stop.set()
        planter.join()
    assert not os.path.lexists(target)


def test_dot_and_dotdot_are_the_kernels(mnt, server, tmp_path):
    """"." and ".." never reach octofs as names: the kernel resolves
    them, and a path that climbs out of the mount is simply not in it."""
    os.mkdir(mnt.path("a"))
    write_file(mnt.path("a", "..", "b.txt"), b"b")
    mnt.wait_status(mnt.path("b.txt"), "done")
    assert read_file(mnt.store_path("b.txt")) == b"b"
    assert [r["file_name"] for r in presigns(server)] == ["b.txt"]
    escaped = os.path.join(mnt.mnt, "a", "..", "..", "escaped.txt")
    write_file(escaped, b"not in the drop folder")
    assert read_file(str(tmp_path / "escaped.txt")) == \
        b"not in the drop folder"
    assert own_attrs(str(tmp_path / "escaped.txt")) == []
    for name in (".", ".."):
        with pytest.raises(IsADirectoryError):
            write_file(mnt.path(name), b"x")
        with pytest.raises(FileExistsError):
            os.mkdir(mnt.path(name))
    with pytest.raises(FileNotFoundError):
        os.stat(mnt.path("...url"))
    barrier(mnt, server)
    assert [r["file_name"] for r in presigns(server)] == ["b.txt",
                                                          "barrier.txt"]
    assert sorted(os.listdir(mnt.store)) == ["a", "b.txt", "barrier.txt"]
