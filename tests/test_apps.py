"""Real programs saving into the drop folder: cp, rsync, tar, vim, sqlite3,
ImageMagick and ffmpeg, plus the save patterns of GIO and the browsers.

Each test proves that exactly the final files get URLs, that each URL
serves the final bytes, and that no temporary name (the default ignore
set) ever caused a presign, from the development server's request log."""
import collections
import errno
import fnmatch
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import time
import urllib.parse

import pytest

from conftest import wait_until, xattr, xattr_errno, write_file, read_file

# The default ignore set, as DESIGN.md lists it.
DEFAULT_IGNORE = ("*~", ".*.swp", ".*.swx", "*.part", "*.crdownload",
                  "*.tmp", ".~lock.*#", ".goutputstream-*", ".?*.??????",
                  "._*", ".DS_Store", "Thumbs.db", "desktop.ini", "~$*",
                  ".octofs*")
RSYNC_TEMP = re.compile(r"^\..+\.[A-Za-z0-9]{6}$")
UPLOADED = re.compile(r"uploaded (.+?) \((\d+) bytes, [^)]*\): (\S+)\s*$",
                      re.MULTILINE)
JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")
WAL_MAGICS = (0x377f0682, 0x377f0683)


def need(*programs):
    for prog in programs:
        if not shutil.which(prog):
            pytest.skip("%s is not installed (contrib/deps --tests "
                        "installs it)" % prog)


def run(cmd, timeout=120, **kwargs):
    res = subprocess.run(cmd, capture_output=True, text=True,
                         timeout=timeout, stdin=kwargs.pop(
                             "stdin", subprocess.DEVNULL), **kwargs)
    assert res.returncode == 0, "%s exited with %d:\n%s\n%s" % (
        " ".join(map(str, cmd)), res.returncode, res.stdout, res.stderr)
    return res


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def is_ignored(name):
    return any(fnmatch.fnmatchcase(name, glob) for glob in DEFAULT_IGNORE)


def public_url(server, key):
    return "%s/files/%s" % (server.url, urllib.parse.quote(key))


def presign_names(server):
    return [r["file_name"] for r in server.log("presign")]


def published(m):
    """(name, url) of every upload the daemon reported as finished."""
    return [(name, url) for name, _, url in UPLOADED.findall(m.log())]


def assert_no_temp_presigns(m, server):
    bad = [n for n in presign_names(server) if is_ignored(n)]
    assert not bad, "temporary names were presigned: %s\ndaemon log:\n%s" % (
        bad, m.log_tail(40))


def assert_done(m, server, path, data=None, objects=None, fetch=True):
    """Done; the attribute and NAME.url agree; the URL serves @data (the
    file's stored bytes when None).  Returns the URL."""
    url = xattr(path)
    assert xattr(path, "user.octofs.status") == "done", m.log_tail()
    assert xattr_errno(path, "user.octofs.error") == errno.ENODATA
    key = xattr(path, "user.octofs.key")
    assert url == public_url(server, key)
    assert read_file(path + ".url") == (url + "\n").encode()
    if data is None:
        data = read_file(path)
    else:
        assert read_file(path) == data
    obj = (objects if objects is not None else server.objects())[key]
    assert (obj["size"], obj["sha256"]) == (len(data), sha256(data)), path
    if fetch:
        assert server.fetch(url) == data, path
    return url


def wait_all_done(m, paths, timeout):
    """Bounded wait until every path is done (none failed)."""
    pending = list(paths)

    def settled():
        still = []
        for p in pending:
            try:
                status = xattr(p, "user.octofs.status")
            except OSError:
                status = None
            assert status != "failed", "%s failed: %s" % (p, m.log_tail())
            if status != "done":
                still.append(p)
        pending[:] = still
        return not still

    try:
        wait_until(settled, timeout, "every upload to finish", interval=0.2)
    except AssertionError as e:
        raise AssertionError("%s: %d pending, e.g. %s\ndaemon log:\n%s" % (
            e, len(pending), pending[:3], m.log_tail())) from None


def make_tree(root, dirs, per_dir, sizes=(1, 40)):
    """A tree of small distinct files: {relative path: bytes}."""
    files = {}
    for d in range(dirs):
        os.makedirs(os.path.join(root, "d%03d" % d), exist_ok=True)
        for f in range(per_dir):
            rel = os.path.join("d%03d" % d, "f%02d.txt" % f)
            reps = sizes[0] + (d * per_dir + f) % sizes[1]
            data = (("%s:%d\n" % (rel, d * per_dir + f)) * reps).encode()
            write_file(os.path.join(root, rel), data)
            files[rel] = data
    return files


