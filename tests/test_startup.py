"""Mount-time checks: key, options, store; help and version."""
import os
import shutil
import signal
import subprocess

import pytest

from harness import TIME_FACTOR
from conftest import (OCTOFS, Mount, fuse_mounted, read_file, run_octofs,
                      verify_user_units, wait_until, write_file, xattr)


def test_help_and_version():
    res = run_octofs(["--help"])
    assert res.returncode == 0
    for opt in ("endpoint=", "key_file=", "prefix=", "expires_in=", "jobs=",
                "ignore=", "url_files=", "url_wait=", "ca_file=", "config=",
                "retry_min_ms=", "retry_max_ms=", "stop_grace=", "timeout=",
                "settle=", "log_level="):
        assert opt in res.stdout
    res = run_octofs(["--version"])
    assert res.returncode == 0 and res.stdout.startswith("octofs ")


def test_every_option_is_documented():
    """Each -o option the code takes (src/opts.c's table) is in --help,
    the README and the man page."""
    import re
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = read_file(os.path.join(top, "src", "opts.c")).decode()
    names = re.findall(r'FUSE_OPT_KEY\("(\w+)=", KEY_OURS\)', code)
    assert len(names) >= 15
    helped = re.findall(r"-o (\w+)=", run_octofs(["--help"]).stdout)
    assert sorted(helped) == sorted(names)
    readme = read_file(os.path.join(top, "README")).decode()
    man = read_file(os.path.join(top, "src", "octofs.1")).decode()
    for name in names:
        assert name + "=" in readme, name
        assert ".BI " + name + "=" in man, name


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


def _octofs_pids(mountpoint):
    """PIDs of octofs processes serving mountpoint (from /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"octofs" and \
                mountpoint.encode() in argv:
            pids.append(int(entry))
    return pids


def _running(pid):
    """True while pid runs; a zombie (nobody reaps a daemon's orphan
    in some containers) has finished."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_fstab_form_with_mount_helper(tmp_path, server):
    """STORE MOUNTPOINT fuse.octofs OPTIONS, as mount(8) runs it: through
    mount.fuse3, daemonized, with fstab-only words among the options."""
    helper = shutil.which("mount.fuse3") or "/sbin/mount.fuse3"
    store, mnt = tmp_path / "store", tmp_path / "mnt"
    os.makedirs(store)
    os.makedirs(mnt)
    key_file = tmp_path / "key"
    key_file.write_text(server.key + "\n")
    os.chmod(key_file, 0o600)
    opts = ",".join(["endpoint=" + server.url, "key_file=%s" % key_file,
                     "url_wait=30", "defaults", "noatime", "_netdev",
                     "nofail", "x-systemd.automount", "nosuid", "nodev"])
    env = {k: v for k, v in os.environ.items() if k != "OCTOFS_API_KEY"}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    res = subprocess.run([helper, "%s#%s" % (OCTOFS, store), str(mnt),
                          "-o", opts], capture_output=True, text=True,
                         env=env, timeout=30, stdin=subprocess.DEVNULL)
    check_daemon_mount(res, _octofs_pids(str(mnt)), server, store, mnt,
                       "fstab.txt", b"mounted from fstab", daemons=1)


def check_daemon_mount(res, pids, server, store, mnt, name, data,
                       daemons=None):
    """A mount made by a helper works; after fusermount3 -u its daemon
    (@pids, @daemons of them when given) exits and what was saved is in
    the store."""
    try:
        assert res.returncode == 0, res.stderr
        assert fuse_mounted(str(mnt))
        if daemons is not None:
            assert len(pids) == daemons
        write_file(mnt / name, data)
        url = os.getxattr(mnt / name, "user.octofs.url").decode()
        assert server.fetch(url) == data
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True)
    wait_until(lambda: not any(_running(p) for p in pids),
               20, "the daemon to exit after unmount")
    assert read_file(store / name) == data


UNIT = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "contrib", "systemd", "octofs@.service")


