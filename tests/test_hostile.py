"""Hostile servers and other users: the key goes to the endpoint only,
every answer is bounded in size and time, malformed values fail cleanly
with a precise error, and the daemon keeps serving the filesystem."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import pathlib

import pytest

from conftest import Mount, wait_until, write_file, read_file, xattr
from test_faults import (FAST, assert_failed_at_once, assert_uploaded,
                         presign_answer)

NOBODY = 65534


def still_serving(m):
    """The daemon lives and the mount answers after the failure."""
    assert m.alive()
    write_file(m.path("after.bin"), b"after")
    assert read_file(m.path("after.bin")) == b"after"
    assert "after.bin" in os.listdir(m.path())


def fail_with(server, mounts, reasons, puts=0, opts=FAST):
    m = mounts(server, opts=opts)
    write_file(m.path("a.txt"), b"kept")
    error = assert_failed_at_once(m, server, "a.txt", b"kept", reasons,
                                  puts=puts)
    still_serving(m)
    return m, error


# -- Values that must never be used ------------------------------------------

URL_CHARS = "contains spaces, control or non-ASCII characters"


def answer(**changes):
    return lambda s: json.dumps(presign_answer(s, **changes))


def url(path):
    return lambda s: json.dumps(presign_answer(
        s, upload_url=s.url + path))


HOSTILE = [
    ("url_control", url("/storage/k\u0001"), "data.upload_url " + URL_CHARS),
    ("url_nul", url("/storage/k\u0000.txt"), "data.upload_url " + URL_CHARS),
    ("url_space", url("/storage/k x"), "data.upload_url " + URL_CHARS),
    ("url_newline", url("/storage/k\r\nHost: evil"),
     "data.upload_url " + URL_CHARS),
    ("url_non_ascii", url("/storage/k\u00e9"), "data.upload_url " + URL_CHARS),
    ("url_too_long", url("/storage/" + "a" * 9000),
     "data.upload_url is longer than 8192 bytes"),
    ("url_relative", answer(upload_url="/storage/k.txt"),
     "data.upload_url is not an http(s) URL"),
    ("url_file", answer(upload_url="file:///etc/passwd"),
     "data.upload_url is not an http(s) URL"),
    ("url_no_host", answer(upload_url="http:///k.txt"),
     "data.upload_url is not an http(s) URL"),
    ("public_url_script", answer(public_url="javascript:alert(1)"),
     "data.public_url is not an http(s) URL"),
    ("key_newline", answer(object_key="a\nb"),
     "data.object_key contains control characters"),
    ("key_too_long", answer(object_key="k" * 2000),
     "data.object_key is longer than 1024 bytes"),
    ("ctype_injection",
     answer(content_type="text/plain\r\nAuthorization: Bearer x"),
     "data.content_type contains control or non-ASCII characters"),
    ("ctype_non_ascii", answer(content_type="text/pl\u00e4in"),
     "data.content_type contains control or non-ASCII characters"),
    ("expires_zero", answer(expires_in=0),
     "data.expires_in is out of range"),
    ("expires_negative", answer(expires_in=-5),
     "data.expires_in is out of range"),
    ("expires_huge", answer(expires_in=10 ** 12),
     "data.expires_in is out of range"),
    ("expires_float", answer(expires_in=1.5),
     "data.expires_in is not an integer"),
    ("expires_bool", answer(expires_in=True),
     "data.expires_in is not an integer"),
    ("expires_overflow", lambda s: json.dumps(presign_answer(
        s, expires_in=0)).replace('"expires_in": 0', '"expires_in": 1e400'),
     "data.expires_in is not an integer"),
    ("success_null", lambda s: '{"success": null}',
     "success is not a boolean"),
    ("data_null", lambda s: '{"success": true, "data": null}',
     "data is not an object"),
    ("deep_nesting",
     lambda s: '{"success": true, "data": ' + "[" * 200 + "]" * 200 + "}",
     "not JSON"),
]


@pytest.mark.parametrize("body,reason", [c[1:] for c in HOSTILE],
                         ids=[c[0] for c in HOSTILE])
def test_hostile_value_fails_cleanly(server, mounts, body, reason):
    server.add_fault("presign", "body", body=body(server), count=-1)
    fail_with(server, mounts, ["presign answer: " + reason])


# -- Answers without end -----------------------------------------------------

def test_endless_presign_headers_fail(server, mounts):
    server.add_fault("presign", "headers", size=4 << 20, count=-1)
    fail_with(server, mounts,
              ["presign: answer headers from 127.0.0.1 larger than "
               "65536 bytes"])


def test_endless_storage_headers_fail(server, mounts):
    server.add_fault("put", "headers", size=4 << 20, drain=True, count=-1)
    fail_with(server, mounts,
              ["upload: answer headers from 127.0.0.1 larger than "
               "65536 bytes"], puts=1)


def test_endless_storage_answer_fails(server, mounts):
    """Gigabytes of answer to a PUT: read up to a cap, then refused."""
    server.add_fault("put", "huge", size=8 << 30, drain=True, count=-1)
    fail_with(server, mounts,
              ["upload: the server's answer is larger than 1048576 bytes"],
              puts=1)


# -- Answers that drip -------------------------------------------------------

def assert_retried_then_done(m, server, data, message):
    """The first attempt was given up with @message, the next worked."""
    assert_uploaded(m, server, "a.bin", data)
    assert message in m.log()
    still_serving(m)


def test_dripping_presign_is_cut_off_and_retried(server, mounts):
    """A byte every 0.3 s is never silent; the exchange's time cap ends
    it (timeout=2), and the retry gets a usable answer."""
    server.add_fault("presign", "drip_headers", bytes=1000, interval=0.3)
    m = mounts(server, opts=FAST)
    data = os.urandom(3000)
    write_file(m.path("a.bin"), data)
    assert_retried_then_done(m, server, data,
                             "presign: 127.0.0.1 timed out")


@pytest.mark.parametrize("action, message", [
    ("drip", "upload: the server's answer did not end within 2 s"),
    # Header bytes are not counted as progress by libcurl.
    ("drip_headers", "upload: no answer from the server for 2 s"),
])
def test_dripping_storage_answer_is_cut_off_and_retried(server, mounts,
                                                        action, message):
    server.add_fault("put", action, bytes=1000, interval=0.3, drain=True)
    m = mounts(server, opts=FAST)
    data = os.urandom(3000)
    write_file(m.path("a.bin"), data)
    assert_retried_then_done(m, server, data, message)


# -- The key goes to the endpoint only ---------------------------------------

def test_storage_never_sees_the_key(server, mounts):
    m = mounts(server, opts=FAST)
    for i in range(5):
        write_file(m.path("f%d.txt" % i), b"x" * i)
    for i in range(5):
        m.wait_status(m.path("f%d.txt" % i), "done")
    log = server.log()
    assert [e for e in log if e["op"] == "put"]
    for entry in log:
        has_auth = any(k.lower() == "authorization" for k in entry["headers"])
        assert has_auth == (entry["op"] == "presign"), entry
        assert server.key not in json.dumps(entry)


def test_key_leaves_no_trace_in_the_process(server, mounts):
    """Not in argv, and wiped from the environment once read."""
    m = mounts(server, opts=FAST)
    write_file(m.path("a.txt"), b"a")
    m.wait_status(m.path("a.txt"), "done")
    for name in ("cmdline", "environ"):
        with open("/proc/%d/%s" % (m.pid, name), "rb") as f:
            assert server.key.encode() not in f.read(), name


def test_debug_log_never_holds_the_key(server, mounts):
    server.add_fault("presign", "status", status=503, message="busy")
    m = mounts(server, opts=FAST + ["debug"])
    write_file(m.path("a.txt"), b"a")
    m.wait_status(m.path("a.txt"), "done")
    m.stop()
    log = m.log()
    assert "presign: 127.0.0.1: HTTP 503" in log  # debug lines are there
    assert "presign: 127.0.0.1: HTTP 200" in log
    assert "unique:" in log                      # and libfuse's own
    assert server.key not in log
    assert server.key[3:] not in log


def test_server_echoing_the_key_is_redacted(server, mounts):
    server.add_fault("presign", "status", status=401, count=-1,
                     message="key %s is revoked" % server.key)
    m, error = fail_with(server, mounts, ["is revoked", "*" * 8])
    assert server.key not in error
    assert server.key not in m.log()


# -- Other users ---------------------------------------------------------------

PROBE = r"""
import errno, json, os, sys
out = {}
for label, fn in [
        ("read", lambda p: open(p, "rb").read()),
        ("url_xattr", lambda p: os.getxattr(p, "user.octofs.url")),
        ("url_file", lambda p: open(p + ".url", "rb").read()),
        ("url_mode", lambda p: oct(os.stat(p + ".url").st_mode & 0o777))]:
    try:
        value = fn(sys.argv[1])
        out[label] = value if isinstance(value, str) else "ok"
    except OSError as e:
        out[label] = errno.errorcode[e.errno]