def regular_files(root):
    """{relative path: bytes} of the regular files under root, with the
    virtual NAME.url siblings left out."""
    found = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            if name.endswith(".url") and name[:-4] in names:
                continue
            path = os.path.join(dirpath, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            found[os.path.relpath(path, root)] = read_file(path)
    return found


def url_siblings(root):
    return sorted(os.path.relpath(os.path.join(d, n), root)
                  for d, _, names in os.walk(root)
                  for n in names if n.endswith(".url"))


# -- cp, tar, rsync ---------------------------------------------------------

def test_cp_r_deep_tree(mnt, server, tmp_path):
    """cp -r of a tree nine levels deep: every file gets one URL serving
    its bytes, and each directory lists a NAME.url beside each file."""
    need("cp")
    src = tmp_path / "album"
    want = {}
    rel = ""
    for level in range(1, 10):
        rel = os.path.join(rel, "level%d" % level)
        os.makedirs(src / rel)
        for name in ("photo %d.jpg" % level, "notes-%d.txt" % level):
            data = os.urandom(500 * level) if name.endswith(".jpg") else \
                ("level %d\n" % level).encode() * level
            write_file(src / rel / name, data)
            want[os.path.join(rel, name)] = data
    write_file(src / "top.bin", os.urandom(300_000))
    want["top.bin"] = read_file(src / "top.bin")
    run(["cp", "-r", str(src), mnt.path()])
    root = mnt.path("album")
    assert regular_files(root) == want
    for rel, data in want.items():
        assert_done(mnt, server, os.path.join(root, rel), data)
    assert max(r.count(os.sep) for r in want) >= 8
    for dirpath, dirnames, names in os.walk(root):
        files = [n for n in names if not n.endswith(".url")]
        assert sorted(n for n in names if n.endswith(".url")) == \
            sorted(f + ".url" for f in files), dirpath
        assert not [n for n in names
                    if n.endswith(".url") and n[:-4] in dirnames]
    assert collections.Counter(presign_names(server)) == \
        collections.Counter(os.path.basename(r) for r in want)
    assert_no_temp_presigns(mnt, server)


def test_tar_extract(mnt, server, tmp_path):
    """tar -x: every extracted regular file gets one URL (a hard link
    pair shares one); symlinks and directories get none."""
    need("tar")
    src = tmp_path / "src"
    layout = {
        "README": b"read me\n",
        "docs/a b c.txt": b"name with spaces\n" * 10,
        "docs/empty.dat": b"",
        "img/big.bin": os.urandom(700_000),
        "deep/1/2/3/4/5/6/leaf.json": b'{"leaf": true}\n',
    }
    for rel, data in layout.items():
        os.makedirs(os.path.dirname(src / rel) or src, exist_ok=True)
        write_file(src / rel, data)
    os.link(src / "img/big.bin", src / "img/big-link.bin")
    os.symlink("docs/a b c.txt", src / "shortcut")
    archive = tmp_path / "bundle.tar"
    run(["tar", "-cf", str(archive), "-C", str(src), "."])
    os.mkdir(mnt.path("unpacked"))
    run(["tar", "-xf", str(archive), "-C", mnt.path("unpacked")])
    root = mnt.path("unpacked")
    files = dict(layout, **{"img/big-link.bin": layout["img/big.bin"]})
    assert regular_files(root) == files
    urls = {}
    for rel, data in sorted(files.items()):
        urls[rel] = assert_done(mnt, server, os.path.join(root, rel), data)
    assert urls["img/big.bin"] == urls["img/big-link.bin"]
    assert len(set(urls.values())) == len(layout)
    assert os.path.islink(os.path.join(root, "shortcut"))
    assert not os.path.lexists(os.path.join(root, "shortcut.url"))
    assert not os.path.exists(os.path.join(root, "deep.url"))
    names = presign_names(server)
    assert len(names) == len(layout), names
    assert set(names) <= {os.path.basename(r) for r in files}
    assert_no_temp_presigns(mnt, server)


def test_rsync_tree_of_2000_files(server, mounts, tmp_path, removed_at_end):
    """rsync -a of 2 000 small files in 100 directories: 2 000 URLs, 2 000
    presigns, none for rsync's .NAME.XXXXXX temporaries."""
    need("rsync")
    m = mounts(server, opts=["url_wait=120"])
    src = tmp_path / "photos"
    removed_at_end += [src, m.store_path("photos")]
    files = make_tree(str(src), 100, 20)
    assert len(files) == 2000
    run(["rsync", "-a", str(src) + "/", m.path("photos") + "/"], timeout=300)
    root = m.path("photos")
    wait_all_done(m, [os.path.join(root, r) for r in files], 120)
    objects = server.objects()
    urls = set()
    for i, (rel, data) in enumerate(sorted(files.items())):
        urls.add(assert_done(m, server, os.path.join(root, rel), data,
                             objects, fetch=i % 200 == 0))
    assert len(urls) == 2000
    assert url_siblings(root) == sorted(r + ".url" for r in files)
    names = presign_names(server)
    assert len(names) == 2000
    assert not [n for n in names if RSYNC_TEMP.match(n)]
    assert collections.Counter(names) == collections.Counter(
        os.path.basename(r) for r in files)
    assert_no_temp_presigns(m, server)
    leftovers = [n for _, _, ns in os.walk(m.store_path("photos"))
                 for n in ns if n.startswith(".")]
    assert leftovers == []


def test_rsync_update_uploads_only_changed(server, mounts, tmp_path):
    """rsync -a over a tree it made before: only the changed and the new
    files get new uploads; the others keep their URLs; old URLs still
    serve the old bytes."""
    need("rsync")
    m = mounts(server, opts=["url_wait=60"])
    src = tmp_path / "site"
    files = make_tree(str(src), 6, 10)
    run(["rsync", "-a", str(src) + "/", m.path("site") + "/"])
    root = m.path("site")
    wait_all_done(m, [os.path.join(root, r) for r in files], 60)
    before = {rel: xattr(os.path.join(root, rel)) for rel in files}
    changed = {"d001/f03.txt": b"new text\n", "d004/f07.txt": b"",
               "d005/f00.txt": os.urandom(5000)}
    mtime = time.time() - 3600
    for rel, data in changed.items():
        write_file(src / rel, data)
        os.utime(src / rel, (mtime, mtime))
    write_file(src / "d002" / "added.txt", b"a new file\n")
    server.clear_log()
    run(["rsync", "-a", str(src) + "/", root + "/"])
    new = dict(changed, **{"d002/added.txt": b"a new file\n"})
    wait_all_done(m, [os.path.join(root, r) for r in new], 60)
    for rel, data in new.items():
        url = assert_done(m, server, os.path.join(root, rel), data)
        assert url != before.get(rel)
    for rel in changed:
        assert server.fetch(before[rel]) == files[rel]
    for rel, url in before.items():
        if rel not in changed:
            path = os.path.join(root, rel)
            assert xattr(path, "user.octofs.status") == "done", rel
            assert xattr(path) == url, rel
    assert collections.Counter(presign_names(server)) == \
        collections.Counter(os.path.basename(r) for r in new)
    assert_no_temp_presigns(m, server)


# -- vim --------------------------------------------------------------------

def run_vim(m, path, tmp_path, lines):
    """Edit @path with vim in Ex mode, swap and backup files on: append
    each of @lines with a :write after each.  Returns the directory
    listings vim saw: after loading, then after each write."""
    need("vim")
    listing = [str(tmp_path / ("ls%d" % i)) for i in range(len(lines) + 1)]
    here = "readdir(expand('%:p:h'))"
    script = ["call writefile(%s, '%s')" % (here, listing[0]),
              "call writefile([swapname('%%')], '%s')" % (
                  tmp_path / "swapname")]
    for i, line in enumerate(lines, 1):
        script += ["$put ='%s'" % line, "write",
                   "call writefile(%s, '%s')" % (here, listing[i])]
    script.append("qall")
    write_file(tmp_path / "edit.vim", "\n".join(script).encode() + b"\n")
    run(["vim", "-u", "NONE", "-i", "NONE", "-N", "-es",
         "--cmd", "set backup writebackup backupcopy=auto backupskip= "
         "backupdir=. directory=. updatecount=1",
         "-S", str(tmp_path / "edit.vim"), path], timeout=60,
        cwd=str(tmp_path))
    return [read_file(p).decode().split("\n") for p in listing]


def check_vim_save(m, server, tmp_path, seen, versions, others=()):
    """What every vim test checks once vim has exited; @others are names
    of unrelated files the test uploaded too."""
    path = m.path("notes.txt")
    swap = read_file(tmp_path / "swapname").decode().strip()
    assert swap == m.path(".notes.txt.swp")
    assert ".notes.txt.swp" in seen[0]
    for i in (1, 2):
        assert ".notes.txt.swp" in seen[i] and "notes.txt~" in seen[i]
    assert not [n for names in seen for n in names
                if n.endswith((".swp.url", ".swx.url"))], seen
    assert not os.path.exists(m.path(".notes.txt.swp"))
    assert read_file(m.path("notes.txt~")) == versions[1]
    url = assert_done(m, server, path, versions[2])
    assert (("notes.txt", url)) in published(m)
    assert_no_temp_presigns(m, server)
    # vim probes the directory with a file named 4913 (or 4913 + 123k):
    # not an ignored name, so it may be presigned, but it is empty.
    for name in presign_names(server):
        assert name in ("notes.txt",) + tuple(others) or \
            re.fullmatch(r"\d+", name), name
    for name, u in published(m):
        if name in others:
            continue
        want = (b"",) if name.isdigit() else versions
        assert server.fetch(u) in want, (name, m.log_tail())
    # An ignored name carries no upload state, even renamed from a file
    # that had one.
    for attr in ("user.octofs.url", "user.octofs.status"):
        assert xattr_errno(m.path("notes.txt~"), attr) == errno.ENODATA
    assert not os.path.exists(m.path("notes.txt~.url"))


VIM_VERSIONS = (b"line one\nline two\n",
                b"line one\nline two\nline three\n",
                b"line one\nline two\nline three\nline four\n")


def test_vim_save_with_swap_and_backup(server, mounts, tmp_path):
    """vim writes twice with backup, writebackup and a swap file: the
    file ends with one URL serving the last version; .swp and ~ are never
    presigned."""
    m = mounts(server, opts=["url_wait=60"])
    write_file(m.path("notes.txt"), VIM_VERSIONS[0])
    first = xattr(m.path("notes.txt"))
    seen = run_vim(m, m.path("notes.txt"), tmp_path,
                   ["line three", "line four"])
    check_vim_save(m, server, tmp_path, seen, VIM_VERSIONS)
    assert xattr(m.path("notes.txt")) != first


def test_vim_save_while_uploads_are_busy(server, mounts, tmp_path):
    """The same save while the only upload worker is held by another
    file: vim's second write renames the first one, still queued, to
    notes.txt~.  That queued upload must not be presigned as notes.txt~
    (an ignored name)."""
    m = mounts(server, opts=["url_wait=60", "jobs=1"])
    write_file(m.path("notes.txt"), VIM_VERSIONS[0])
    xattr(m.path("notes.txt"))
    server.add_fault("presign", "delay", seconds=10, match="blocker.bin")
    write_file(m.path("blocker.bin"), b"holds the worker")
    m.wait_status(m.path("blocker.bin"), "uploading")
    seen = run_vim(m, m.path("notes.txt"), tmp_path,
                   ["line three", "line four"])
    assert xattr(m.path("blocker.bin"), "user.octofs.status") == \
        "uploading", "the worker was free before vim exited"
    assert_done(m, server, m.path("blocker.bin"), b"holds the worker")
    check_vim_save(m, server, tmp_path, seen, VIM_VERSIONS,
                   others=("blocker.bin",))


# -- sqlite3 ----------------------------------------------------------------

def insert_batch(batch, rows=40):
    return ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
            "FROM n WHERE i < %d) INSERT INTO items(batch, payload) "
            "SELECT %d, printf('batch %d row %%d %%s', i, "
            "hex(randomblob(150))) FROM n;\n" % (rows, batch, batch))