def test_systemd_unit_verifies(tmp_path):
    """The user unit passes systemd-analyze verify, as an instance named
    by systemd-escape --path, and names the mount point in ExecStart."""
    verify_user_units(tmp_path, [UNIT], "octofs")
    with open(UNIT) as f:
        text = f.read()
    assert "ExecStart=/usr/bin/env octofs -f %f" in text


def mount_dirs(tmp_path, server):
    """A store, a mount point and a key file of mode 600."""
    store, mnt = tmp_path / "store", tmp_path / "mnt"
    for d in (store, mnt):
        os.makedirs(d)
    key_file = tmp_path / "key"
    key_file.write_text(server.key + "\n")
    os.chmod(key_file, 0o600)
    return store, mnt, key_file


@pytest.mark.parametrize("how", ["mount -a -T", "mount -t"])
def test_mount_command_with_scratch_fstab(tmp_path, server, how):
    """mount(8) itself, as at boot: mount -a -T on a scratch fstab, or
    mount -t, naming octofs by its absolute path: PROGRAM#STORE, type
    fuse (mount(8) runs helpers without PATH)."""
    if not shutil.which("mount"):
        pytest.skip("mount(8) is not installed")
    store, mnt, key_file = mount_dirs(tmp_path, server)
    opts = "endpoint=%s,key_file=%s,url_wait=30,_netdev,nofail" % (
        server.url, key_file)
    source = "%s#%s" % (OCTOFS, store)
    fstab = tmp_path / "fstab"
    fstab.write_text("# scratch\n%s %s fuse %s 0 0\n" % (source, mnt, opts))
    env = {k: v for k, v in os.environ.items() if k != "OCTOFS_API_KEY"}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    cmd = (["mount", "-a", "-T", str(fstab)] if how == "mount -a -T" else
           ["mount", "-t", "fuse", "-o", opts, source, str(mnt)])
    res = subprocess.run(cmd, capture_output=True, text=True, env=env,
                         timeout=30, stdin=subprocess.DEVNULL)
    check_daemon_mount(res, _octofs_pids(str(mnt)), server, store, mnt,
                       "boot.txt", b"mounted by mount(8)")


NAMESPACED_MOUNT = r"""
set -e
# In a private mount namespace: octofs appears in /usr/local/sbin (on the
# default path mount(8) leaves its helpers) without touching the system.
mount --make-rprivate /
mount -t tmpfs tmpfs /usr/local/sbin
ln -s "$OCTOFS" /usr/local/sbin/octofs
mount -a -T "$FSTAB"
trap 'fusermount3 -u "$MNT"' EXIT
printf 'from a fuse.octofs line' > "$MNT/line.txt"
getfattr -n user.octofs.url --only-values "$MNT/line.txt" > "$URL_FILE"
"""


def unshare_mount_refused():
    """Why unshare --mount cannot run here (a container without
    CAP_SYS_ADMIN, say), in its own words; None when it can."""
    if not shutil.which("unshare"):
        return "unshare(1) is not installed"
    res = subprocess.run(["unshare", "--mount", "true"], capture_output=True,
                         text=True, timeout=30, stdin=subprocess.DEVNULL)
    if res.returncode == 0:
        return None
    return "unshare --mount is refused here (exit status %d): %s" % (
        res.returncode, res.stderr.strip())


