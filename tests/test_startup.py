"""Mount-time checks: key, options, store; help and version."""
import os
import stat
import subprocess

import pytest

from conftest import Mount, fuse_mounted, run_octofs, write_file, read_file


def test_help_and_version():
    res = run_octofs(["--help"])
    assert res.returncode == 0
    for opt in ("endpoint=", "key_file=", "prefix=", "expires_in=", "jobs=",
                "ignore=", "url_files=", "url_wait=", "ca_file=", "config="):
        assert opt in res.stdout
    res = run_octofs(["--version"])
    assert res.returncode == 0 and res.stdout.startswith("octofs ")


def test_missing_key_is_a_mount_time_error(tmp_path):
    os.makedirs(tmp_path / "m")
    res = run_octofs([str(tmp_path / "m")],
                     env={"HOME": str(tmp_path),
                          "XDG_CONFIG_HOME": str(tmp_path / "x")})
    assert res.returncode != 0
    assert "no API key" in res.stderr
    assert not fuse_mounted(str(tmp_path / "m"))


def test_key_on_command_line_refused(tmp_path):
    os.makedirs(tmp_path / "m")
    res = run_octofs(["-o", "api_key=sk-secret", str(tmp_path / "m")],
                     env={"OCTOFS_API_KEY": "k", "HOME": str(tmp_path)})
    assert res.returncode != 0
    assert "command line" in res.stderr
    assert "sk-secret" not in res.stderr


def test_key_file_permissions(tmp_path, server, mounts):
    key = tmp_path / "key"
    write_file(key, (server.key + "\n").encode())
    os.chmod(key, 0o644)
    os.makedirs(tmp_path / "m")
    res = run_octofs(["-o", "key_file=%s,endpoint=%s" % (key, server.url),
                      str(tmp_path / "m")], env={"HOME": str(tmp_path)})
    assert res.returncode != 0 and "chmod 600" in res.stderr
    os.chmod(key, 0o600)
    m = mounts(None, opts=["key_file=%s" % key, "endpoint=" + server.url,
                           "url_wait=30"])
    write_file(m.path("k.txt"), b"key file works")
    assert server.fetch(os.getxattr(m.path("k.txt"),
                                    "user.octofs.url").decode()) == \
        b"key file works"


def test_key_from_config_file(tmp_path, server, mounts):
    cfg = tmp_path / "octofs.conf"
    write_file(cfg, ("# drop folder\nendpoint = %s\napi_key = %s\n"
                     "url_wait = 30\n" % (server.url, server.key)).encode())
    os.chmod(cfg, 0o600)
    m = mounts(None, opts=["config=%s" % cfg])
    write_file(m.path("c.txt"), b"config works")
    assert server.fetch(os.getxattr(m.path("c.txt"),
                                    "user.octofs.url").decode()) == \
        b"config works"


def test_plain_http_endpoint_refused_unless_loopback(tmp_path):
    os.makedirs(tmp_path / "m")
    res = run_octofs(["-o", "endpoint=http://example.com", str(tmp_path / "m")],
                     env={"OCTOFS_API_KEY": "k", "HOME": str(tmp_path)})
    assert res.returncode != 0 and "http" in res.stderr
    assert not fuse_mounted(str(tmp_path / "m"))


def test_bad_option_value(tmp_path):
    os.makedirs(tmp_path / "m")
    res = run_octofs(["-o", "jobs=0", str(tmp_path / "m")],
                     env={"OCTOFS_API_KEY": "k", "HOME": str(tmp_path)})
    assert res.returncode != 0 and "jobs" in res.stderr


def test_store_without_xattrs_refused(tmp_path):
    store = tmp_path / "ramfs"
    os.makedirs(store)
    os.makedirs(tmp_path / "m")
    if subprocess.run(["mount", "-t", "ramfs", "ramfs", str(store)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a ramfs store here")
    try:
        res = run_octofs([str(store), str(tmp_path / "m")],
                         env={"OCTOFS_API_KEY": "k", "HOME": str(tmp_path)})
        assert res.returncode != 0
        assert "extended attributes" in res.stderr
        assert not fuse_mounted(str(tmp_path / "m"))
    finally:
        subprocess.run(["umount", str(store)], check=True)


def test_mount_over_itself_keeps_files(tmp_path, server):
    folder = tmp_path / "Drop"
    os.makedirs(folder)
    write_file(folder / "before.txt", b"was here")
    m = Mount(tmp_path, server, store="", opts=["url_wait=30"], name="Drop")
    m.start()
    try:
        assert read_file(m.path("before.txt")) == b"was here"
        write_file(m.path("new.txt"), b"saved through the mount")
        url = os.getxattr(m.path("new.txt"), "user.octofs.url").decode()
    finally:
        assert m.stop() == 0
    assert read_file(folder / "new.txt") == b"saved through the mount"
    assert os.getxattr(folder / "new.txt", "user.octofs.url").decode() == url
    assert sorted(os.listdir(folder)) == ["before.txt", "new.txt"]


def test_clean_unmount_exit_status(server, mounts):
    m = mounts(server, opts=["url_wait=30"])
    write_file(m.path("x"), b"x")
    os.getxattr(m.path("x"), "user.octofs.url")
    assert m.stop() == 0
    assert not fuse_mounted(m.mnt)
