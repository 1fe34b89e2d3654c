"""Mounting octofs for real and looking at it: shared by the pytest
suite (conftest.py) and the soak (soak_lib.py).  No pytest here."""
import gzip
import os
import re
import signal
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OCTOFS = os.environ.get("OCTOFS_BIN") or os.path.join(
    os.path.dirname(HERE), "src", "octofs")

# A runner started in the background by a non-interactive shell (as
# `make check &` is) ignores SIGINT, and so would every daemon it starts
# (an ignored signal stays ignored across exec, and libfuse then leaves
# it alone), so the tests that stop octofs with SIGINT would wait in
# vain.  A handler of our own is reset to the default in each child.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Under ASan and UBSan (contrib/check's sanitizer pass) the daemon runs a
# few times slower and its memory figures mean nothing: OCTOFS_SANITIZED
# says so, and OCTOFS_TIME_FACTOR stretches every bounded wait below.
SANITIZED = bool(os.environ.get("OCTOFS_SANITIZED"))
TIME_FACTOR = max(1.0, float(os.environ.get("OCTOFS_TIME_FACTOR") or 1))


def wait_until(cond, timeout=10.0, what="condition", interval=0.02):
    """Poll cond() until it returns a true value; fail after timeout."""
    timeout *= TIME_FACTOR
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


def kernel_can_pass_through():
    """Root on a kernel built with FUSE passthrough (octofs passthrough=1
    then passes open files through)."""
    if os.geteuid() != 0:
        return False
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            return "CONFIG_FUSE_PASSTHROUGH=y" in f.read()
    except OSError:
        major, minor = os.uname().release.split(".")[:2]
        return (int(major), int(re.sub(r"\D.*", "", minor) or 0)) >= (6, 9)


def _unescape_mountinfo(field):
    return field.encode().decode("unicode_escape")


def read_log(path):
    """The text of the log file at @path; "" before it exists."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def terminate(proc, timeout=10.0):
    """SIGTERM to a process the tests started, SIGKILL if it lingers;
    True when it had to be killed."""
    if not proc or proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
        return False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        return True


def fuse_mounted(path):
    """True when path is the mount point of an octofs filesystem."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            if (_unescape_mountinfo(fields[4]) == path and
                    fields[sep + 1] == "fuse.octofs"):
                return True
    return False


def xattr(path, name="user.octofs.url"):
    return os.getxattr(path, name).decode()


def xattr_errno(path, name):
    try:
        os.getxattr(path, name)
    except OSError as e:
        return e.errno
    return 0


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


class Mount:
    """One octofs process and its mount point."""

    def __init__(self, tmp_path, server, store=None, opts=(), env=None,
                 name="mnt", octofs=None, user=None):
        self.octofs = octofs or OCTOFS
        self.user = user        # a uid to run octofs as (its own group)
        self.tmp = tmp_path
        self.server = server
        self.mnt = str(tmp_path / name)
        self.store = store if store is not None else str(
            tmp_path / (name + "-store"))
        self.opts = list(opts)
        self.extra_env = env or {}
        self.proc = None
        self.log_path = str(tmp_path / (name + ".log"))
        os.makedirs(self.mnt, exist_ok=True)
        if self.store:
            os.makedirs(self.store, exist_ok=True)

    def command(self):
        opts = ["endpoint=" + self.server.url] if self.server else []
        opts += self.opts
        cmd = [self.octofs, "-f"]
        if opts:
            cmd += ["-o", ",".join(opts)]
        if self.store:
            cmd.append(self.store)
        return cmd + [self.mnt]

    def environment(self):
        env = dict(os.environ)
        env["HOME"] = str(self.tmp)
        env["XDG_CONFIG_HOME"] = str(self.tmp / "xdg")
        env.pop("OCTOFS_API_KEY", None)
        if self.server:
            env["OCTOFS_API_KEY"] = self.server.key
        env.update(self.extra_env)
        return {k: v for k, v in env.items() if v is not None}

    def start(self, timeout=10.0):
        log = open(self.log_path, "ab")
        who = {} if self.user is None else {
            "user": self.user, "group": self.user, "extra_groups": []}
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log,
                                     env=self.environment(),
                                     start_new_session=True, **who)
        log.close()
        wait_until(lambda: fuse_mounted(self.mnt) or
                   self.proc.poll() is not None,
                   timeout, "octofs to mount " + self.mnt)
        if not fuse_mounted(self.mnt):
            raise AssertionError("octofs exited with %s: %s"
                                 % (self.proc.returncode, self.log()))
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def exit_reason(self):
        status = self.proc.returncode
        if status < 0:
            return "was killed by signal %d" % -status
        return "exited with status %d" % status

    def log_tail(self, lines=30):
        return "\n".join(self.log().splitlines()[-lines:])

    def log(self):
        return read_log(self.log_path)

    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    def store_path(self, *parts):
        return os.path.join(self.store or self.mnt, *parts)

    def unmount(self):
        """fusermount3 -u, retried while busy; lazy as a last resort."""
        deadline = time.monotonic() + 10 * TIME_FACTOR
        while fuse_mounted(self.mnt):
            res = subprocess.run(["fusermount3", "-u", self.mnt],
                                 capture_output=True)
            if res.returncode == 0:
                break
            if time.monotonic() > deadline:
                subprocess.run(["fusermount3", "-uz", self.mnt],
                               capture_output=True)
                break
            time.sleep(0.1)

    def stop(self, timeout=30.0):
        """Unmount and wait for the process; kill it only if it hangs."""
        self.unmount()
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.wait(timeout * TIME_FACTOR)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError("octofs did not exit after unmount")
        return self.proc.returncode if self.proc else None

    def peak_rss_kib(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return None

    def wait_status(self, path, status, timeout=20.0):
        def current():
            try:
                value = xattr(path, "user.octofs.status")
            except OSError:
                value = None
            return value == status
        wait_until(current, timeout, "%s to be %s (log: %s)"
                   % (path, status, self.log()[-2000:]))


def run_octofs(args, env=None, timeout=20):
    """Run octofs in the foreground for commands that must exit."""
    full_env = dict(os.environ)
    full_env.pop("OCTOFS_API_KEY", None)
    full_env.update(env or {})
    return subprocess.run([OCTOFS] + args, capture_output=True, text=True,
                          env={k: v for k, v in full_env.items()
                               if v is not None},
                          timeout=timeout * TIME_FACTOR,
                          stdin=subprocess.DEVNULL)
