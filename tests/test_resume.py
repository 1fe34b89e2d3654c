"""Nothing saved is lost: restarts, kill -9, clean stops, server outages,
and uploads overtaken by renames and unlinks."""
import hashlib
import os
import signal

import pytest

from conftest import Mount, wait_until, xattr, write_file, read_file

FAST_RETRY = ["retry_min_ms=50", "retry_max_ms=300", "timeout=5"]


@pytest.fixture
def remounts(tmp_path):
    """Factory for mounts of one store and mount point, one at a time;
    every one is unmounted at the end, also when the test fails."""
    made = []

    def make(server, opts=(), start=True):
        m = Mount(tmp_path, server, opts=opts, name="drop")
        made.append(m)
        return m.start() if start else m

    yield make
    for m in reversed(made):
        m.stop()


def stored_status(m, name):
    try:
        return os.getxattr(m.store_path(name), "user.octofs.status").decode()
    except OSError:
        return None


def in_flight(path):
    """Wait until the file's PUT is on the wire: its progress attribute
    shows bytes sent (the server logs a request only when it ends)."""
    def sending():
        try:
            value = os.getxattr(path, "user.octofs.progress")
        except OSError:
            return False
        return int(value.split(b"/")[0]) > 0
    wait_until(sending, 10, "the upload of %s to be sending" % path)


def published(server):
    """{file name: [sha256 of each object stored for it]}."""
    names = {r["object_key"]: r["file_name"]
             for r in server.log("presign") if r["status"] == 200}
    out = {}
    for obj in server.objects().values():
        out.setdefault(names.get(obj["object_key"]), []).append(
            obj["sha256"])
    return out


def test_kill_9_during_upload_then_remount(server, remounts):
    server.add_fault("put", "delay", seconds=30)
    m = remounts(server, opts=["url_wait=60"] + FAST_RETRY)
    data = os.urandom(300 * 1024)
    write_file(m.path("photo.jpg"), data)
    in_flight(m.path("photo.jpg"))
    assert stored_status(m, "photo.jpg") == "uploading"
    m.proc.kill()
    m.proc.wait(10)
    m.unmount()
    server.clear_faults()
    assert read_file(m.store_path("photo.jpg")) == data

    m2 = remounts(server, opts=["url_wait=60"] + FAST_RETRY)
    m2.wait_status(m2.path("photo.jpg"), "done", timeout=30)
    assert server.fetch(xattr(m2.path("photo.jpg"))) == data
    assert "1 unfinished uploads queued again" in m2.log()
    assert read_file(m2.store_path("photo.jpg")) == data


def test_clean_stop_keeps_queue_for_next_mount(server, remounts):
    server.add_fault("presign", "status", status=503, count=-1)
    m = remounts(server, opts=["url_wait=1", "stop_grace=1"] + FAST_RETRY)
    for i in range(3):
        write_file(m.path("q%d.txt" % i), b"queued %d" % i)
    wait_until(lambda: len(server.log("presign")) >= 3, 10,
               "the presigns to be refused")
    assert m.stop() == 0
    assert "stopped: 3 uploads not finished stay queued" in m.log()
    for i in range(3):
        assert stored_status(m, "q%d.txt" % i) in ("queued", "uploading")
    assert "user.octofs.settled" not in os.listxattr(m.store)

    server.clear_faults()
    m2 = remounts(server, opts=["url_wait=30"] + FAST_RETRY)
    for i in range(3):
        m2.wait_status(m2.path("q%d.txt" % i), "done")
        assert server.fetch(xattr(m2.path("q%d.txt" % i))) == \
            b"queued %d" % i


def test_server_down_at_mount_then_up(tmp_path, server, remounts):
    port = server.port
    server.stop()
    m = remounts(server, opts=["url_wait=1"] + FAST_RETRY)
    for i in range(5):
        write_file(m.path("d%d.bin" % i), b"down %d" % i)
    wait_until(lambda: "retrying" in m.log(), 10, "a failed attempt")
    server.start(port=port)
    for i in range(5):
        m.wait_status(m.path("d%d.bin" % i), "done", timeout=30)
        assert server.fetch(xattr(m.path("d%d.bin" % i))) == b"down %d" % i


def stop_with_signal(server, remounts, sig, grace_s, put_delay_s, name,
                     data):
    """Save @name, signal the daemon while its PUT is held @put_delay_s
    by the server, and return the mount once the daemon exited 0."""
    server.add_fault("put", "delay", seconds=put_delay_s)
    m = remounts(server, opts=["url_wait=30", "stop_grace=%d" % grace_s])
    write_file(m.path(name), data)
    in_flight(m.path(name))
    m.proc.send_signal(sig)
    assert m.proc.wait(30) == 0
    return m