def sqlite(db, sql):
    return run(["sqlite3", "-bail", db], input=sql, stdin=None,
               timeout=120).stdout


SUMMARY = ("PRAGMA integrity_check;\n"
           "SELECT batch, count(*), sum(length(payload)) FROM items "
           "GROUP BY batch ORDER BY batch;\n")


def check_database(server, url, tmp_path, batches, tag):
    """The bytes at @url are a sound database holding @batches batches of
    40 rows; returns its summary."""
    copy = tmp_path / ("fetched-%s.db" % tag)
    write_file(copy, server.fetch(url))
    out = sqlite(str(copy), SUMMARY).split()
    assert out[0] == "ok", out
    assert [r.split("|")[:2] for r in out[1:]] == [
        [str(b), "40"] for b in range(1, batches + 1)]
    return out


def sqlite_session(db, batches, listing=None, pragma=""):
    """One sqlite3 process: several transactions, a listing of the
    database's directory taken inside one of them."""
    sql = pragma + ("CREATE TABLE IF NOT EXISTS items(id INTEGER PRIMARY "
                    "KEY, batch INTEGER, payload TEXT);\n")
    for b in batches:
        sql += "BEGIN;\n" + insert_batch(b)
        if listing and b == batches[len(batches) // 2]:
            sql += ".shell ls -a %s > %s\n" % (os.path.dirname(db), listing)
        sql += "COMMIT;\n"
    sqlite(db, sql)


def assert_sane_side_files(m, server, db, check):
    """Every URL the daemon published for a name other than the database
    served bytes that the side file held at a close: check(name, bytes).
    The database itself is in the list (the parser is not blind)."""
    pubs = published(m)
    assert os.path.basename(db) in [n for n, _ in pubs], m.log_tail()
    for name, url in pubs:
        if name != os.path.basename(db):
            check(name, server.fetch(url))


def test_sqlite_default_journal(server, mounts, tmp_path):
    """sqlite3 with its default rollback journal: five transactions in
    one session, then a second session.  The .db gets one URL per session
    serving a sound database; the -journal existed during transactions,
    is gone after, and never left a URL behind."""
    need("sqlite3")
    m = mounts(server, opts=["url_wait=60"])
    os.mkdir(m.path("db"))
    db = m.path("db", "shop.db")
    mid = tmp_path / "mid.txt"
    sqlite_session(db, [1, 2, 3, 4, 5], listing=mid)
    assert "shop.db-journal" in mid.read_text().split()
    first = assert_done(m, server, db)
    assert presign_names(server).count("shop.db") == 1
    check_database(server, first, tmp_path, 5, "first")
    assert sorted(os.listdir(m.path("db"))) == ["shop.db", "shop.db.url"]

    sqlite_session(db, [6])
    second = assert_done(m, server, db)
    assert second != first
    assert presign_names(server).count("shop.db") == 2
    check_database(server, second, tmp_path, 6, "second")
    check_database(server, first, tmp_path, 5, "old")
    assert sorted(os.listdir(m.path("db"))) == ["shop.db", "shop.db.url"]
    assert set(presign_names(server)) <= {"shop.db", "shop.db-journal"}

    def journal(name, data):
        assert name == "shop.db-journal"
        assert data.startswith(JOURNAL_MAGIC), data[:16]
    assert_sane_side_files(m, server, db, journal)
    assert_no_temp_presigns(m, server)


@pytest.mark.parametrize("mode", ["persist", "truncate"])
def test_sqlite_kept_journal(server, mounts, tmp_path, mode):
    """journal_mode persist or truncate keeps shop.db-journal after each
    transaction: not an ignored name, so it is uploaded like any file
    and its URL serves its final bytes; every journal URL published on
    the way served what it held at a close."""
    need("sqlite3")
    m = mounts(server, opts=["url_wait=60"])
    db = m.path("shop.db")
    sqlite_session(db, [1, 2, 3, 4],
                   pragma="PRAGMA journal_mode=%s;\n" % mode)
    url = assert_done(m, server, db)
    assert presign_names(server).count("shop.db") == 1
    check_database(server, url, tmp_path, 4, mode)
    journal = m.path("shop.db-journal")
    data = read_file(journal)
    assert_done(m, server, journal, data)
    assert sorted(os.listdir(m.path())) == [
        "shop.db", "shop.db-journal", "shop.db-journal.url", "shop.db.url"]

    def check(name, got):
        assert name == "shop.db-journal"
        if mode == "truncate":
            assert got == b""
        else:
            assert len(got) >= 28 and got[:28] == bytes(28), got[:32]
    if mode == "truncate":
        assert data == b""
    assert_sane_side_files(m, server, db, check)
    assert_no_temp_presigns(m, server)


def test_sqlite_wal(server, mounts, tmp_path):
    """WAL mode: -wal and -shm live beside the database during the
    session and are removed at its end; the .db gets one URL serving a
    database that holds every committed row."""
    need("sqlite3")
    m = mounts(server, opts=["url_wait=60"])
    db = m.path("shop.db")
    mid = tmp_path / "mid.txt"
    sqlite_session(db, [1, 2, 3, 4], listing=mid,
                   pragma="PRAGMA journal_mode=wal;\n")
    assert {"shop.db-wal", "shop.db-shm"} <= set(mid.read_text().split())
    url = assert_done(m, server, db)
    assert presign_names(server).count("shop.db") == 1
    check_database(server, url, tmp_path, 4, "wal")
    assert sorted(os.listdir(m.path())) == ["shop.db", "shop.db.url"]

    def check(name, got):
        if name == "shop.db-wal":
            assert got == b"" or struct.unpack(">I", got[:4])[0] in \
                WAL_MAGICS, got[:8]
        else:
            assert name == "shop.db-shm"
            assert len(got) % 32768 == 0
    assert_sane_side_files(m, server, db, check)
    assert_no_temp_presigns(m, server)


# -- ImageMagick, ffmpeg ----------------------------------------------------

def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_imagemagick_png(mnt, server):
    """convert writes a PNG (it creates the file empty, closes it, then
    writes it): the URL serves the final PNG; a second convert reading
    it from the mount does not upload it again."""
    need("convert")
    os.mkdir(mnt.path("art"))
    png = mnt.path("art", "gradient.png")
    run(["convert", "-size", "64x48", "gradient:red-blue", png])
    data = read_file(png)
    assert png_size(data) == (64, 48)
    url = assert_done(mnt, server, png)
    names = presign_names(server)
    assert set(names) == {"gradient.png"} and len(names) <= 2, names
    for name, u in published(mnt):
        assert server.fetch(u) in (b"", data), name

    run(["convert", png, "-resize", "50%", mnt.path("art", "small.png")])
    small = mnt.path("art", "small.png")
    assert png_size(read_file(small)) == (32, 24)
    assert_done(mnt, server, small)
    assert xattr(png) == url
    assert presign_names(server).count("gradient.png") == len(names)
    assert_no_temp_presigns(mnt, server)


def mp4_boxes(data):
    """Top-level (type, size) boxes; they must tile the file exactly."""
    boxes, off = [], 0
    while off < len(data):
        size, kind = struct.unpack(">I4s", data[off:off + 8])
        if size == 1:
            size = struct.unpack(">Q", data[off + 8:off + 16])[0]
        assert size >= 8 and off + size <= len(data), (kind, off, size)
        boxes.append((kind.decode("latin-1"), size))
        off += size
    return boxes


@pytest.mark.parametrize("movflags", ["", "+faststart"])
def test_ffmpeg_mp4(server, mounts, tmp_path, movflags):
    """ffmpeg writes the media, seeks back to patch the mdat size (and
    with +faststart moves moov to the front reading the file back): one
    upload, and the URL serves the final, playable file."""
    need("ffmpeg", "ffprobe")
    m = mounts(server, opts=["url_wait=60"])
    clip = m.path("clip.mp4")
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error",
           "-f", "lavfi", "-i", "testsrc=duration=3:size=320x240:rate=25",
           "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
           "-c:v", "mpeg4", "-q:v", "2", "-c:a", "aac", "-shortest"]
    if movflags:
        cmd += ["-movflags", movflags]
    run(cmd + [clip], timeout=300)
    data = read_file(clip)
    assert len(data) > 64 * 1024
    url = assert_done(m, server, clip, data)
    assert presign_names(server) == ["clip.mp4"]
    assert published(m) == [("clip.mp4", url)]
    got = server.fetch(url)
    kinds = [k for k, _ in mp4_boxes(got)]
    assert kinds[0] == "ftyp"
    if movflags:
        assert kinds.index("moov") < kinds.index("mdat")
    else:
        assert kinds.index("mdat") < kinds.index("moov")
    copy = tmp_path / "fetched.mp4"
    write_file(copy, got)
    probe = json.loads(run(
        ["ffprobe", "-v", "error", "-show_entries",
         "format=duration:stream=codec_type,width,height", "-of", "json",
         str(copy)]).stdout)
    video = [s for s in probe["streams"] if s["codec_type"] == "video"]
    assert [(s["width"], s["height"]) for s in video] == [(320, 240)]
    assert abs(float(probe["format"]["duration"]) - 3.0) < 0.2
    assert_no_temp_presigns(m, server)


