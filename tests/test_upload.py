"""Upload on close: URL as xattr and NAME.url, bytes served, request shape."""
import errno
import hashlib
import os
import shutil
import subprocess

import pytest

from conftest import xattr, xattr_errno, write_file, read_file, wait_until


def test_cp_then_url(mnt, server, tmp_path):
    src = tmp_path / "photo.png"
    data = os.urandom(200_000)
    write_file(src, data)
    subprocess.run(["cp", str(src), mnt.path()], check=True)
    url = xattr(mnt.path("photo.png"))
    assert url.startswith(server.url + "/")
    assert read_file(mnt.path("photo.png.url")) == (url + "\n").encode()
    assert server.fetch(url) == data
    assert xattr(mnt.path("photo.png"), "user.octofs.status") == "done"
    key = xattr(mnt.path("photo.png"), "user.octofs.key")
    assert url.endswith(key) and key.endswith(".png")


def test_getfattr_and_cat_in_a_script(mnt, server, tmp_path):
    """The documented one-liner: cp f ~/Drop/ && cat ~/Drop/f.url."""
    src = tmp_path / "notes.txt"
    write_file(src, b"hello drop folder\n")
    out = subprocess.run(
        "cp %s %s/ && getfattr -n user.octofs.url --only-values %s/notes.txt"
        " && echo && cat %s/notes.txt.url" % (src, mnt.mnt, mnt.mnt, mnt.mnt),
        shell=True, check=True, capture_output=True, text=True).stdout
    first, second = out.split("\n")[:2]
    assert first == second
    assert server.fetch(first) == b"hello drop folder\n"


def test_presign_request_fields(server, mounts):
    m = mounts(server, opts=["prefix=team/shots", "expires_in=10",
                             "url_wait=30"])
    os.makedirs(m.path("deep", "er"))
    write_file(m.path("deep", "er", "Shot 1.JPG"), b"\xff\xd8jpeg")
    url = xattr(m.path("deep", "er", "Shot 1.JPG"))
    presigns = server.log("presign")
    assert len(presigns) == 1
    req = presigns[0]
    assert req["file_name"] == "Shot 1.JPG"     # basename only
    assert req["body"]["expires_in"] == 60       # clamped locally
    assert req["body"]["prefix"] == "team/shots"
    assert req["body"]["content_type"] == "image/jpeg"
    assert req["authorization"] is True
    puts = server.log("put")
    assert len(puts) == 1
    assert puts[0]["authorization"] is False     # key never leaves for PUT
    assert puts[0]["content_type"] == "image/jpeg"
    assert "/team/shots/" in url


@pytest.mark.parametrize("name,ctype", [
    ("a.png", "image/png"), ("b.PDF", "application/pdf"),
    ("c.mp4", "video/mp4"), ("d.unknownext", "application/octet-stream"),
    ("noext", "application/octet-stream"),
])
def test_content_type_from_extension(mnt, server, name, ctype):
    write_file(mnt.path(name), b"x")
    xattr(mnt.path(name))
    objects = server.objects()
    assert [o["content_type"] for o in objects.values()] == [ctype]


def test_close_returns_before_upload(server, mounts):
    """close() does not wait for the network: the PUT is still held."""
    server.add_fault("put", "delay", seconds=30, count=1)
    m = mounts(server, opts=["url_wait=60"])
    write_file(m.path("slow.bin"), b"12345")
    # We are past close(); the upload cannot have finished yet.
    assert xattr(m.path("slow.bin"), "user.octofs.status") in (
        "queued", "uploading")
    assert os.path.exists(m.path("slow.bin.url"))
    server.clear_faults()


def test_status_uploading_then_done(server, mounts):
    server.add_fault("put", "delay", seconds=2, count=1)
    m = mounts(server, opts=["url_wait=30"])
    write_file(m.path("f.bin"), b"abc")
    m.wait_status(m.path("f.bin"), "uploading")
    assert xattr_errno(m.path("f.bin"), "user.octofs.key") == errno.ENODATA
    assert server.fetch(xattr(m.path("f.bin"))) == b"abc"
    assert xattr(m.path("f.bin"), "user.octofs.status") == "done"


