"""Observing uploads: user.octofs.progress on a file being uploaded and
user.octofs.stats on the mount's root."""
import errno
import os

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
                        "failed": 0, "sent_bytes": 0, "total_bytes": 0}
    for i in range(3):
        write_file(m.path("ok%d.txt" % i), b"ok")
    write_file(m.path("bad.txt"), b"refused")
    for i in range(3):
        m.wait_status(m.path("ok%d.txt" % i), "done")
    m.wait_status(m.path("bad.txt"), "failed")
    write_file(m.path("held.txt"), b"slow presign")
    m.wait_status(m.path("held.txt"), "uploading")
    with open(m.path("open.txt"), "wb") as f:
        f.write(b"still being written")
        wait_until(lambda: stats(m)["queued"] == 1, 10, "a queued file")
        assert stats(m) == {"queued": 1, "uploading": 1, "done": 3,
                            "failed": 1, "sent_bytes": 0,
                            "total_bytes": len(b"slow presign")}
    assert xattr_errno(m.path("ok0.txt"), STATS) == errno.ENODATA
    assert STATS not in os.listxattr(m.path())
    try:
        os.setxattr(m.path(), STATS, b"queued=0")
        assert False, "stats must be read-only"
    except OSError as e:
        assert e.errno == errno.EPERM
