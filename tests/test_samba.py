"""A team drop folder over SMB: Debian's smbd on a loopback port, with its
own configuration, state, locks and log under the test's directory,
serves a mount to smbclient with contrib/samba/smb.conf's share options.
The guest account (nobody) saves the files, as a team member would."""
import contextlib
import errno
import grp
import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import Mount, wait_until, xattr, xattr_errno, read_file
from harness import read_log, terminate

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(os.path.dirname(HERE), "contrib", "samba", "smb.conf")
SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
GUEST, GUEST_GROUP = "nobody", "nogroup"
# What smbd says when this machine, not the test, keeps it from serving.
NOT_OURS = ("Operation not permitted", "Permission denied",
            "Address family not supported", "Cannot assign requested address",
            "error while loading shared libraries")


def programs():
    """smbd and smbclient, or a skip saying what is missing."""
    if os.geteuid() != 0:
        pytest.skip("smbd must start as root to act as each user")
    found = {p: shutil.which(p, path=SBIN) for p in ("smbd", "smbclient")}
    for prog, path in found.items():
        if not path:
            pytest.skip("%s is not installed (contrib/deps --tests "
                        "installs samba and smbclient)" % prog)
    try:
        pwd.getpwnam(GUEST)
        grp.getgrnam(GUEST_GROUP)
    except KeyError:
        pytest.skip("no %s user or %s group for the guest account"
                    % (GUEST, GUEST_GROUP))
    return found["smbd"], found["smbclient"]


def example_share():
    """The [drop] section of contrib/samba/smb.conf, as (key, value)s."""
    options, inside = [], False
    with open(EXAMPLE) as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                inside = line == "[drop]"
            elif inside and line and line[0] not in "#;":
                key, value = line.split("=", 1)
                options.append((key.strip(), value.strip()))
    return options


def share_options(path):
    """The example share over @path, for the guest instead of a group of
    users: the same options otherwise."""
    options = [(k, v) for k, v in example_share() if k != "valid users"]
    options = [(k, path if k == "path" else
                GUEST_GROUP if k == "force group" else v)
               for k, v in options]
    return options + [("guest ok", "yes"), ("guest only", "yes")]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def children(pid):
    """The processes whose parent is @pid, and are not yet dead."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Smbd:
    """One smbd in the foreground, everything it keeps under @workdir."""

    def __init__(self, workdir, shares):
        self.dir = str(workdir)
        self.shares = shares
        self.smbd, self.smbclient = programs()
        self.conf = os.path.join(self.dir, "smb.conf")
        self.log_path = os.path.join(self.dir, "smbd.log")
        self.proc = None
        self.port = None
        for sub in ("private", "lock", "state", "cache", "pid", "ncalrpc"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)

    def config(self):
        d = self.dir
        lines = ["[global]"] + ["\t%s = %s" % kv for kv in (
            ("server role", "standalone server"),
            ("smb ports", self.port),
            ("bind interfaces only", "yes"),
            ("interfaces", "127.0.0.1"),
            ("private dir", d + "/private"),
            ("lock directory", d + "/lock"),
            ("state directory", d + "/state"),
            ("cache directory", d + "/cache"),
            ("pid directory", d + "/pid"),
            ("ncalrpc dir", d + "/ncalrpc"),
            ("passdb backend", "tdbsam:%s/private/passdb.tdb" % d),
            ("map to guest", "Bad User"),
            ("guest account", GUEST),
            ("load printers", "no"),
            ("printing", "bsd"),
            ("printcap name", "/dev/null"),
            ("disable spoolss", "yes"),
            ("rpc start on demand helpers", "no"),
            ("log level", "1"))]
        for name, options in self.shares.items():
            lines += ["", "[%s]" % name]
            lines += ["\t%s = %s" % kv for kv in options]
        return "\n".join(lines) + "\n"

    def log(self):
        return read_log(self.log_path)

    def start(self):
        for _ in range(3):
            self.port = free_port()
            with open(self.conf, "w") as f:
                f.write(self.config())
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    [self.smbd, "--foreground", "--no-process-group",
                     "--debug-stdout", "-s", self.conf],
                    stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True)
            wait_until(lambda: listening(self.port) or
                       self.proc.poll() is not None, 20,
                       "smbd to listen on port %d" % self.port)
            if self.proc.poll() is None:
                return self
            self.proc.wait()
            if "Address already in use" not in self.log():
                break
        reason = [line for line in self.log().splitlines()
                  if any(s in line for s in NOT_OURS)]
        if reason:
            pytest.skip("smbd cannot serve here: " + reason[-1].strip())
        raise AssertionError("smbd exited with %s:\n%s"
                             % (self.proc.returncode, self.log()[-3000:]))

    def stop(self):
        """SIGTERM to smbd by its PID; its helpers follow it out."""
        if not self.proc or self.proc.poll() is not None:
            return
        helpers = children(self.proc.pid)
        terminate(self.proc)
        deadline = time.monotonic() + 10
        for pid in helpers:
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if alive(pid):
                os.kill(pid, signal.SIGKILL)

    def client(self, *commands, share="drop", timeout=60):
        """Run smbclient's @commands in one session, as the guest."""
        cmd = [self.smbclient, "//127.0.0.1/" + share, "-p", str(self.port),
               "-N", "-s", self.conf, "-t", str(timeout),
               "-c", "; ".join(commands)]
        res = subprocess.run(cmd, capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, cwd=self.dir,
                             timeout=timeout + 30)
        out = res.stdout + res.stderr
        return res.returncode, out

    def run(self, *commands, **kwargs):
        rc, out = self.client(*commands, **kwargs)
        assert rc == 0 and "NT_STATUS_" not in out, \
            "smbclient %r failed (%d):\n%s\nsmbd log:\n%s" % (
                commands, rc, out, self.log()[-2000:])
        return out


