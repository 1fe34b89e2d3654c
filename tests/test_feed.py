"""The live feed of upload outcomes (user.octofs.feed) and the tools that
follow it: octofs-status --follow, octofs-notify and its user unit; and
octofs-copy-url --qr."""
import datetime
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import threading

import pytest

from conftest import (Mount, read_file, session_env, verify_user_units,
                      wait_until, write_file, xattr)
from harness import SANITIZED, TIME_FACTOR

FEED = "user.octofs.feed"
TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATUS = os.path.join(TOP, "contrib", "octofs-status")
NOTIFY = os.path.join(TOP, "contrib", "octofs-notify")
COPY_URL = os.path.join(TOP, "contrib", "octofs-copy-url")
UNITS = os.path.join(TOP, "contrib", "systemd")
PYTHON = "/usr/bin/python3"
FAST = ["url_wait=30", "settle=0", "url_files=0"]
NOBODY = 65534
# The daemon keeps the latest records, at most this many and bytes.
RING_RECORDS = 4096
RING_BYTES = 4 << 20


class Follower:
    """A reader of a mount's feed on a thread of its own: the records as
    they come, each handed to @on_record first, on that thread."""

    def __init__(self, mountpoint, on_record=None):
        address = xattr(mountpoint, FEED)
        assert address.startswith("@octofs-feed-"), address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect("\0" + address[1:])
        self.on_record = on_record
        self.lines = []
        self.ended = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        buf = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                self.ended = True
                return
            buf += data
            *lines, buf = buf.split(b"\n")
            for line in lines:
                if self.on_record:
                    self.on_record(json.loads(line))
                self.lines.append(line)

    @property
    def records(self):
        return [json.loads(line) for line in list(self.lines)]

    def paths(self, event="done"):
        return [r["path"] for r in self.records if r["event"] == event]

    def wait_for(self, path, event="done", timeout=30):
        """The first @event record for @path, once it has come."""
        def found():
            for r in self.records:
                if r.get("path") == path and r["event"] == event:
                    return r
            return None
        return wait_until(found, timeout, "a %s record for %s" % (event,
                                                                   path))

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)    # wakes up the reader
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def follow():
    """Factory: follow(mountpoint, on_record=None) -> Follower."""
    started = []

    def make(mountpoint, on_record=None):
        f = Follower(mountpoint, on_record)
        started.append(f)
        return f

    yield make
    for f in started:
        f.close()


@pytest.fixture
def procs():
    """Factory: procs(cmd, **popen) -> Popen, killed at the end if it is
    still running."""
    started = []

    def start(cmd, **kwargs):
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(cmd, **kwargs)
        started.append(p)
        return p

    yield start
    for p in started:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def reader(stream, into):
    """Collect @stream's lines into @into, on a thread."""
    def run():
        for line in stream:
            into.append(line)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


@pytest.fixture
def bulky(tmp_path, server):
    """The thousands of files a test leaves (in the store and on the
    server) go when it ends, pass or fail: pytest keeps the last three
    runs' directories.  Listed before mounts, so the mounts are gone
    first."""
    yield
    for name in os.listdir(tmp_path):
        if name.endswith("-store"):
            shutil.rmtree(tmp_path / name, ignore_errors=True)
    shutil.rmtree(os.path.join(server.dir, "data"), ignore_errors=True)


def wait_followers(m, n):
    """Until @n followers are connected to the mount's feed: the sockets
    of its name that are connected, in /proc/net/unix."""
    name = "@" + xattr(m.path(), FEED)[1:]

    def count():
        with open("/proc/net/unix") as f:
            return sum(1 for line in f if line.split()[-1] == name and
                       line.split()[5] == "03")
    wait_until(lambda: count() == n, 10, "%d followers" % n)


def done_count(m):
    stats = dict(p.split("=") for p in xattr(m.path(),
                                             "user.octofs.stats").split())
    return int(stats["done"])


