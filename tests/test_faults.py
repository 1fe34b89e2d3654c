"""Fault injection, one class at a time: what is retried, what fails at
once, and the state each upload ends in."""
import email.utils
import errno
import hashlib
import json
import os
import time
import urllib.parse

import pytest

from conftest import wait_until, xattr, xattr_errno, write_file, read_file
from harness import TIME_FACTOR

FAST = ["url_wait=20", "retry_min_ms=50", "retry_max_ms=500", "timeout=2"]
# Backoff far below a second: only Retry-After can explain a longer wait.
TINY_BACKOFF = ["url_wait=20", "retry_min_ms=1", "retry_max_ms=10",
                "timeout=5"]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def by_time(entries):
    return sorted(entries, key=lambda e: e["time"])


def presigns(server, count):
    """The presign log once @count entries are in, oldest first."""
    wait_until(lambda: server.presign_count() >= count, 10,
               "%d presign requests" % count)
    return by_time(server.log("presign"))


def public_url(server, key):
    return "%s/files/%s" % (server.url, urllib.parse.quote(key))


def assert_uploaded(m, server, name, data):
    """Done, and the URL the file shows serves exactly @data."""
    path = m.path(name)
    url = xattr(path)
    assert xattr(path, "user.octofs.status") == "done"
    assert xattr_errno(path, "user.octofs.error") == errno.ENODATA
    key = xattr(path, "user.octofs.key")
    assert url == public_url(server, key)
    assert read_file(m.path(name + ".url")) == (url + "\n").encode()
    assert server.fetch(url) == data
    obj = server.objects()[key]
    assert (obj["sha256"], obj["size"]) == (sha256(data), len(data))
    assert read_file(m.store_path(name)) == data
    return key


def assert_failed_at_once(m, server, name, data, reasons, puts=0):
    """Failed after one presign, with every piece of @reasons in the
    error; the log tells it once; the file and nothing else is left."""
    path = m.path(name)
    m.wait_status(path, "failed", timeout=10)
    error = xattr(path, "user.octofs.error")
    for reason in reasons:
        assert reason in error
    wait_until(lambda: error in m.log(), 5, "the error in the log")
    assert m.log().count(error) == 1
    assert len(presigns(server, 1)) == 1
    # The server logs a PUT once its side ends, which may come after the
    # daemon gave up on it (an endless answer it stopped reading).
    wait_until(lambda: len(server.log("put")) >= puts, 10,
               "%d PUTs in the server's log" % puts)
    assert len(server.log("put")) == puts
    assert server.log("other") == []
    assert server.objects() == {}
    assert xattr_errno(path, "user.octofs.url") == errno.ENODATA
    assert xattr_errno(path, "user.octofs.key") == errno.ENODATA
    assert not os.path.exists(m.path(name + ".url"))
    assert name + ".url" not in os.listdir(m.path())
    assert read_file(m.store_path(name)) == data
    assert os.getxattr(m.store_path(name), "user.octofs.status") == \
        b"failed"
    return error


def presign_answer(server, **changes):
    """A well-formed presign answer with @changes; None drops a field."""
    data = {"method": "PUT",
            "upload_url": server.url + "/storage/k.txt?expires=1&ct=t&"
            "signature=0",
            "object_key": "k.txt", "public_url": server.url + "/files/k.txt",
            "expires_in": 900, "content_type": "text/plain"}
    for field, value in changes.items():
        if value is None:
            del data[field]
        else:
            data[field] = value
    return {"success": True, "message": "", "data": data}


# -- 5xx: retried until the server recovers --------------------------------