def test_sigterm_gives_uploads_in_flight_their_grace(server, remounts):
    m = stop_with_signal(server, remounts, signal.SIGTERM, 20, 1,
                         "graceful.txt", b"finished during the grace")
    assert stored_status(m, "graceful.txt") == "done"
    url = os.getxattr(m.store_path("graceful.txt"),
                      "user.octofs.url").decode()
    assert server.fetch(url) == b"finished during the grace"
    assert "stopped: 0 uploads not finished" in m.log()


def test_sigint_without_grace_leaves_upload_queued(server, remounts):
    m = stop_with_signal(server, remounts, signal.SIGINT, 0, 30,
                         "later.txt", b"for the next mount")
    assert stored_status(m, "later.txt") in ("queued", "uploading")
    assert "stopped: 1 uploads not finished stay queued" in m.log()
    assert read_file(m.store_path("later.txt")) == b"for the next mount"


def wait_scanned(m):
    """The start-up scan ended: only a complete scan lets an unmount mark
    the store settled, and a slow machine may still be scanning."""
    wait_until(lambda: "octofs: resume: " in m.log(), 20,
               "the start-up scan to end")


def test_settled_store_skips_the_scan(server, remounts):
    m = remounts(server, opts=["url_wait=30", "log_level=debug"])
    write_file(m.path("a.txt"), b"a")
    xattr(m.path("a.txt"))
    wait_scanned(m)
    assert m.stop() == 0
    assert os.getxattr(m.store, "user.octofs.settled") == b"1"

    m2 = remounts(server, opts=["url_wait=30", "log_level=debug"])
    wait_until(lambda: "the store was left settled; no scan" in m2.log(),
               20, "the start-up to skip the scan")
    # taken away at mount: a crash now must not look like a clean stop
    assert "user.octofs.settled" not in os.listxattr(m2.store)


def test_unscanned_file_is_resumed_when_its_url_is_read(server, remounts):
    """A file the store says is queued but that has no upload job (the
    scan was skipped or has not reached it): reading its URL queues it."""
    m = remounts(server, opts=["url_wait=30"])
    wait_scanned(m)
    assert m.stop() == 0
    assert os.getxattr(m.store, "user.octofs.settled") == b"1"
    write_file(m.store_path("late.txt"), b"never scanned")
    os.setxattr(m.store_path("late.txt"), "user.octofs.status", b"queued")

    m2 = remounts(server, opts=["url_wait=30"])
    assert server.fetch(xattr(m2.path("late.txt"))) == b"never scanned"


def test_hundred_files_through_a_503_storm(server, remounts):
    server.add_fault("presign", "status", status=503, count=-1)
    m = remounts(server, opts=["url_wait=60", "jobs=4"] + FAST_RETRY)
    want = {}
    for i in range(100):
        want["s%03d.bin" % i] = os.urandom(512 + i)
        write_file(m.path("s%03d.bin" % i), want["s%03d.bin" % i])
    wait_until(lambda: len(server.log("presign")) >= 150, 30,
               "the storm to refuse many presigns")
    server.clear_faults()
    for name, data in want.items():
        m.wait_status(m.path(name), "done", timeout=60)
        assert server.fetch(xattr(m.path(name))) == data
    for name, hashes in published(server).items():
        assert set(hashes) == {hashlib.sha256(want[name]).hexdigest()}, \
            name


def test_rename_during_upload_lands_on_new_name(server, remounts):
    server.add_fault("put", "delay", seconds=1)
    m = remounts(server, opts=["url_wait=30"])
    write_file(m.path("draft.txt"), b"renamed in flight")
    in_flight(m.path("draft.txt"))
    os.rename(m.path("draft.txt"), m.path("final.txt"))
    m.wait_status(m.path("final.txt"), "done")
    assert server.fetch(xattr(m.path("final.txt"))) == b"renamed in flight"
    assert read_file(m.path("final.txt.url")).strip() == \
        xattr(m.path("final.txt")).encode()
    assert not os.path.exists(m.path("draft.txt.url"))


def test_unlink_stops_the_upload_in_flight(server, remounts):
    server.add_fault("put", "delay", seconds=2)
    m = remounts(server, opts=["url_wait=30"])
    write_file(m.path("secret.bin"), os.urandom(4 << 20))
    in_flight(m.path("secret.bin"))
    os.unlink(m.path("secret.bin"))
    write_file(m.path("after.txt"), b"after")
    assert server.fetch(xattr(m.path("after.txt"))) == b"after"
    wait_until(lambda: len(server.log("put")) >= 2, 10, "both PUTs logged")
    assert "secret.bin" not in published(server)