def test_url_wait_times_out(server, mounts):
    server.add_fault("put", "delay", seconds=6, count=1)
    m = mounts(server, opts=["url_wait=1"])
    write_file(m.path("late.bin"), b"abc")
    with pytest.raises(OSError) as e:
        os.getxattr(m.path("late.bin"), "user.octofs.url")
    assert e.value.errno == errno.ETIMEDOUT
    with pytest.raises(OSError) as e:
        read_file(m.path("late.bin.url"))
    assert e.value.errno == errno.ETIMEDOUT
    m.wait_status(m.path("late.bin"), "done")


def test_rewrite_gets_new_url(mnt, server):
    write_file(mnt.path("v.txt"), b"one")
    first = xattr(mnt.path("v.txt"))
    write_file(mnt.path("v.txt"), b"two")
    second = xattr(mnt.path("v.txt"))
    assert first != second
    assert server.fetch(second) == b"two"
    assert read_file(mnt.path("v.txt.url")).decode().strip() == second


def test_append_uploads_whole_file(mnt, server):
    write_file(mnt.path("log.txt"), b"line1\n")
    xattr(mnt.path("log.txt"))
    with open(mnt.path("log.txt"), "ab") as f:
        f.write(b"line2\n")
    assert server.fetch(xattr(mnt.path("log.txt"))) == b"line1\nline2\n"


def test_rewrite_during_upload_publishes_newest(server, mounts):
    server.add_fault("put", "delay", seconds=2, count=1)
    m = mounts(server, opts=["url_wait=30"])
    write_file(m.path("doc.txt"), b"old version")
    m.wait_status(m.path("doc.txt"), "uploading")
    write_file(m.path("doc.txt"), b"new version")
    url = xattr(m.path("doc.txt"))
    assert server.fetch(url) == b"new version"


def test_many_small_files(mnt, server):
    want = {}
    for i in range(60):
        data = os.urandom(1000 + i)
        want["f%02d.bin" % i] = data
        write_file(mnt.path("f%02d.bin" % i), data)
    for name, data in want.items():
        assert server.fetch(xattr(mnt.path(name))) == data
    assert len(server.log("presign")) == 60


def test_each_worker_reuses_its_connection(server, mounts):
    """One worker, ten uploads: presigns and PUTs ride on kept-alive
    connections instead of one new connection per request."""
    m = mounts(server, opts=["url_wait=30", "jobs=1"])
    for i in range(10):
        write_file(m.path("r%d.txt" % i), b"reuse %d" % i)
        xattr(m.path("r%d.txt" % i))
    reqs = server.log("presign") + server.log("put")
    assert len(reqs) == 20
    assert len({r["client_port"] for r in reqs}) <= 2


def test_quick_reopen_coalesces_into_one_upload(server, mounts):
    """Saving in several passes (close, reopen, append, close) within the
    settle delay makes one upload, of the final content."""
    m = mounts(server, opts=["url_wait=30", "settle=1500"])
    path = m.path("passes.txt")
    write_file(path, b"first pass\n")
    with open(path, "ab") as f:
        f.write(b"second pass\n")
    with open(path, "r+b") as f:
        f.seek(0)
        f.write(b"FIRST")
    assert server.fetch(xattr(path)) == b"FIRST pass\nsecond pass\n"
    assert server.presign_count("passes.txt") == 1


def test_reading_the_url_ends_the_rest(server, mounts):
    """The settle delay is there for programs that save in passes; once
    someone reads the URL, the upload starts at once instead of after
    it (here 60 s, longer than url_wait: without the cut the read would
    time out)."""
    m = mounts(server, opts=["url_wait=10", "settle=60000"])
    path = m.path("wanted.txt")
    write_file(path, b"wanted now\n")
    url = xattr(path)
    assert server.fetch(url) == b"wanted now\n"
    write_file(m.path("sibling.txt"), b"by its NAME.url\n")
    url = read_file(m.path("sibling.txt.url")).decode().strip()
    assert server.fetch(url) == b"by its NAME.url\n"
    assert server.presign_count("wanted.txt") == 1