class Share:
    def __init__(self, mount, smbd, local):
        self.m = mount
        self.smbd = smbd
        self.local = local      # the client's side of the files
        self.sent = 0

    def put(self, name, data, *then):
        """Save @data as @name over SMB, then run @then in that session."""
        self.sent += 1
        src = os.path.join(self.local, "put-%d" % self.sent)
        with open(src, "wb") as f:
            f.write(data)
        return self.smbd.run('put "%s" "%s"' % (src, name), *then)

    def get(self, name):
        dst = os.path.join(self.local, "got")
        if os.path.exists(dst):
            os.unlink(dst)
        self.smbd.run('get "%s" "%s"' % (name, dst))
        return read_file(dst)


@contextlib.contextmanager
def samba_share(tmp_path, server, opts):
    """A mount of a fresh store, shared as [drop].  The mount sits in a
    directory of its own that every user may enter (smbd works in it as
    the guest; pytest's own directory is root's only), removed after."""
    programs()
    base = tempfile.mkdtemp(prefix="octofs-samba-")
    smbd = None
    try:
        os.chmod(base, 0o755)
        m = Mount(pathlib.Path(base), server, name="drop", opts=opts)
        # As contrib/samba/smb.conf's recipe makes /srv/drop.
        os.chown(m.store, 0, grp.getgrnam(GUEST_GROUP).gr_gid)
        os.chmod(m.store, 0o2775)
        m.start()
        try:
            smbd = Smbd(tmp_path / "samba",
                        {"drop": share_options(m.mnt)}).start()
            local = tmp_path / "client"
            local.mkdir()
            yield Share(m, smbd, str(local))
        finally:
            if smbd:
                smbd.stop()
            m.stop()
    finally:
        shutil.rmtree(base)


@pytest.fixture
def share(tmp_path, server):
    with samba_share(tmp_path, server, ["allow_other", "url_wait=30"]) as s:
        yield s


def presigned(server):
    return [r["file_name"] for r in server.log("presign")]


