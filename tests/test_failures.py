"""Uploads that fail, and retrying them."""
import errno
import os

import pytest

from conftest import xattr, xattr_errno, write_file, read_file


def test_rejected_key_fails_with_server_message(server, mounts):
    server.add_fault("presign", "status", status=401,
                     message="API key revoked", count=1)
    m = mounts(server, opts=["url_wait=30"])
    write_file(m.path("a.txt"), b"a")
    m.wait_status(m.path("a.txt"), "failed")
    assert "API key revoked" in xattr(m.path("a.txt"), "user.octofs.error")
    assert xattr_errno(m.path("a.txt"), "user.octofs.url") == errno.ENODATA
    assert not os.path.exists(m.path("a.txt.url"))
    assert "a.txt.url" not in os.listdir(m.path())
    assert read_file(m.path("a.txt")) == b"a"       # the file is kept
    assert "API key revoked" in m.log()


def test_success_false_fails(server, mounts):
    server.add_fault("presign", "success_false", message="quota exceeded")
    m = mounts(server, opts=["url_wait=30"])
    write_file(m.path("a.txt"), b"a")
    m.wait_status(m.path("a.txt"), "failed")
    assert xattr(m.path("a.txt"), "user.octofs.error").endswith(
        "quota exceeded")


def test_malformed_answer_fails_clearly(server, mounts):
    server.add_fault("presign", "body", body="<html>oops</html>")
    m = mounts(server, opts=["url_wait=30"])
    write_file(m.path("a.txt"), b"a")
    m.wait_status(m.path("a.txt"), "failed")
    assert "JSON" in xattr(m.path("a.txt"), "user.octofs.error")


def test_retry_on_demand(server, mounts):
    server.add_fault("presign", "status", status=403, message="no")
    m = mounts(server, opts=["url_wait=30"])
    write_file(m.path("a.txt"), b"again")
    m.wait_status(m.path("a.txt"), "failed")
    os.setxattr(m.path("a.txt"), "user.octofs.status", b"queued")
    assert server.fetch(xattr(m.path("a.txt"))) == b"again"
    assert xattr_errno(m.path("a.txt"), "user.octofs.error") == \
        errno.ENODATA


def test_waiting_reader_learns_of_failure(server, mounts):
    server.add_fault("presign", "status", status=401, message="bad key",
                     delay=1)
    m = mounts(server, opts=["url_wait=30"])
    write_file(m.path("a.txt"), b"a")
    with pytest.raises(OSError) as e:
        os.getxattr(m.path("a.txt"), "user.octofs.url")
    assert e.value.errno == errno.ENODATA


def test_server_errors_are_retried(server, mounts):
    server.add_fault("presign", "status", status=503, count=2)
    server.add_fault("put", "status", status=500, count=1)
    m = mounts(server, opts=["url_wait=60"])
    write_file(m.path("a.txt"), b"persistent")
    assert server.fetch(xattr(m.path("a.txt"))) == b"persistent"


def test_expired_put_url_gets_fresh_presign(server, mounts):
    server.add_fault("put", "status", status=403, count=1,
                     message="Request has expired")
    m = mounts(server, opts=["url_wait=30"])
    write_file(m.path("a.txt"), b"fresh")
    assert server.fetch(xattr(m.path("a.txt"))) == b"fresh"
    assert len(server.log("presign")) == 2


def test_unlink_cancels_pending_upload(server, mounts):
    server.add_fault("put", "delay", seconds=3)
    m = mounts(server, opts=["url_wait=30"])
    write_file(m.path("gone.txt"), b"bye")
    os.unlink(m.path("gone.txt"))
    assert not os.path.exists(m.path("gone.txt.url"))
    write_file(m.path("next.txt"), b"next")
    assert server.fetch(xattr(m.path("next.txt"))) == b"next"
    assert not os.path.exists(m.store_path("gone.txt"))