@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_presign_5xx_retried_until_success(server, mounts, status):
    server.add_fault("presign", "status", status=status, count=3,
                     message="try later")
    m = mounts(server, opts=FAST)
    data = os.urandom(5000)
    write_file(m.path("a.bin"), data)
    key = assert_uploaded(m, server, "a.bin", data)
    log = presigns(server, 4)
    assert [e["status"] for e in log] == [status] * 3 + [200]
    assert [e["fault"] for e in log] == ["status"] * 3 + [None]
    assert log[-1]["object_key"] == key
    assert list(server.objects()) == [key]
    puts = server.log("put")
    assert [(p["status"], p["object_key"]) for p in puts] == [(200, key)]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_put_5xx_retried_until_success(server, mounts, status):
    server.add_fault("put", "status", status=status, count=2)
    m = mounts(server, opts=FAST)
    data = os.urandom(70_000)
    write_file(m.path("b.bin"), data)
    key = assert_uploaded(m, server, "b.bin", data)
    puts = by_time(server.log("put"))
    assert [p["status"] for p in puts] == [status, status, 200]
    assert puts[-1]["object_key"] == key
    assert puts[-1]["bytes"] == len(data)
    assert list(server.objects()) == [key]
    assert server.objects()[key]["puts"] == 1


# -- Retry-After ------------------------------------------------------------

@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_on_presign(server, mounts, status):
    m = mounts(server, opts=TINY_BACKOFF)
    server.add_fault("presign", "status", status=status, retry_after=1,
                     message="slow down")
    write_file(m.path("r.txt"), b"patience")
    assert_uploaded(m, server, "r.txt", b"patience")
    first, second = presigns(server, 2)
    assert first["status"] == status and second["status"] == 200
    assert second["time"] - first["time"] >= 0.9


def test_retry_after_seconds_on_put(server, mounts):
    m = mounts(server, opts=TINY_BACKOFF)
    server.add_fault("put", "status", status=503, retry_after=1)
    write_file(m.path("r.txt"), b"patience")
    assert_uploaded(m, server, "r.txt", b"patience")
    first, second = by_time(server.log("put"))
    assert first["status"] == 503 and second["status"] == 200
    assert second["time"] - first["time"] >= 0.9


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_http_date(server, mounts, status):
    m = mounts(server, opts=TINY_BACKOFF)
    not_before = int(time.time() + 2 * TIME_FACTOR)
    server.add_fault("presign", "status", status=status,
                     retry_after=email.utils.formatdate(not_before,
                                                        usegmt=True))
    write_file(m.path("d.txt"), b"dated")
    assert_uploaded(m, server, "d.txt", b"dated")
    first, second = presigns(server, 2)
    assert first["status"] == status and second["status"] == 200
    assert first["time"] < not_before - 0.5
    assert second["time"] >= not_before - 0.05


# -- A connection cut in the middle of the body -----------------------------

@pytest.mark.parametrize("after", [0, 150_000, 300 * 1024 - 1])
def test_put_cut_mid_body_is_retried(server, mounts, after):
    data = os.urandom(300 * 1024)
    # Two cuts: a request on a reused connection that dies may be resent
    # once by the HTTP library itself; the second cut reaches octofs.
    server.add_fault("put", "cut", after_bytes=after, count=2)
    m = mounts(server, opts=FAST)
    write_file(m.path("big.bin"), data)
    key = assert_uploaded(m, server, "big.bin", data)
    puts = by_time(server.log("put"))
    assert [(p["fault"], p["status"]) for p in puts] == [
        ("cut", None), ("cut", None), (None, 200)]
    assert all(p["bytes"] <= after for p in puts[:2])
    assert puts[2]["bytes"] == len(data)
    objects = server.objects()
    assert list(objects) == [key]
    assert objects[key]["puts"] == 1
    for cut in puts[:2]:
        if cut["object_key"] != key:
            with pytest.raises(Exception) as e:
                server.fetch(public_url(server, cut["object_key"]))
            assert getattr(e.value, "code", None) == 404


# -- A silent server ----------------------------------------------------------

# The server holds its answer for HELD seconds; a daemon given timeout=1
# retries long before, in under GAVE_UP seconds.  A slower daemon
# (OCTOFS_TIME_FACTOR) is given more time, and the server holds longer.
HELD = 4 * TIME_FACTOR
GAVE_UP = 3 * TIME_FACTOR


