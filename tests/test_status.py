"""Observing uploads: user.octofs.progress on a file being uploaded and
user.octofs.stats on the mount's root."""
import errno
import os
import subprocess
import sys

from conftest import wait_until, write_file, xattr, xattr_errno

STATS = "user.octofs.stats"
PROGRESS = "user.octofs.progress"


def stats(m):
    """user.octofs.stats as a dict of ints."""
    return {k: int(v) for k, v in
            (pair.split("=") for pair in xattr(m.path(), STATS).split())}


def test_progress_grows_during_a_slow_upload(server, mounts):
    # Larger than what socket buffers take at once, read in about 4 s.
    size = 16 << 20
    server.add_fault("put", "throttle", bytes_per_s=size // 4)
    m = mounts(server, opts=["url_wait=30", "settle=0"])
    path = m.path("slow.bin")
    write_file(path, os.urandom(size))
    m.wait_status(path, "uploading")
    seen = []

    def progressed():
        try:
            sent, total = map(int, xattr(path, PROGRESS).split("/"))
        except OSError:
            return False
        assert total == size and 0 <= sent <= size
        if not seen or sent != seen[-1]:
            seen.append(sent)
        return len(seen) >= 3
    wait_until(progressed, 20, "progress to move")
    assert seen == sorted(seen) and seen[-1] > seen[0]
    totals = stats(m)
    assert totals["uploading"] == 1 and totals["total_bytes"] == size
    assert 0 < totals["sent_bytes"] <= size
    m.wait_status(path, "done", timeout=30)
    assert xattr_errno(path, PROGRESS) == errno.ENODATA


def test_stats_count_the_files(server, mounts):
    server.add_fault("presign", "status", status=403, message="no",
                     match="bad")
    server.add_fault("presign", "delay", seconds=8, match="held")
    m = mounts(server, opts=["url_wait=30", "settle=0", "jobs=2"])
    assert stats(m) == {"queued": 0, "uploading": 0, "done": 0,
                        "failed": 0, "sent_bytes": 0, "total_bytes": 0,
                        "retrying": 0}
    for i in range(3):
        write_file(m.path("ok%d.txt" % i), b"ok")
    write_file(m.path("bad.txt"), b"refused")
    for i in range(3):
        m.wait_status(m.path("ok%d.txt" % i), "done")
    m.wait_status(m.path("bad.txt"), "failed")
    write_file(m.path("held.txt"), b"slow presign")
    m.wait_status(m.path("held.txt"), "uploading")
    expected = {"queued": 1, "uploading": 1, "done": 3, "failed": 1,
                "sent_bytes": 0, "total_bytes": len(b"slow presign"),
                "retrying": 0}
    with open(m.path("open.txt"), "wb") as f:
        f.write(b"still being written")
        # (the upload's total counts once its worker has read the size)
        wait_until(lambda: stats(m) == expected, 10,
                   "the stats of a queued file beside the upload")
    assert xattr_errno(m.path("ok0.txt"), STATS) == errno.ENODATA
    assert STATS not in os.listxattr(m.path())
    try:
        os.setxattr(m.path(), STATS, b"queued=0")
        assert False, "stats must be read-only"
    except OSError as e:
        assert e.errno == errno.EPERM


STATUS = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "contrib", "octofs-status")


def status(*args):
    return subprocess.run([sys.executable, STATUS] + list(args),
                          capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_status_script_waits_for_the_queue(server, mounts, tmp_path):
    server.add_fault("presign", "delay", seconds=2, match="slow")
    m = mounts(server, opts=["url_wait=30", "settle=0"])
    write_file(m.path("a.txt"), b"a")
    write_file(m.path("slow.txt"), b"slow")
    res = status("--wait", "--timeout", "0.5", m.mnt)
    assert res.returncode == 3 and "still busy" in res.stderr
    res = status("--wait", "--timeout", "30", m.mnt)
    assert res.returncode == 0, res.stderr
    assert res.stdout == ("0 queued, 0 uploading; 2 done, 0 failed "
                          "since mount\n")
    assert xattr(m.path("slow.txt"), "user.octofs.status") == "done"
    server.add_fault("presign", "status", status=403, message="no")
    write_file(m.path("b.txt"), b"b")
    m.wait_status(m.path("b.txt"), "failed")
    res = status(m.mnt)
    assert res.returncode == 1
    assert res.stdout == ("0 queued, 0 uploading; 2 done, 1 failed "
                          "since mount\n")
    res = status(str(tmp_path))
    assert res.returncode == 2
    assert "not an octofs mount point" in res.stderr


def test_one_log_line_per_outcome(server, mounts):
    """At the default level: name, size, duration and the URL or the
    error, once each; log_level=error keeps only errors."""
    server.add_fault("presign", "status", status=403, message="refused",
                     match="bad")
    m = mounts(server, opts=["url_wait=30", "settle=0"])
    write_file(m.path("ok.txt"), b"ok")
    write_file(m.path("bad.txt"), b"refused")
    url = xattr(m.path("ok.txt"), "user.octofs.url")
    m.wait_status(m.path("bad.txt"), "failed")
    wait_until(lambda: "upload of bad.txt failed" in m.log(), 10,
               "the failure in the log")
    lines = m.log().splitlines()
    ok = [l for l in lines if "ok.txt" in l]
    bad = [l for l in lines if "bad.txt" in l]
    assert len(ok) == 1 and ok[0].startswith("octofs: uploaded ok.txt "
                                             "(2 bytes, ")
    assert ok[0].endswith("s): " + url)
    assert len(bad) == 1 and bad[0].startswith(
        "octofs: warn: upload of bad.txt failed (7 bytes, ")
    assert "refused" in bad[0] and server.key not in m.log()
    quiet = mounts(server, opts=["url_wait=30", "settle=0",
                                 "log_level=error"])
    write_file(quiet.path("q.txt"), b"q")
    xattr(quiet.path("q.txt"), "user.octofs.url")
    quiet.stop()
    assert "q.txt" not in quiet.log() and "serving" not in quiet.log()


def test_status_script_draws_a_bar_on_a_terminal(server, mounts):
    import pty
    server.add_fault("presign", "delay", seconds=1, match="slow")
    m = mounts(server, opts=["url_wait=30", "settle=0"])
    write_file(m.path("slow.txt"), b"slow")
    m.wait_status(m.path("slow.txt"), "uploading")
    master, slave = pty.openpty()
    out = b""
    try:
        try:
            res = subprocess.run([sys.executable, STATUS, "--wait", m.mnt],
                                 stdout=slave, stderr=subprocess.PIPE,
                                 timeout=60, stdin=subprocess.DEVNULL)
        finally:
            os.close(slave)
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:     # EIO: the terminal's last writer is gone
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
    assert res.returncode == 0, res.stderr
    text = out.decode()
    assert "\r[" + "." * 30 + "] 0/1 files" in text
    assert "[" + "#" * 30 + "] 1/1 files" in text
    assert text.endswith("1 done, 0 failed since mount\x1b[K\r\n")