# -- save patterns: GIO, browsers, rename over ------------------------------

def write_in_chunks(path, data, chunk=16384):
    with open(path, "wb") as f:
        for off in range(0, len(data), chunk):
            f.write(data[off:off + chunk])
            f.flush()


def assert_never_published_under(m, path):
    name = os.path.basename(path)
    assert xattr_errno(path, "user.octofs.status") == errno.ENODATA
    assert name + ".url" not in os.listdir(os.path.dirname(path))


def test_gio_style_save(mnt, server):
    """GIO writes .goutputstream-XXXXXX and renames it over the target;
    LibreOffice's .~lock.NAME# sits beside it meanwhile.  One upload,
    under the final name."""
    data = os.urandom(120_000)
    lock = mnt.path(".~lock.report.odt#")
    write_file(lock, b",me,host,01.01.2025 10:00,file:///home/me;\n")
    tmp = mnt.path(".goutputstream-7QK2ZZ")
    write_in_chunks(tmp, data)
    assert_never_published_under(mnt, tmp)
    os.rename(tmp, mnt.path("report.odt"))
    assert_done(mnt, server, mnt.path("report.odt"), data)
    assert_never_published_under(mnt, lock)
    os.unlink(lock)
    assert presign_names(server) == ["report.odt"]
    assert sorted(os.listdir(mnt.path())) == ["report.odt", "report.odt.url"]


