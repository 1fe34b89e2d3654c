"""Why a file is waiting: while an upload is retried, the file
(user.octofs.retry), the mount (user.octofs.stats) and octofs-status say
the last transient error, the attempts and the next try; success clears
it all."""
import datetime
import errno
import os
import re
import subprocess
import sys

from conftest import wait_until, xattr, xattr_errno, write_file
from harness import TIME_FACTOR

STATUS = os.path.join(os.path.dirname(os.environ.get(
    "OCTOFS_DEVSERVER", "contrib/octofs-devserver")), "octofs-status")
RETRY = "user.octofs.retry"
STATS = "user.octofs.stats"
ISO = "%Y-%m-%dT%H:%M:%SZ"


def retry_of(path):
    """The file's retry attribute as a dict, or None while it has none."""
    try:
        value = xattr(path, RETRY)
    except OSError as e:
        if e.errno == errno.ENODATA:
            return None
        raise
    m = re.fullmatch(r"attempts=(\d+) next_try=(\S+) error=(.+)", value)
    assert m, "unreadable %s: %r" % (RETRY, value)
    return {"attempts": int(m.group(1)),
            "next_try": datetime.datetime.strptime(
                m.group(2), ISO).replace(tzinfo=datetime.timezone.utc),
            "error": m.group(3)}


def stats_of(m):
    value = xattr(m.path(), STATS)
    head, _, last_error = value.partition(" last_error=")
    stats = dict(pair.split("=", 1) for pair in head.split())
    if last_error:
        stats["last_error"] = last_error
    return stats


def status_lines(m):
    out = subprocess.run([sys.executable, STATUS, m.path()],
                         capture_output=True, text=True, timeout=30)
    assert not out.stderr, out.stderr
    return out.stdout.splitlines()


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def assert_cleared(m, name):
    m.wait_status(m.path(name), "done", timeout=30 * TIME_FACTOR)
    assert xattr_errno(m.path(name), RETRY) == errno.ENODATA
    stats = stats_of(m)
    assert stats["retrying"] == "0"
    assert "failing_since" not in stats and "last_error" not in stats
    lines = status_lines(m)
    assert len(lines) == 1 and "waiting to retry" not in lines[0]


def test_refused_connections_say_why_until_the_server_is_back(server,
                                                              mounts):
    m = mounts(server, opts=["url_wait=1", "retry_min_ms=200",
                             "retry_max_ms=400"])
    port = server.port
    server.stop()
    before = now().replace(microsecond=0)
    write_file(m.path("a.txt"), b"waiting")
    wait_until(lambda: (retry_of(m.path("a.txt")) or {}).get(
        "attempts", 0) >= 2, 20 * TIME_FACTOR, "two failed attempts")
    info = retry_of(m.path("a.txt"))
    assert "connect" in info["error"].lower(), info
    assert before <= info["next_try"] <= now() + datetime.timedelta(
        seconds=2)
    assert xattr(m.path("a.txt"), "user.octofs.status") == "queued"

    stats = stats_of(m)
    assert stats["queued"] == "1" and stats["retrying"] == "1"
    since = datetime.datetime.strptime(
        stats["failing_since"], ISO).replace(tzinfo=datetime.timezone.utc)
    assert before <= since <= now()
    assert "connect" in stats["last_error"].lower()

    lines = status_lines(m)
    assert "(1 waiting to retry)" in lines[0]
    assert lines[1].startswith("uploads failing since ")
    assert "connect" in lines[1].lower()

    server.start(port=port)
    assert_cleared(m, "a.txt")


def test_503_with_retry_after_shows_the_next_try(server, mounts):
    server.add_fault("presign", "status", status=503, retry_after=5,
                     message="busy: maintenance")
    m = mounts(server, opts=["url_wait=1", "retry_min_ms=1",
                             "retry_max_ms=10"])
    write_file(m.path("b.txt"), b"later")
    wait_until(lambda: retry_of(m.path("b.txt")), 10 * TIME_FACTOR,
               "the retry attribute")
    asked = now()
    info = retry_of(m.path("b.txt"))
    assert info["attempts"] == 1
    assert "503" in info["error"] and "busy: maintenance" in info["error"]
    # Retry-After: 5 from the failed attempt, not the tiny backoff.
    wait = (info["next_try"] - asked).total_seconds()
    assert 2 <= wait <= 6, wait
    assert "503" in stats_of(m)["last_error"]
    assert_cleared(m, "b.txt")


def test_a_timeout_is_the_reason_shown(server, mounts):
    server.add_fault("presign", "delay", seconds=4 * TIME_FACTOR)
    m = mounts(server, opts=["url_wait=1", "retry_min_ms=3000",
                             "retry_max_ms=3000", "timeout=1"])
    write_file(m.path("c.txt"), b"slow")
    wait_until(lambda: retry_of(m.path("c.txt")), 10 * TIME_FACTOR,
               "the retry attribute")
    info = retry_of(m.path("c.txt"))
    assert "timed out" in info["error"].lower() or \
        "no answer" in info["error"].lower(), info
    assert_cleared(m, "c.txt")


def test_no_retry_attribute_without_a_retry(mnt, server):
    write_file(mnt.path("d.txt"), b"at once")
    mnt.wait_status(mnt.path("d.txt"), "done")
    assert xattr_errno(mnt.path("d.txt"), RETRY) == errno.ENODATA
    stats = stats_of(mnt)
    assert stats["retrying"] == "0" and "failing_since" not in stats