print(json.dumps(out))
"""


def as_nobody(path):
    res = subprocess.run([sys.executable, "-c", PROBE, path],
                         capture_output=True, text=True, timeout=30,
                         user=NOBODY, group=NOBODY, extra_groups=[])
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.fixture
def reachable():
    """A directory other users can reach (pytest's tmp_path is 0700)."""
    path = tempfile.mkdtemp(prefix="octofs-shared-")
    os.chmod(path, 0o755)
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)


def shared_mount(base, server, opts):
    m = Mount(base, server, opts=opts)
    os.chmod(m.store, 0o755)
    return m


def test_allow_other_gets_default_permissions(reachable, server):
    m = shared_mount(reachable, server, FAST + ["allow_other"])
    try:
        m.start()
        with open("/proc/self/mountinfo") as f:
            line = next(l for l in f if l.split()[4] == m.mnt)
        assert "default_permissions" in line.split(" - ")[1]
        assert "default_permissions added" in m.log()
        for name, mode in (("private.txt", 0o600), ("public.txt", 0o644)):
            write_file(m.path(name), name.encode())
            os.chmod(m.path(name), mode)
            m.wait_status(m.path(name), "done")
        assert as_nobody(m.path("private.txt")) == {
            "read": "EACCES", "url_xattr": "EACCES", "url_file": "EACCES",
            "url_mode": "0o400"}
        assert as_nobody(m.path("public.txt")) == {
            "read": "ok", "url_xattr": "ok", "url_file": "ok",
            "url_mode": "0o444"}
        assert read_file(m.path("private.txt.url")).decode().strip() == \
            xattr(m.path("private.txt"))
    finally:
        m.stop()