@pytest.mark.parametrize("action,params", [
    ("delay", {"seconds": HELD}),
    ("drip", {"bytes": 100, "interval": 0.5}),
])
def test_silent_presign_times_out_and_is_retried(server, mounts, action,
                                                 params):
    server.add_fault("presign", action, **params)
    m = mounts(server, opts=["url_wait=20", "retry_min_ms=50",
                             "retry_max_ms=500", "timeout=1"])
    write_file(m.path("s.txt"), b"silence")
    key = assert_uploaded(m, server, "s.txt", b"silence")
    first, second = presigns(server, 2)
    assert first["fault"] == action and second["fault"] is None
    assert second["object_key"] == key
    # Given up on after timeout=1, long before the server would answer.
    assert 0.9 <= second["time"] - first["time"] < GAVE_UP


def test_silent_put_times_out_and_is_retried(server, mounts):
    server.add_fault("put", "delay", seconds=HELD)
    m = mounts(server, opts=["url_wait=20", "retry_min_ms=50",
                             "retry_max_ms=500", "timeout=1"])
    write_file(m.path("s.txt"), b"no progress")
    key = assert_uploaded(m, server, "s.txt", b"no progress")
    first = presigns(server, 1)[0]
    assert first["object_key"] != key, (
        "the PUT that got no answer for %g s was waited out: %s"
        % (HELD, m.log()))
    done = [p for p in server.log("put") if p["object_key"] == key]
    assert [(p["fault"], p["status"]) for p in done] == [(None, 200)]
    # Given up on after timeout=1, long before the server would answer
    # (it logs the held PUT when its HELD seconds are over).
    wait_until(lambda: any(p["fault"] == "delay" for p in server.log("put")),
               10, "the held PUT to be logged")
    held = [p for p in server.log("put") if p["fault"] == "delay"][0]
    assert held["object_key"] != key
    assert 0.9 <= done[0]["time"] - held["time"] < GAVE_UP, m.log()


# -- Malformed presign answers: fail at once --------------------------------

MALFORMED = [
    ("html", lambda s: "<html>oops</html>", ["not JSON"]),
    ("empty", lambda s: "", ["not JSON", "empty"]),
    ("truncated", lambda s: '{"success": true, "data": {', ["not JSON"]),
    ("trailing", lambda s: json.dumps(presign_answer(s)) + " x",
     ["not JSON"]),
    ("array", lambda s: "[]", ["not a JSON object"]),
    ("no_success", lambda s: '{"message": ""}', ["success is missing"]),
    ("success_string", lambda s: json.dumps(
        dict(presign_answer(s), success="true")),
     ["success is not a boolean"]),
    ("no_data", lambda s: '{"success": true, "message": ""}',
     ["data is missing"]),
    ("data_list", lambda s: '{"success": true, "data": []}',
     ["data is not an object"]),
    ("no_method", lambda s: json.dumps(presign_answer(s, method=None)),
     ["data.method is missing"]),
    ("no_upload_url", lambda s: json.dumps(
        presign_answer(s, upload_url=None)),
     ["data.upload_url is missing"]),
    ("no_public_url", lambda s: json.dumps(
        presign_answer(s, public_url=None)),
     ["data.public_url is missing"]),
    ("no_object_key", lambda s: json.dumps(
        presign_answer(s, object_key=None)),
     ["data.object_key is missing"]),
    ("no_content_type", lambda s: json.dumps(
        presign_answer(s, content_type=None)),
     ["data.content_type is missing"]),
    ("key_number", lambda s: json.dumps(presign_answer(s, object_key=42)),
     ["data.object_key is not a string"]),
    ("url_list", lambda s: json.dumps(presign_answer(s, upload_url=[])),
     ["data.upload_url is not a string"]),
    ("expires_string", lambda s: json.dumps(
        presign_answer(s, expires_in="900")),
     ["data.expires_in is not an integer"]),
    ("url_not_http", lambda s: json.dumps(
        presign_answer(s, upload_url="ftp://127.0.0.1/k.txt")),
     ["data.upload_url is not an http(s) URL"]),
    ("empty_public_url", lambda s: json.dumps(
        presign_answer(s, public_url="")),
     ["data.public_url is empty"]),
]