def parse_time(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


# -- The feed itself ----------------------------------------------------------

def test_follower_sees_every_upload(server, mounts, follow):
    """100 uploads: one done record each, in the order they finished
    (each one's URL is the file's when its record comes), with the
    path from the mount's root, URL, key and size; none for the ignored
    names."""
    m = mounts(server, opts=FAST + ["jobs=4"])
    on_arrival = {}

    def check_on_arrival(rec):
        if rec["event"] == "done":
            path = m.path(rec["path"])
            on_arrival[rec["path"]] = (xattr(path, "user.octofs.status"),
                                       xattr(path))
    f = follow(m.mnt, check_on_arrival)
    os.makedirs(m.path("sub", "deeper"))
    names = []
    for i in range(100):
        name = os.path.join(*(["sub", "deeper"][:i % 3] +
                              ["file %03d.txt" % i]))
        names.append(name)
        write_file(m.path(name), b"%d" % i)
        if i == 50:
            write_file(m.path("x.tmp"), b"ignored")
            write_file(m.path("sub", ".a.swp"), b"ignored")
            write_file(m.path("page.html.part"), b"ignored")
    os.rename(m.path("page.html.part"), m.path("page.html"))
    names.append("page.html")
    write_file(m.path("last.txt"), b"last")
    names.append("last.txt")
    wait_until(lambda: len(f.lines) >= len(names), 30, "every record")
    records = f.records
    assert done_count(m) == len(names)
    assert [r["event"] for r in records] == ["done"] * len(names)
    assert sorted(r["path"] for r in records) == sorted(names)
    for r in records:
        path = m.path(r["path"])
        assert on_arrival[r["path"]] == ("done", r["url"])
        assert r["url"] == xattr(path)
        assert r["key"] == xattr(path, "user.octofs.key")
        assert r["size"] == os.path.getsize(path)
        assert set(r) == {"event", "time", "path", "url", "key", "size"}
    times = [parse_time(r["time"]) for r in records]
    assert times == sorted(times)
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert abs((now - times[-1]).total_seconds()) < 120
    assert server.fetch(records[0]["url"]) == \
        read_file(m.path(records[0]["path"]))


def test_failure_retry_and_transient_errors(server, mounts, follow):
    """A failure for good is one failed record with the server's message;
    retried by hand, one done record.  Transient errors: one retrying
    record (however many tries), then done."""
    server.add_fault("presign", "status", status=403,
                     message="quota exceeded for this key", match="bad",
                     count=-1)
    m = mounts(server, opts=FAST + ["retry_min_ms=50", "retry_max_ms=200"])
    f = follow(m.mnt)
    write_file(m.path("bad.txt"), b"bad")
    failed = f.wait_for("bad.txt", "failed")
    assert "quota exceeded for this key" in failed["error"]
    assert failed["error"] == xattr(m.path("bad.txt"), "user.octofs.error")
    assert set(failed) == {"event", "time", "path", "error"}
    server.clear_faults()
    os.setxattr(m.path("bad.txt"), "user.octofs.status", b"queued")
    done = f.wait_for("bad.txt")
    assert done["url"] == xattr(m.path("bad.txt"))

    server.add_fault("presign", "status", status=503, message="busy",
                     retry_after=1, match="flaky", count=2)
    server.add_fault("put", "cut", after_bytes=0, match=".brk", count=3)
    write_file(m.path("flaky.txt"), b"flaky")
    write_file(m.path("broken.brk"), b"broken")
    for name in ("flaky.txt", "broken.brk"):
        done = f.wait_for(name)
        assert done["url"] == xattr(m.path(name))
    write_file(m.path("sentinel.txt"), b"s")
    f.wait_for("sentinel.txt")
    seen = [(r["event"], r["path"]) for r in f.records]
    assert seen[:2] == [("failed", "bad.txt"), ("done", "bad.txt")]
    for name in ("flaky.txt", "broken.brk"):
        mine = [e for e, p in seen if p == name]
        assert mine == ["retrying", "done"], seen
    retry = f.wait_for("flaky.txt", "retrying")
    assert "busy" in retry["error"] and "503" in retry["error"]
    assert retry["attempt"] == 1
    wait_s = (parse_time(retry["next_try"]) -
              parse_time(retry["time"])).total_seconds()
    assert 0 <= wait_s <= 3, retry
    assert set(retry) == {"event", "time", "path", "error", "attempt",
                          "next_try"}
    assert len(seen) == 7


def test_two_followers_see_the_same(server, mounts, follow):
    server.add_fault("presign", "success_false", message="not today",
                     match="no-")
    m = mounts(server, opts=FAST)
    a, b = follow(m.mnt), follow(m.mnt)
    for i in range(20):
        write_file(m.path("%s%02d.txt" % ("no-" if i == 7 else "", i)),
                   b"x")
    write_file(m.path("end.txt"), b"x")
    wait_until(lambda: len(a.lines) == len(b.lines) == 21, 30,
               "21 records for each")
    assert a.lines == b.lines
    assert [r["path"] for r in a.records
            if r["event"] == "failed"] == ["no-07.txt"]


def test_follower_that_shut_its_writing_side_still_reads(server, mounts,
                                                        follow):
    """A follower done writing (shutdown(SHUT_WR), as socat and nc -N do)
    is still followed: only a full close ends it."""
    m = mounts(server, opts=FAST)
    f = follow(m.mnt)
    f.sock.shutdown(socket.SHUT_WR)
    wait_followers(m, 1)
    write_file(m.path("after.txt"), b"x")
    rec = f.wait_for("after.txt")
    assert rec["url"] == xattr(m.path("after.txt"))
    assert not f.ended


@pytest.mark.parametrize("depth", [0, 12], ids=["records", "bytes"])
def test_follower_that_never_reads(server, bulky, mounts, depth):
    """6000 uploads past a follower that does not read: the daemon keeps
    only its ring (4096 records, or 4 MiB with long paths), and the
    follower, reading at last, is told how many it missed, then gets the
    newest."""
    files = 6000
    m = mounts(server, opts=FAST + ["jobs=4"])
    top = os.path.join(*["d%02d" % i + "x" * 247 for i in range(depth)]) \
        if depth else ""
    os.makedirs(m.path(top), exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect("\0" + xattr(m.path(), FEED)[1:])
        before = rss_kib(m.pid)
        for i in range(files):
            write_file(m.path(top, "f%04d" % i), b"x")
        wait_until(lambda: done_count(m) == files, 60, "%d uploads" % files)
        grown_kib = rss_kib(m.pid) - before
        # The newest of all, to know when the follower has read them all.
        write_file(m.path("sentinel"), b"s")
        wait_until(lambda: done_count(m) == files + 1, 10, "the sentinel")
        sock.settimeout(10 * TIME_FACTOR)
        data = b""
        while b'"path":"sentinel",' not in data:
            chunk = sock.recv(1 << 20)
            assert chunk, "the feed ended early"
            data += chunk
        while not data.endswith(b"\n"):
            chunk = sock.recv(1 << 20)
            assert chunk, "the feed ended early"
            data += chunk
    finally:
        sock.close()
    records = data.split(b"\n")[:-1]
    records = [json.loads(r) for r in records]
    missed = [i for i, r in enumerate(records) if r["event"] == "missed"]
    assert len(missed) == 1 and missed[0] > 0
    gap = records[missed[0]]
    assert set(gap) == {"event", "count"} and gap["count"] > 0
    older, newer = records[:missed[0]], records[missed[0] + 1:]
    paths = [r["path"] for r in older + newer]
    assert len(set(paths)) == len(paths)
    assert len(older) + gap["count"] + len(newer) == files + 1
    assert newer[-1]["path"] == "sentinel"
    if depth:
        held = sum(len(json.dumps(r, separators=(",", ":"))) + 1 +
                   len(r["path"]) + 1 for r in newer)
        assert RING_BYTES - 8192 < held <= RING_BYTES
        assert len(newer) < RING_RECORDS
    else:
        assert len(newer) == RING_RECORDS
    # Under a sanitizer, freed memory is held in quarantine: no figure.
    assert SANITIZED or grown_kib < 16 * 1024, \
        "RSS grew by %d KiB" % grown_kib


def test_unmount_lets_followers_catch_up(server, bulky, mounts):
    """A follower behind when the mount ends still gets every record, then
    the end of file."""
    files = 1000
    m = mounts(server, opts=FAST)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect("\0" + xattr(m.path(), FEED)[1:])
        for i in range(files):
            write_file(m.path("f%04d" % i), b"x")
        wait_until(lambda: done_count(m) == files, 60, "%d uploads" % files)
        m.unmount()
        # The uploads are over: the daemon is ending the feed.
        wait_until(lambda: "octofs: stopped: " in m.log(), 20,
                   "the daemon to stop")
        sock.settimeout(10 * TIME_FACTOR)
        data = b""
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    assert m.stop() == 0
    records = [json.loads(r) for r in data.split(b"\n")[:-1]]
    assert [r["event"] for r in records] == ["done"] * files
    assert len({r["path"] for r in records}) == files


@pytest.fixture
def base():
    """A directory anyone can reach (pytest's own tmp_path is 0700)."""
    path = tempfile.mkdtemp(prefix="octofs-feed-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_others_see_only_what_they_may_read(server, base, procs, follow):
    """On a shared mount, a follower that is another user gets the records
    of the files it may read, and root gets them all."""
    m = Mount(pathlib.Path(base), server, name="mnt",
              opts=FAST + ["allow_other", "default_permissions"])
    os.chmod(m.store, 0o755)
    # The other user runs its own copy: the tree may be out of its reach.
    status = os.path.join(base, "octofs-status")
    shutil.copy(STATUS, status)
    os.chmod(status, 0o755)
    m.start()
    try:
        mine = follow(m.mnt)
        out = []
        nobody = procs(["setpriv", "--reuid", str(NOBODY), "--regid",
                        str(NOBODY), "--clear-groups", PYTHON, status,
                        "--follow", "--json", m.mnt],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t = reader(nobody.stdout, out)
        wait_followers(m, 2)
        write_file(m.path("hello.txt"), b"hello")
        wait_until(lambda: out, 10, "the other user's first record")
        os.mkdir(m.path("closed"), 0o700)
        fd = os.open(m.path("secret.txt"), os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b"secret")
        os.close(fd)
        write_file(m.path("closed", "inner.txt"), b"inner")
        write_file(m.path("public.txt"), b"public")
        assert os.stat(m.path("public.txt")).st_mode & 0o777 == 0o644
        write_file(m.path("zz-last.txt"), b"last")
        wait_until(lambda: len(mine.lines) == 5, 30, "root's 5 records")
    finally:
        m.stop()
    # Ended by the unmount: the other user's follower has seen it all.
    assert nobody.wait(10) == 0, nobody.stderr.read()
    t.join(5)
    theirs = sorted(json.loads(line)["path"] for line in out)
    assert theirs == ["hello.txt", "public.txt", "zz-last.txt"]
    assert sorted(mine.paths()) == ["closed/inner.txt", "hello.txt",
                                    "public.txt", "secret.txt",
                                    "zz-last.txt"]


# -- octofs-status --follow ---------------------------------------------------

def status_follow(procs, mountpoint, *args):
    p = procs([PYTHON, STATUS, "--follow"] + list(args) + [mountpoint],
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p


def test_status_follow_until_unmount(server, mounts, follow, procs):
    """Lines while the mount lives, exit 0 when it ends: URL<TAB>PATH on
    stdout with tabs, newlines and backslashes escaped, a line on stderr
    per failure and per file retried; --json: the records themselves."""
    server.add_fault("presign", "status", status=401, message="key revoked",
                     match="bad")
    server.add_fault("presign", "status", status=503, message="busy",
                     retry_after=1, match="flaky")
    m = mounts(server, opts=FAST + ["jobs=1"])
    f = follow(m.mnt)
    plain = status_follow(procs, m.mnt)
    as_json = status_follow(procs, m.mnt, "--json")
    out, js = [], []
    threads = [reader(plain.stdout, out), reader(as_json.stdout, js)]
    wait_followers(m, 3)
    write_file(m.path("hello.txt"), b"hello")
    wait_until(lambda: out and js, 10, "both followers to be there")
    os.mkdir(m.path("sub dir"))
    names = ["sub dir/a.txt", "tab\there.txt", "new\nline.txt",
             "back\\slash.txt", "bad.txt", "flaky.txt"]
    for name in names:
        write_file(m.path(name), name.encode())
    f.wait_for("flaky.txt")
    wait_until(lambda: len(out) == 6 and len(js) == len(f.lines), 10,
               "the followers to catch up")
    m.stop()
    assert plain.wait(10) == 0 and as_json.wait(10) == 0
    for t in threads:
        t.join(5)
    err = plain.stderr.read().decode()
    assert as_json.stderr.read() == b""
    urls = {r["path"]: r["url"] for r in f.records if r["event"] == "done"}
    escaped = {"hello.txt": "hello.txt", "sub dir/a.txt": "sub dir/a.txt",
               "tab\there.txt": "tab\\there.txt",
               "new\nline.txt": "new\\nline.txt",
               "back\\slash.txt": "back\\\\slash.txt",
               "flaky.txt": "flaky.txt"}
    assert [line.decode() for line in out] == [
        "%s\t%s\n" % (urls[p], escaped[p]) for p in
        ["hello.txt", "sub dir/a.txt", "tab\there.txt", "new\nline.txt",
         "back\\slash.txt", "flaky.txt"]]
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith("octofs-status: failed: bad.txt: ")
    assert lines[0].endswith("key revoked")
    retry = [r for r in f.records if r["event"] == "retrying"][0]
    at = parse_time(retry["next_try"]).replace(
        tzinfo=datetime.timezone.utc).astimezone().strftime("%H:%M:%S")
    assert lines[1].startswith("octofs-status: retrying flaky.txt "
                               "(attempt 1, next at %s): " % at)
    assert lines[1].endswith("busy")
    assert [json.loads(line) for line in js] == f.records


def test_names_that_are_not_utf8(server, mounts, follow, procs):
    """A name whose bytes are not UTF-8 comes in a valid UTF-8 line, each
    such byte as \\udcXX, which os.fsencode() turns back into the name;
    octofs-status --follow prints the name's own bytes."""
    m = mounts(server, opts=FAST)
    f = follow(m.mnt)
    plain = status_follow(procs, m.mnt)
    out = []
    reader(plain.stdout, out)
    wait_followers(m, 2)
    name = b"caf\xe9 \xff.txt"
    path = os.path.join(os.fsencode(m.mnt), name)
    write_file(path, b"latin-1")
    rec = f.wait_for(os.fsdecode(name))
    assert os.fsencode(rec["path"]) == name
    [line] = [line for line in f.lines if b"caf" in line]
    assert b'"path":"caf\\udce9 \\udcff.txt"' in line
    line.decode("utf-8")                    # valid, as JSON must be
    wait_until(lambda: out, 10, "octofs-status's line")
    assert out == [xattr(path).encode() + b"\t" + name + b"\n"]


def test_status_follow_says_what_it_missed(server, bulky, mounts,
                                           procs):
    """A stopped octofs-status that falls behind the ring says, once
    running again, how many outcomes it missed; the rest it prints."""
    files = 1000
    m = mounts(server, opts=FAST)
    top = os.path.join(*["d%02d" % i + "x" * 247 for i in range(12)])
    os.makedirs(m.path(top))
    p = status_follow(procs, m.mnt)
    out = []
    t = reader(p.stdout, out)
    wait_followers(m, 1)
    write_file(m.path("hello.txt"), b"hello")
    wait_until(lambda: out, 10, "the follower to be there")
    p.send_signal(signal.SIGSTOP)
    try:
        for i in range(files):
            write_file(m.path(top, "f%04d" % i), b"x")
        wait_until(lambda: done_count(m) == files + 1, 60, "the uploads")
    finally:
        p.send_signal(signal.SIGCONT)
    errs = []
    reader(p.stderr, errs)
    prefix, suffix = "octofs-status: missed ", " outcomes (the reader " \
        "fell behind)\n"

    def missed():
        if len(errs) != 1:
            return None
        line = errs[0].decode()
        assert line.startswith(prefix) and line.endswith(suffix), line
        return int(line[len(prefix):-len(suffix)])
    wait_until(lambda: missed() and len(out) - 1 + missed() == files, 20,
               "the lines and the count of those missed")
    assert missed() > 0
    m.stop()
    assert p.wait(20) == 0
    t.join(5)
    assert len(errs) == 1 and len(out) - 1 + missed() == files


def test_status_follow_ends_with_its_reader(server, mounts, procs):
    """octofs-status --follow | head -1 ends after the first line, though
    nothing else happens on the mount."""
    m = mounts(server, opts=FAST)
    p = procs([PYTHON, STATUS, "--follow", m.mnt], stdout=subprocess.PIPE,
              stderr=subprocess.PIPE)
    head = procs(["head", "-1"], stdin=p.stdout, stdout=subprocess.PIPE)
    p.stdout.close()
    out = []
    reader(head.stdout, out)
    wait_followers(m, 1)
    write_file(m.path("probe.txt"), b"p")
    assert head.wait(10) == 0
    wait_until(lambda: out, 10, "the line from head")
    assert out[0].decode().endswith("\tprobe.txt\n")
    assert p.wait(10) == 0
    assert p.stderr.read() == b""


def test_status_follow_needs_an_octofs_mount(tmp_path):
    res = subprocess.run([PYTHON, STATUS, "--follow", str(tmp_path)],
                         capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 2
    assert "not an octofs mount point" in res.stderr
    assert "Traceback" not in res.stderr
    res = subprocess.run([PYTHON, STATUS, "--json", str(tmp_path)],
                         capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 2 and "--json goes with --follow" in res.stderr


def test_status_follow_ends_on_sigint(server, mounts, procs):
    m = mounts(server, opts=FAST)
    p = status_follow(procs, m.mnt)
    out = []
    reader(p.stdout, out)
    wait_followers(m, 1)
    write_file(m.path("a.txt"), b"a")
    wait_until(lambda: out, 10, "the follower to be there")
    p.send_signal(signal.SIGINT)
    assert p.wait(10) == 130
    assert p.stderr.read() == b""


# -- octofs-notify ------------------------------------------------------------

def stand_ins(tmp_path):
    """notify-send, wl-copy and qrencode stand-ins on a PATH of their
    own, each keeping its arguments (a JSON list a line) and input."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("notify-send", "wl-copy", "qrencode"):
        tool = bindir / name
        tool.write_text(
            "#!%s\nimport json, sys\n"
            "data = sys.stdin.buffer.read() if %r != 'notify-send' "
            "else b''\n"
            "with open(%r, 'a') as f:\n"
            "    f.write(json.dumps([sys.argv[1:], data.decode()]) + '\\n')\n"
            "if %r == 'qrencode':\n"
            "    print('QR:' + data.decode())\n"
            % (PYTHON, name, str(tmp_path / (name + ".log")), name))
        tool.chmod(0o755)
    return bindir


def calls(tmp_path, name):
    try:
        with open(tmp_path / (name + ".log")) as f:
            return [json.loads(line) for line in f]
    except FileNotFoundError:
        return []


def test_notify(server, mounts, follow, procs, tmp_path):
    """A notification per upload with its name and URL, one per failure
    with the reason (critical), one for a batch; the newest URL on the
    clipboard; exit 0 when the mount ends, the last outcomes shown."""
    server.add_fault("presign", "status", status=403, message="not allowed",
                     match="bad", count=-1)
    m = mounts(server, opts=FAST)
    f = follow(m.mnt)
    bindir = stand_ins(tmp_path)
    p = procs([PYTHON, NOTIFY, "--clipboard", "--window", "2", m.mnt],
              env=session_env(bindir, WAYLAND_DISPLAY="wayland-9"),
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_followers(m, 2)
    write_file(m.path("warm.txt"), b"w")
    wait_until(lambda: calls(tmp_path, "notify-send"), 20,
               "octofs-notify to be there")
    base = ["--app-name=octofs"]
    shown = calls(tmp_path, "notify-send")
    assert shown == [[base + ["--category=transfer.complete",
                              "Uploaded warm.txt",
                              f.wait_for("warm.txt")["url"]], ""]]

    # Two outcomes together: a notification each.
    os.mkdir(m.path("sub"))
    write_file(m.path("sub", "one.png"), b"one")
    write_file(m.path("bad.txt"), b"bad")
    wait_until(lambda: len(calls(tmp_path, "notify-send")) == 3, 20,
               "two more notifications")
    one_url = f.wait_for("sub/one.png")["url"]
    error = f.wait_for("bad.txt", "failed")["error"]
    assert "not allowed" in error
    shown = [c[0] for c in calls(tmp_path, "notify-send")[1:]]
    assert sorted(shown) == sorted([
        base + ["--category=transfer.complete", "Uploaded one.png",
                one_url],
        base + ["--category=transfer.error", "--urgency=critical",
                "Upload failed: bad.txt", error]])
    wait_until(lambda: len(calls(tmp_path, "wl-copy")) == 2, 10,
               "the clipboard")
    assert calls(tmp_path, "wl-copy")[-1] == [[], one_url]

    # Many at once: one notification for the uploads, one for the
    # failures, with the newest URL and the last reason.
    before = len(f.lines)
    for i in range(12):
        write_file(m.path("many-%02d.txt" % i), b"m")
    for i in range(5):
        write_file(m.path("bad-%d.txt" % i), b"b")
    wait_until(lambda: len(f.lines) == before + 17, 20, "17 outcomes")
    wait_until(lambda: len(calls(tmp_path, "notify-send")) == 5, 20,
               "two batch notifications")
    newest = [r for r in f.records[before:] if r["event"] == "done"][-1]
    last_failed = [r for r in f.records[before:]
                   if r["event"] == "failed"][-1]
    shown = [c[0] for c in calls(tmp_path, "notify-send")[3:]]
    assert shown == [
        base + ["--category=transfer.complete", "12 files uploaded",
                newest["url"]],
        base + ["--category=transfer.error", "--urgency=critical",
                "5 uploads failed", "%s: %s" % (last_failed["path"],
                                                last_failed["error"])]]
    wait_until(lambda: len(calls(tmp_path, "wl-copy")) == 3, 10,
               "the clipboard")
    assert calls(tmp_path, "wl-copy")[-1] == [[], newest["url"]]

    # Unmounted at once after a save: its outcome is still shown.
    write_file(m.path("final.txt"), b"f")
    final_url = xattr(m.path("final.txt"))
    m.stop()
    assert p.wait(20) == 0, p.stderr.read()
    assert calls(tmp_path, "notify-send")[-1][0][-2:] == [
        "Uploaded final.txt", final_url]
    assert calls(tmp_path, "wl-copy")[-1] == [[], final_url]
    assert p.stderr.read() == b""


def test_notify_says_why_not(server, mounts, tmp_path):
    bindir = stand_ins(tmp_path)
    env = session_env(bindir, DISPLAY=":9")
    res = subprocess.run([PYTHON, NOTIFY, str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 2
    assert "not an octofs mount point" in res.stderr
    os.unlink(bindir / "notify-send")
    m = mounts(server, opts=FAST)
    res = subprocess.run([PYTHON, NOTIFY, m.mnt], env=env,
                         capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 1 and "install libnotify-bin" in res.stderr


def test_notify_unit_verifies(tmp_path):
    """octofs-notify@.service passes systemd-analyze verify beside
    octofs@.service, as an instance named by systemd-escape --path."""
    verify_user_units(tmp_path, [os.path.join(UNITS, name + "@.service")
                                 for name in ("octofs", "octofs-notify")],
                      "octofs-notify")
    with open(os.path.join(UNITS, "octofs-notify@.service")) as f:
        text = f.read()
    assert "ExecStart=/usr/bin/env octofs-notify $OCTOFS_NOTIFY_OPTIONS " \
        "%f\n" in text
    assert "BindsTo=octofs@%i.service\n" in text
    assert "WantedBy=octofs@%i.service\n" in text


# -- octofs-copy-url --qr -----------------------------------------------------

def test_copy_url_qr(mnt, tmp_path):
    write_file(mnt.path("photo.png"), b"png")
    url = xattr(mnt.path("photo.png"))
    bindir = stand_ins(tmp_path)
    res = subprocess.run([PYTHON, COPY_URL, "--qr", mnt.path("photo.png")],
                         env=session_env(bindir), capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "%s\nQR:%s\n" % (url, url)
    assert calls(tmp_path, "qrencode") == [[["-t", "UTF8", "-o", "-"], url]]
    assert calls(tmp_path, "wl-copy") == []
    os.unlink(bindir / "qrencode")
    res = subprocess.run([PYTHON, COPY_URL, "--qr", mnt.path("photo.png")],
                         env=session_env(bindir), capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert res.returncode == 1
    assert res.stderr == ("octofs-copy-url: qrencode not found (install "
                          "qrencode)\n")
    assert res.stdout == ""