def test_single_user_by_default(reachable, server):
    m = shared_mount(reachable, server, FAST)
    try:
        m.start()
        write_file(m.path("public.txt"), b"p")
        os.chmod(m.path("public.txt"), 0o644)
        m.wait_status(m.path("public.txt"), "done")
        assert as_nobody(m.path("public.txt")) == {
            "read": "EACCES", "url_xattr": "EACCES", "url_file": "EACCES",
            "url_mode": "EACCES"}
    finally:
        m.stop()


# -- The log -----------------------------------------------------------------

def test_names_cannot_forge_log_lines(server, mounts):
    """A newline or escape in a file name is written as \\xNN."""
    m = mounts(server, opts=FAST)
    name = b"a\noctofs: uploaded forged.txt\x1b[2J.txt"
    path = os.path.join(os.fsencode(m.mnt), name)
    write_file(path, b"x")
    wait_until(lambda: b"done" == os.getxattr(path, "user.octofs.status"),
               20, "the upload")
    log = m.log()
    assert "a\\x0aoctofs: uploaded forged.txt\\x1b[2J.txt" in log
    assert not any(line.startswith("octofs: uploaded forged")
                   for line in log.splitlines())
    assert "\x1b" not in log


def test_unmount_does_not_wait_for_a_hanging_presign(server, mounts):
    """After stop_grace, a presign in flight is abandoned like a PUT: the
    daemon exits without waiting out the server (timeout=30)."""
    server.add_fault("presign", "delay", seconds=120)
    m = mounts(server, opts=["stop_grace=1", "timeout=30"])
    write_file(m.path("a.txt"), b"a")
    m.wait_status(m.path("a.txt"), "uploading")
    assert m.stop(timeout=10) == 0
    assert "1 uploads not finished stay queued" in m.log()
