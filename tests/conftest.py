"""Shared fixtures for the octofs integration tests.

Every test that mounts does it for real, against a development server on a
free loopback port, and unmounts with fusermount3 -u even when it fails.
"""
import errno  # noqa: F401  (for the tests)
import os
import shutil
import subprocess
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


def session_env(bindir, **display):
    """The environment of a desktop session: no display but @display,
    and the stand-in programs of @bindir first on PATH."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("WAYLAND_DISPLAY", "DISPLAY")}
    env["PATH"] = "%s:/usr/bin:/bin" % bindir
    env.update(display)
    return env


def verify_user_units(tmp_path, templates, unit):
    """systemd-analyze --user verify of @unit's instance for the mount
    point tmp_path/Drop (named as systemd-escape --path names it), with
    the @templates (NAME@.service files) installed beside it."""
    analyze = shutil.which("systemd-analyze")
    escape = shutil.which("systemd-escape")
    if not analyze or not escape:
        pytest.skip("systemd-analyze is not installed")
    instance = subprocess.run([escape, "--path", str(tmp_path / "Drop")],
                              capture_output=True, text=True,
                              check=True).stdout.strip()
    units = tmp_path / "units"
    units.mkdir()
    for path in templates:
        name = os.path.basename(path).replace("@.service", "")
        shutil.copy(path, units / ("%s@%s.service" % (name, instance)))
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    res = subprocess.run([analyze, "--user", "verify", "--man=no",
                          str(units / ("%s@%s.service" % (unit, instance)))],
                         capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, XDG_RUNTIME_DIR=str(runtime)))
    assert res.returncode == 0, res.stdout + res.stderr


__all__ = ["OCTOFS", "wait_until", "fuse_mounted", "xattr", "xattr_errno",
           "write_file", "read_file", "Mount", "run_octofs", "errno"]