@pytest.mark.parametrize("body,reasons", [c[1:] for c in MALFORMED],
                         ids=[c[0] for c in MALFORMED])
def test_malformed_presign_answer_fails_at_once(server, mounts, body,
                                                reasons):
    server.add_fault("presign", "body", body=body(server), count=-1)
    m = mounts(server, opts=FAST)
    write_file(m.path("a.txt"), b"kept")
    assert_failed_at_once(m, server, "a.txt", b"kept", reasons)


def test_oversized_presign_answer_fails_at_once(server, mounts):
    server.add_fault("presign", "huge", size=1 << 20, count=-1)
    m = mounts(server, opts=FAST)
    write_file(m.path("a.txt"), b"kept")
    assert_failed_at_once(m, server, "a.txt", b"kept",
                          ["presign answer larger than"])


# -- The server says no -----------------------------------------------------

def save_and_fail(server, mounts, reasons):
    """Save a.txt and check it failed at once for @reasons; its error."""
    m = mounts(server, opts=FAST)
    write_file(m.path("a.txt"), b"kept")
    return assert_failed_at_once(m, server, "a.txt", b"kept", reasons)


@pytest.mark.parametrize("status, message", [
    (400, "file type not allowed here"), (404, "file type not allowed here"),
    (413, "file type not allowed here"), (422, "file type not allowed here"),
    (401, "this key may not upload"), (403, "this key may not upload"),
])
def test_presign_refusal_fails_at_once(server, mounts, status, message):
    """success: false with a 4xx status, 401 and 403 included."""
    server.add_fault("presign", "status", status=status, count=-1,
                     message=message)
    error = save_and_fail(server, mounts, [message])
    assert str(status) in error


def test_success_false_without_message_fails_at_once(server, mounts):
    server.add_fault("presign", "body", body='{"success": false}',
                     count=-1)
    save_and_fail(server, mounts, ["refused"])


def test_success_false_wins_over_usable_data(server, mounts):
    answer = presign_answer(server)
    answer.update(success=False, message="over quota")
    server.add_fault("presign", "body", body=json.dumps(answer), count=-1)
    error = save_and_fail(server, mounts, ["over quota"])
    assert error.endswith("over quota")


def test_wrong_key_fails_at_once(server, mounts):
    m = mounts(server, opts=FAST,
               env={"OCTOFS_API_KEY": "sk-not-" + server.key[3:]})
    write_file(m.path("a.txt"), b"kept")
    error = assert_failed_at_once(m, server, "a.txt", b"kept",
                                  ["invalid or missing API key"])
    assert "401" in error
    assert server.key not in m.log()


@pytest.mark.parametrize("method", ["POST", "GET", "put"])
def test_presign_method_other_than_put_fails(server, mounts, method):
    server.add_fault("presign", "method", method=method, count=-1)
    m = mounts(server, opts=FAST)
    write_file(m.path("a.txt"), b"kept")
    error = assert_failed_at_once(m, server, "a.txt", b"kept",
                                  ["data.method"])
    assert "is %s, expected PUT" % method in error


# -- Expired upload URL -----------------------------------------------------

def test_expired_upload_url_gets_fresh_presign(server, mounts):
    server.add_fault("presign", "expire", seconds=1)
    server.add_fault("put", "delay", seconds=2.5)
    m = mounts(server, opts=["url_wait=20", "retry_min_ms=50",
                             "retry_max_ms=500", "timeout=10"])
    data = os.urandom(20_000)
    write_file(m.path("e.bin"), data)
    key = assert_uploaded(m, server, "e.bin", data)
    log = presigns(server, 2)
    assert len(log) >= 2
    assert log[0]["fault"] == "expire" and log[-1]["object_key"] == key
    puts = by_time(server.log("put"))
    assert [(p["fault"], p["status"]) for p in puts] == [
        ("delay", 403), (None, 200)]
    assert puts[0]["object_key"] == log[0]["object_key"]
    assert list(server.objects()) == [key]