def test_a_program_moving_on_ends_the_rest(server, mounts, tmp_path):
    """The settle delay waits for a program that may reopen the file it
    closed; once that program opens another file for writing, it has
    finished with the first: cp of two files uploads the first without
    waiting out the settle (60 s here), while the last one rests."""
    m = mounts(server, opts=["url_wait=10", "settle=60000"])
    for name in ("first.txt", "second.txt"):
        (tmp_path / name).write_bytes(name.encode())
    subprocess.run(["cp", str(tmp_path / "first.txt"),
                    str(tmp_path / "second.txt"), m.mnt], check=True)
    first, second = m.path("first.txt"), m.path("second.txt")
    wait_until(lambda: xattr(first, "user.octofs.status") == "done", 10,
               "first.txt to be uploaded")
    assert xattr(second, "user.octofs.status") == "queued"
    assert server.presign_count("second.txt") <= 1     # asked ahead
    assert len(server.log("put")) == 1
    assert server.fetch(xattr(second)) == b"second.txt"
    assert server.fetch(xattr(first)) == b"first.txt"


def test_moving_on_after_a_rename_save_ends_the_rest(server, mounts):
    """Saved the way rsync and browsers save (a temporary name, then a
    rename into place): the program going on to write its next file has
    finished with the one it renamed, which is uploaded at once; the last
    one rests."""
    m = mounts(server, opts=["url_wait=10", "settle=60000"])
    for name in ("one.txt", "two.txt"):
        write_file(m.path(name + ".part"), name.encode())
        os.rename(m.path(name + ".part"), m.path(name))
    one, two = m.path("one.txt"), m.path("two.txt")
    wait_until(lambda: xattr(one, "user.octofs.status") == "done", 10,
               "one.txt to be uploaded")
    assert xattr(two, "user.octofs.status") == "queued"
    assert len(server.log("put")) == 1
    assert server.fetch(xattr(two)) == b"two.txt"
    assert server.fetch(xattr(one)) == b"one.txt"


def test_appending_to_a_log_is_not_moving_on(server, mounts):
    """Only creating or truncating another file ends a file's rest:
    appending to a log between two passes of a save does not, and the
    log rests too.  With one upload worker, had either not rested, its
    upload would go before that of c.txt (written by another thread, so
    not moving on from a.txt, and asked for at once)."""
    import threading
    m = mounts(server, opts=["url_wait=10", "settle=60000", "jobs=1",
                             "presign_ahead=0"])
    write_file(m.path("b.log"), b"start\n")
    write_file(m.path("a.txt"), b"first pass")
    with open(m.path("b.log"), "ab") as f:
        f.write(b"saved a\n")
    other = threading.Thread(target=write_file,
                             args=(m.path("c.txt"), b"c"))
    other.start()
    other.join(10)
    assert server.fetch(xattr(m.path("c.txt"))) == b"c"
    assert xattr(m.path("a.txt"), "user.octofs.status") == "queued"
    assert xattr(m.path("b.log"), "user.octofs.status") == "queued"
    assert server.presign_count("a.txt") == 0


def test_truncating_open_for_reading_is_a_write(server, mounts):
    """open(O_RDONLY | O_TRUNC) empties the file as a writer would: its
    close uploads the empty file."""
    m = mounts(server, opts=["url_wait=10", "settle=0"])
    path = m.path("t.txt")
    write_file(path, b"full")
    first = xattr(path)
    os.close(os.open(path, os.O_RDONLY | os.O_TRUNC))
    second = xattr(path)
    assert second != first
    assert server.fetch(second) == b""
    assert server.fetch(first) == b"full"