def test_fstab_line_of_type_fuse_octofs(tmp_path, server):
    """The literal form STORE MOUNTPOINT fuse.octofs OPTIONS 0 0, through
    mount -a -T and mount.fuse3, with octofs found on the default path.
    Skipped only where a mount namespace cannot be made at all."""
    refused = unshare_mount_refused()
    if refused:
        pytest.skip(refused)
    store, mnt, key_file = mount_dirs(tmp_path, server)
    fstab = tmp_path / "fstab"
    fstab.write_text("%s %s fuse.octofs endpoint=%s,key_file=%s,url_wait=30,"
                     "_netdev 0 0\n" % (store, mnt, server.url, key_file))
    url_file = tmp_path / "url"
    env = {k: v for k, v in os.environ.items() if k != "OCTOFS_API_KEY"}
    env.update(OCTOFS=os.path.abspath(OCTOFS), FSTAB=str(fstab),
               MNT=str(mnt), URL_FILE=str(url_file),
               XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    res = subprocess.run(["unshare", "--mount", "sh", "-c",
                          NAMESPACED_MOUNT], capture_output=True, text=True,
                         env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stdout + res.stderr
    url = url_file.read_text()
    assert server.fetch(url) == b"from a fuse.octofs line"
    assert read_file(store / "line.txt") == b"from a fuse.octofs line"


def mount_with_handles_open(server, mounts):
    """A mount where d/ (read once) and d/f.txt stay open."""
    m = mounts(server, opts=["url_wait=30"])
    os.mkdir(m.path("d"))
    write_file(m.path("d", "f.txt"), b"kept")
    dir_fd = os.open(m.path("d"), os.O_RDONLY | os.O_DIRECTORY)
    os.listdir(dir_fd)
    return m, dir_fd, os.open(m.path("d", "f.txt"), os.O_RDWR)


def test_lazy_unmount_with_handles_open_ends_cleanly(server, mounts):
    """A lazy unmount while a directory and a file stay open: the daemon
    serves them until they close, then exits 0, freeing the handles the
    kernel never released (the sanitizer stage checks for leaks)."""
    m, dir_fd, file_fd = mount_with_handles_open(server, mounts)
    try:
        subprocess.run(["fusermount3", "-uz", m.mnt], check=True)
        assert os.read(file_fd, 4) == b"kept"
    finally:
        os.close(file_fd)
        os.close(dir_fd)
    assert m.proc.wait(30 * TIME_FACTOR) == 0, m.log_tail()
    assert read_file(m.store_path("d", "f.txt")) == b"kept"


def test_sigterm_with_handles_open_ends_cleanly(server, mounts):
    """SIGTERM while a directory and a file are open through the mount:
    the daemon unmounts and exits 0, and frees what the kernel never
    released without touching freed memory (the sanitizer stage)."""
    m, dir_fd, file_fd = mount_with_handles_open(server, mounts)
    try:
        m.proc.send_signal(signal.SIGTERM)
        assert m.proc.wait(30 * TIME_FACTOR) == 0, m.log_tail()
    finally:
        os.close(file_fd)
        os.close(dir_fd)
    assert read_file(m.store_path("d", "f.txt")) == b"kept"


def fuse_connection_abort(mountpoint):
    """The abort file of the FUSE connection behind @mountpoint, with
    fusectl mounted; None where it cannot be."""
    top = "/sys/fs/fuse/connections"
    if not os.path.ismount(top) and subprocess.run(
            ["mount", "-t", "fusectl", "fusectl", top],
            capture_output=True).returncode != 0:
        return None
    path = os.path.join(top, str(os.stat(mountpoint).st_dev), "abort")
    return path if os.path.exists(path) else None


def test_aborted_connection_keeps_uploads(server, mounts):
    """The way out of a hung mount, writing to its abort file under
    /sys/fs/fuse/connections, ends the daemon cleanly with an upload in
    flight: exit 0, the file kept and still queued, and the next mount
    uploads it."""
    server.add_fault("presign", "delay", seconds=30, match="held")
    m = mounts(server, opts=["url_wait=60", "settle=0", "stop_grace=1"])
    write_file(m.path("held.txt"), b"in flight")
    m.wait_status(m.path("held.txt"), "uploading")
    abort = fuse_connection_abort(m.mnt)
    if abort is None:
        pytest.skip("no fusectl here (/sys/fs/fuse/connections)")
    with open(abort, "w") as f:
        f.write("1")
    assert m.proc.wait(30 * TIME_FACTOR) == 0, m.log_tail()
    assert "1 uploads not finished stay queued" in m.log()
    assert read_file(m.store_path("held.txt")) == b"in flight"
    server.clear_faults()
    again = mounts(server, store=m.store, opts=["url_wait=60"])
    assert server.fetch(xattr(again.path("held.txt"))) == b"in flight"