def test_firefox_part_download(mnt, server):
    """Firefox downloads into NAME.part, closes it and renames it."""
    data = os.urandom(400_000)
    part = mnt.path("manual.pdf.part")
    write_in_chunks(part, data)
    assert_never_published_under(mnt, part)
    os.rename(part, mnt.path("manual.pdf"))
    assert_done(mnt, server, mnt.path("manual.pdf"), data)
    assert presign_names(server) == ["manual.pdf"]
    assert sorted(os.listdir(mnt.path())) == ["manual.pdf", "manual.pdf.url"]


def test_firefox_placeholder_then_part(mnt, server):
    """Firefox also creates an empty NAME first and renames NAME.part
    over it: the URL serves the download; the placeholder can only ever
    have been published empty; .part never."""
    data = os.urandom(250_000)
    final = mnt.path("setup.iso")
    write_file(final, b"")
    part = final + ".part"
    write_in_chunks(part, data)
    assert_never_published_under(mnt, part)
    os.rename(part, final)
    url = assert_done(mnt, server, final, data)
    names = presign_names(server)
    assert set(names) == {"setup.iso"} and len(names) <= 2, names
    for name, u in published(mnt):
        assert server.fetch(u) == (data if u == url else b""), name


def test_chrome_crdownload(mnt, server):
    """Chrome writes "Unconfirmed N.crdownload", renames it to
    NAME.crdownload once the name is known, then to NAME."""
    data = os.urandom(300_000)
    first = mnt.path("Unconfirmed 418337.crdownload")
    write_in_chunks(first, data)
    second = mnt.path("video.mp4.crdownload")
    os.rename(first, second)
    assert_never_published_under(mnt, second)
    os.rename(second, mnt.path("video.mp4"))
    assert_done(mnt, server, mnt.path("video.mp4"), data)
    assert presign_names(server) == ["video.mp4"]
    assert sorted(os.listdir(mnt.path())) == ["video.mp4", "video.mp4.url"]


def test_rename_over_uploaded_file(mnt, server):
    """A temporary renamed over an uploaded file gives it a new URL for
    the new bytes; a real file renamed over it brings its own URL; every
    old URL still serves its old bytes."""
    target = mnt.path("report.txt")
    write_file(target, b"version one\n")
    old = xattr(target)
    tmp = mnt.path(".goutputstream-A1B2C3")
    write_file(tmp, b"version two\n")
    os.rename(tmp, target)
    new = assert_done(mnt, server, target, b"version two\n")
    assert new != old
    assert server.fetch(old) == b"version one\n"
    assert presign_names(server) == ["report.txt", "report.txt"]

    draft = mnt.path("draft.txt")
    write_file(draft, b"version three\n")
    drafted = xattr(draft)
    os.rename(draft, target)
    assert assert_done(mnt, server, target, b"version three\n") == drafted
    assert server.fetch(new) == b"version two\n"
    assert server.fetch(old) == b"version one\n"
    assert sorted(os.listdir(mnt.path())) == ["report.txt", "report.txt.url"]
    assert presign_names(server) == ["report.txt", "report.txt",
                                     "draft.txt"]
    assert_no_temp_presigns(mnt, server)