def test_saved_file_uploads_once_and_its_url_reads_back(share, server):
    data = os.urandom(100000)
    share.put("photo.png", data)
    url = xattr(share.m.path("photo.png"))
    assert server.fetch(url) == data
    assert share.get("photo.png.url") == (url + "\n").encode()
    assert share.get("photo.png") == data
    assert "octofs.url" in share.smbd.run("geteas photo.png")
    # Saved as the guest, with the share's modes: no execute bit from the
    # DOS archive attribute.
    st = os.stat(share.m.store_path("photo.png"))
    assert pwd.getpwuid(st.st_uid).pw_name == GUEST
    assert grp.getgrgid(st.st_gid).gr_name == GUEST_GROUP
    assert st.st_mode & 0o777 == 0o664
    # Samba's own attributes (user.DOSATTRIB) never start an upload.
    assert "user.DOSATTRIB" in os.listxattr(share.m.store_path("photo.png"))
    assert xattr(share.m.path("photo.png")) == url
    assert presigned(server) == ["photo.png"]


def word_save(share, name, data, n):
    """What Word does over SMB to save @name: its owner file ~$NAME, the
    new version written as ~WRDnnnn.tmp, the old one moved aside to
    ~WRLnnnn.tmp, the new one renamed into place, the rest deleted."""
    owner = "~$" + name
    new, old = "~WRD%04d.tmp" % n, "~WRL%04d.tmp" % (n + 1)
    exists = os.path.exists(share.m.path(name))
    share.put(owner, b"\x05owner" + b" " * 50)
    share.put(new, data,
              *(['rename "%s" "%s"' % (name, old)] if exists else []),
              'rename "%s" "%s"' % (new, name),
              *(['del "%s"' % old] if exists else []),
              'del "%s"' % owner)


def test_word_save_uploads_once_under_the_final_name(share, server):
    first, second = os.urandom(30000), os.urandom(31000)
    word_save(share, "report.docx", first, 0)
    url = xattr(share.m.path("report.docx"))
    assert server.fetch(url) == first
    assert presigned(server) == ["report.docx"]
    word_save(share, "report.docx", second, 1)
    new_url = xattr(share.m.path("report.docx"))
    assert new_url != url
    assert server.fetch(new_url) == second
    assert share.get("report.docx.url") == (new_url + "\n").encode()
    assert presigned(server) == ["report.docx", "report.docx"]
    assert sorted(os.listdir(share.m.store)) == ["report.docx"]


LITTER = ["._photo.png", ".DS_Store", "Thumbs.db", "desktop.ini",
          "~$budget.xlsx"]


def test_clients_litter_is_stored_never_uploaded(share, server):
    for name in LITTER:
        share.put(name, b"litter " + name.encode())
    # Saved last: once it is done, any upload of the litter has been
    # asked for before it.
    share.put("photo.png", b"the photo")
    url = xattr(share.m.path("photo.png"))
    assert share.get("photo.png.url") == (url + "\n").encode()
    for name in LITTER:
        assert read_file(share.m.store_path(name)) == \
            b"litter " + name.encode()
        assert xattr_errno(share.m.path(name), "user.octofs.status") == \
            errno.ENODATA
        assert not os.path.exists(share.m.path(name + ".url"))
    listed = share.smbd.run("ls")
    assert "photo.png.url" in listed
    assert not [n for n in LITTER if n + ".url" in listed]
    assert presigned(server) == ["photo.png"]


def test_url_read_while_the_upload_runs_is_whole(share, server):
    """A pending NAME.url shows size 0, and smbclient reads no more than
    the size Samba reports once it is open: the open must wait."""
    server.add_fault("put", "delay", seconds=3, count=1)
    share.put("slow.bin", b"slow")
    before = xattr(share.m.path("slow.bin"), "user.octofs.status")
    line = share.get("slow.bin.url")
    url = xattr(share.m.path("slow.bin"))
    assert before in ("queued", "uploading")
    assert line == (url + "\n").encode()
    assert server.fetch(url) == b"slow"
    assert presigned(server) == ["slow.bin"]


def test_without_allow_other_the_share_cannot_be_entered(tmp_path, server):
    """What the recipe says allow_other is for: smbd works as the guest,
    and FUSE lets no one but the mounting user in without it."""
    with samba_share(tmp_path, server, ["url_wait=30"]) as s:
        rc, out = s.smbd.client("ls")
        assert rc != 0 and "NT_STATUS_ACCESS_DENIED" in out, out
        assert "Permission denied" in s.smbd.log()
        assert presigned(server) == []
