"""Shared fixtures for the octofs integration tests.

Every test that mounts does it for real, against a development server on a
free loopback port, and unmounts with fusermount3 -u even when it fails.
"""
import errno  # noqa: F401  (for the tests)
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from devserver import DevServer  # noqa: E402
from harness import (OCTOFS, Mount, fuse_mounted,  # noqa: E402,F401
                     read_file, run_octofs, wait_until, write_file, xattr,
                     xattr_errno)


@pytest.fixture
def server(tmp_path):
    srv = DevServer(tmp_path / "server")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def removed_at_end(server):
    """For a test that writes tens of megabytes: a list of paths (files or
    trees) removed when it ends, pass or fail, with the objects the server
    stored; pytest keeps the last three runs' directories."""
    paths = []
    yield paths
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)
    shutil.rmtree(os.path.join(server.dir, "data", "objects"),
                  ignore_errors=True)


@pytest.fixture
def mounts(tmp_path):
    """Factory: mounts(opts=[...], store=..., env=...) -> started Mount."""
    started = []

    def make(server, **kwargs):
        m = Mount(tmp_path, server, name="mnt%d" % len(started), **kwargs)
        started.append(m)
        return m.start()

    yield make
    for m in reversed(started):
        m.stop()


@pytest.fixture
def mnt(server, mounts):
    """A drop folder over its own store, against a fresh server."""
    return mounts(server, opts=["url_wait=30"])


__all__ = ["OCTOFS", "wait_until", "fuse_mounted", "xattr", "xattr_errno",
           "write_file", "read_file", "Mount", "run_octofs", "errno"]