def test_url_is_asked_for_while_the_file_is_written(server, mounts):
    """presign_ahead (default): the upload URL is asked for while the file
    is still open, so only the PUT is left after close; nothing is sent
    before it."""
    m = mounts(server, opts=["url_wait=30", "settle=0"])
    path = m.path("early.txt")
    with open(path, "wb") as f:
        f.write(b"written slowly\n")
        f.flush()
        wait_until(lambda: server.presign_count("early.txt") == 1, 10,
                   "a presign while the file is open")
        assert not server.log("put") and not server.objects()
        assert xattr(path, "user.octofs.status") == "queued"
    assert server.fetch(xattr(path)) == b"written slowly\n"
    assert server.presign_count("early.txt") == 1


def test_rename_before_close_asks_again(server, mounts):
    """A URL asked for under one name is not used for another: the key's
    extension and the content type follow the name at upload."""
    m = mounts(server, opts=["url_wait=30", "settle=0"])
    with open(m.path("draft.txt"), "wb") as f:
        f.write(b"\x89PNG not really")
        f.flush()
        wait_until(lambda: server.presign_count("draft.txt") == 1, 10,
                   "a presign while the file is open")
        os.rename(m.path("draft.txt"), m.path("final.png"))
    url = xattr(m.path("final.png"))
    assert url.endswith(".png")
    assert server.fetch(url) == b"\x89PNG not really"
    assert server.presign_count("final.png") == 1
    assert server.presign_count("draft.txt") == 1
    put = server.log("put")[-1]
    assert put["object_key"].endswith(".png")


def test_presign_ahead_off(server, mounts):
    """presign_ahead=0: nothing reaches the server before the last close."""
    m = mounts(server, opts=["url_wait=30", "settle=0", "presign_ahead=0"])
    path = m.path("private.txt")
    with open(path, "wb") as f:
        f.write(b"not yet")
        f.flush()
        write_file(m.path("other.txt"), b"other")
        assert server.fetch(xattr(m.path("other.txt"))) == b"other"
        assert server.presign_count("private.txt") == 0
    assert server.fetch(xattr(path)) == b"not yet"
    assert server.presign_count("private.txt") == 1


def test_no_settle_uploads_each_close(server, mounts):
    """settle=0: every close that ends a write is its own version; the URL
    the file ends with serves the last one."""
    m = mounts(server, opts=["url_wait=30", "settle=0"])
    path = m.path("each.txt")
    write_file(path, b"one")
    first = xattr(path)
    with open(path, "ab") as f:
        f.write(b" two")
    second = xattr(path)
    assert first != second
    assert server.fetch(first) == b"one"
    assert server.fetch(second) == b"one two"


def test_writer_holds_the_upload(server, mounts):
    """A file open for writing by another handle is uploaded only when
    the last writer closes."""
    m = mounts(server, opts=["url_wait=30", "settle=0"])
    path = m.path("held.txt")
    holder = open(path, "wb")
    try:
        holder.write(b"partial")
        holder.flush()
        write_file(path, b"whole")          # a second writer closes
        assert xattr(path, "user.octofs.status") == "queued"
        assert not server.log("put") and not server.objects()
    finally:
        holder.close()
    assert server.fetch(xattr(path)) == b"whole"


def test_writer_racing_a_last_close_is_not_uploaded_early(server,
                                                          mounts):
    """Each append opens the file while the release of the one before may
    still be handing it to the uploader (close() does not wait for the
    release), with a reader holding the file open so that opens for
    writing start a version at once: a version whose writer is still at
    work must never be uploaded, so after every burst the URL serves the
    content with every append.  A long ignore list makes the hand-over
    take longer, so that the next open often comes in during it."""
    ignore = ":".join("*.no%04d" % i for i in range(3000))
    m = mounts(server, opts=["url_wait=30", "settle=0", "ignore=" + ignore])
    path = m.path("race.log")
    write_file(path, b"")
    with open(path, "rb") as reader:
        for r in range(100):
            for i in range(5):
                fd = os.open(path, os.O_RDWR | os.O_APPEND)
                try:
                    os.write(fd, b"%d.%d " % (r, i))
                finally:
                    os.close(fd)
            final = read_file(m.store_path("race.log"))
            assert final.endswith(b" %d.4 " % r)
            assert server.fetch(xattr(path)) == final, "round %d" % r
        reader.read()