# -- Redirects are not followed ----------------------------------------------

def assert_key_only_at_endpoint(server):
    for entry in server.log():
        if entry["authorization"]:
            assert (entry["op"], entry["path"]) == (
                "presign", "/api/upload/presign")


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_presign_redirect_not_followed(server, mounts, status):
    server.add_fault("presign", "redirect", status=status, count=-1,
                     location=server.url + "/elsewhere/api/upload/presign")
    m = mounts(server, opts=FAST)
    write_file(m.path("a.txt"), b"kept")
    error = assert_failed_at_once(m, server, "a.txt", b"kept",
                                  ["presign", "redirect"])
    assert str(status) in error
    assert_key_only_at_endpoint(server)


def test_put_redirect_not_followed(server, mounts):
    server.add_fault("put", "redirect", status=307, count=-1,
                     location=server.url + "/elsewhere/storage")
    m = mounts(server, opts=FAST)
    write_file(m.path("a.txt"), b"kept")
    error = assert_failed_at_once(m, server, "a.txt", b"kept",
                                  ["upload", "redirect"], puts=1)
    assert "307" in error
    assert server.log("put")[0]["authorization"] is False
    assert_key_only_at_endpoint(server)


# -- Retry on demand ----------------------------------------------------------

@pytest.mark.parametrize("value", [b"done", b"uploading", b"failed",
                                   b"bogus", b""])
def test_only_queued_may_be_written_to_status(server, mounts, value):
    server.add_fault("presign", "status", status=403, message="not now")
    m = mounts(server, opts=FAST)
    path = m.path("a.txt")
    write_file(path, b"again")
    m.wait_status(path, "failed")
    error = xattr(path, "user.octofs.error")
    with pytest.raises(OSError) as e:
        os.setxattr(path, "user.octofs.status", value)
    assert e.value.errno == errno.EINVAL
    assert xattr(path, "user.octofs.status") == "failed"
    assert xattr(path, "user.octofs.error") == error
    assert server.presign_count() == 1
    os.setxattr(path, "user.octofs.status", b"queued")
    assert_uploaded(m, server, "a.txt", b"again")
    assert server.presign_count() == 2


# -- The store refuses the outcome --------------------------------------------

def test_url_the_store_cannot_keep_fails_the_file(server, mounts,
                                                  tmp_path):
    """A public URL longer than the store keeps in an attribute (ext4:
    about 4000 bytes, under the 8192 octofs takes): the file fails with
    the reason instead of saying "uploading" for ever, nothing of the
    URL is left on it, and the log keeps the URL."""
    size = 6000
    probe = tmp_path / "probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(str(probe), "user.probe", b"u" * size)
        pytest.skip("the store's filesystem keeps %d-byte values" % size)
    except OSError as e:
        assert e.errno in (errno.ENOSPC, errno.E2BIG)
    server.add_fault("presign", "long_url", size=size, count=-1)
    m = mounts(server, opts=FAST)
    path = m.path("a.txt")
    write_file(path, b"kept")
    m.wait_status(path, "failed")
    error = xattr(path, "user.octofs.error")
    assert error.startswith("uploaded, but the store cannot keep its URL "
                            "(%d bytes): " % size)
    for attr in ("user.octofs.url", "user.octofs.key"):
        assert xattr_errno(path, attr) == errno.ENODATA
    assert not os.path.exists(path + ".url")
    assert read_file(path) == b"kept"
    key = server.log("presign")[0]["object_key"]
    url = public_url(server, key) + "?pad="
    url += "a" * (size - len(url))
    assert [line for line in m.log().splitlines()
            if "but the store cannot keep its URL: " + url in line]
    assert server.objects()[key]["size"] == 4