def test_mmap_writes_are_uploaded(mnt, server):
    """Bytes written through a shared mapping reach the store on msync and
    are what the upload publishes."""
    import mmap
    path = mnt.path("mapped.bin")
    write_file(path, b"\0" * 8192)
    xattr(path)
    with open(path, "r+b") as f:
        with mmap.mmap(f.fileno(), 8192) as mm:
            mm[100:105] = b"HELLO"
            mm.flush()
    want = b"\0" * 100 + b"HELLO" + b"\0" * (8192 - 105)
    mnt.wait_status(path, "done")
    assert read_file(mnt.store_path("mapped.bin")) == want
    assert server.fetch(xattr(path)) == want
    assert server.presign_count("mapped.bin") == 2


def test_copy_file_range_and_fallocate_are_uploaded(mnt, server):
    src, dst = mnt.path("src.bin"), mnt.path("dst.bin")
    data = os.urandom(64 * 1024)
    write_file(src, data)
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        assert os.copy_file_range(fi.fileno(), fo.fileno(),
                                  len(data)) == len(data)
    assert server.fetch(xattr(dst)) == data
    first = xattr(dst)
    with open(dst, "r+b") as f:
        os.posix_fallocate(f.fileno(), 0, 128 * 1024)
    mnt.wait_status(dst, "done")
    assert xattr(dst) != first
    assert server.fetch(xattr(dst)) == read_file(dst)
    assert len(read_file(dst)) == 128 * 1024


def test_read_only_use_uploads_nothing(mnt, server):
    """Reading, listing and stat never trigger an upload."""
    write_file(mnt.store_path("old.txt"), b"placed in the store directly")
    assert read_file(mnt.path("old.txt")) == b"placed in the store directly"
    os.stat(mnt.path("old.txt"))
    os.listdir(mnt.path())
    with open(mnt.path("old.txt"), "r+b"):
        pass      # opened for writing, never written
    assert xattr_errno(mnt.path("old.txt"), "user.octofs.url") == \
        errno.ENODATA
    assert not os.path.exists(mnt.path("old.txt.url"))
    assert server.log("presign") == []


def test_empty_file_is_uploaded(mnt, server):
    subprocess.run(["touch", mnt.path("empty")], check=True)
    assert server.fetch(xattr(mnt.path("empty"))) == b""


def test_hard_links_share_one_upload(mnt, server):
    write_file(mnt.path("a.txt"), b"linked")
    url = xattr(mnt.path("a.txt"))
    os.link(mnt.path("a.txt"), mnt.path("b.txt"))
    assert xattr(mnt.path("b.txt")) == url
    assert len(server.log("presign")) == 1


def test_rename_keeps_url(mnt, server):
    write_file(mnt.path("before.txt"), b"x")
    url = xattr(mnt.path("before.txt"))
    os.rename(mnt.path("before.txt"), mnt.path("after.txt"))
    assert xattr(mnt.path("after.txt")) == url
    assert read_file(mnt.path("after.txt.url")).decode().strip() == url
    assert not os.path.exists(mnt.path("before.txt.url"))


def test_sha256_of_medium_file(mnt, server, tmp_path, removed_at_end):
    removed_at_end += [tmp_path / "m.bin", mnt.store_path("m.bin")]
    data = os.urandom(8 * 1024 * 1024 + 17)
    write_file(tmp_path / "m.bin", data)
    shutil.copy(tmp_path / "m.bin", mnt.path("m.bin"))
    got = server.fetch(xattr(mnt.path("m.bin")))
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()
