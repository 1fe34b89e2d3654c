"""Soak test: a steady stream of saves into octofs while uploads fail.

A writer saves a new file every 50 ms (1 byte to 256 KiB, random bytes;
some saves overwrite an earlier name) while the development server fails
30% of presigns (503) and 30% of PUTs (500) and cuts 5% of PUT
connections in the middle of the body.  Then the faults are cleared and,
once every file is done, each file is checked: status, no error, the URL
in the xattr and in NAME.url, and the bytes served at that URL.  The
daemon must still be running, exit 0 after fusermount3 -u, and log no
error, warning or sanitizer report.

Used by tests/soak (the command) and tests/test_soak.py (the short form
in the pytest suite).  Standard library only.
"""
import errno
import hashlib
import http.client
import os
import pathlib
import random
import re
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from devserver import DevServer  # noqa: E402
from harness import OCTOFS, Mount  # noqa: E402

WRITE_INTERVAL_S = 0.05
MAX_SIZE = 256 * 1024
# Size classes: class k holds sizes 2^(k-1)..2^k; its name ends in .kNN so
# that a PUT fault can match the class in the object key.
SIZE_CLASSES = range(1, 19)
OVERWRITE_SHARE = 0.1
RECENT_NAMES = 10
FAIL_PROBABILITY = 0.3
CUT_PROBABILITY = 0.05
MOUNT_OPTS = ("url_wait=30", "retry_min_ms=50", "retry_max_ms=1000",
              "timeout=5")
MOUNT_TIMEOUT_S = 10
EXIT_TIMEOUT_S = 30
POLL_S = 0.1
MAX_REPORTED = 20
BAD_LOG_LINE = re.compile(r"^octofs: (error|warn): |ERROR|Sanitizer|"
                          r"runtime error:")


class SoakFailure(AssertionError):
    """The soak found a problem; the message says what and where."""


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class Daemon(Mount):
    """octofs in the foreground over workdir/mnt-store at workdir/mnt."""

    def __init__(self, octofs, workdir, server):
        super().__init__(pathlib.Path(workdir), server, opts=MOUNT_OPTS,
                         name="mnt", octofs=octofs)

    def start(self):
        if not os.access(self.octofs, os.X_OK):
            raise SoakFailure("octofs binary not found or not executable: "
                              + self.octofs)
        return super().start(MOUNT_TIMEOUT_S)

    def cleanup(self):
        """Whatever happened: unmounted, and the process gone."""
        try:
            self.stop(EXIT_TIMEOUT_S)
        except AssertionError:
            pass


def control(server, call, *args, **kwargs):
    """A call to the server's control API; SoakFailure if it fails."""
    try:
        return call(*args, **kwargs)
    except OSError as e:
        state = ("still running" if server.proc.poll() is None else
                 "exited with %s" % server.proc.returncode)
        raise SoakFailure("development server (pid %d, %s): %s failed: %s"
                          % (server.pid, state, call.__name__, e))


def add_faults(server):
    """Random 503s on presign, 500s and cut bodies on PUT, forever."""
    for k in SIZE_CLASSES:
        # Cut after about half of a file of class k (sizes 2^(k-1)..2^k).
        control(server, server.add_fault, "put", "cut",
                after_bytes=(3 << k) // 8, match=".k%02d" % k,
                probability=CUT_PROBABILITY, count=-1)
    control(server, server.add_fault, "put", "status", status=500,
            probability=FAIL_PROBABILITY, count=-1)
    control(server, server.add_fault, "presign", "status", status=503,
            probability=FAIL_PROBABILITY, count=-1)


def size_class_of(name):
    return int(name.rsplit(".k", 1)[1])


def random_size(rng, k):
    return rng.randint(1 << (k - 1), min(1 << k, MAX_SIZE))


class Writer:
    """Saves files into the mount; remembers each name's newest bytes."""

    def __init__(self, daemon, rng):
        self.daemon = daemon
        self.rng = rng
        self.names = []
        self.expected = {}
        self.writes = 0
        self.overwrites = 0
        self.bytes = 0

    def pick(self):
        rng = self.rng
        if self.names and rng.random() < OVERWRITE_SHARE:
            self.overwrites += 1
            if rng.random() < 0.5:
                return rng.choice(self.names[-RECENT_NAMES:])
            return rng.choice(self.names)
        k = rng.choice(SIZE_CLASSES)
        name = "f%05d.k%02d" % (len(self.names), k)
        self.names.append(name)
        return name

    def save_one(self):
        name = self.pick()
        data = self.rng.randbytes(random_size(self.rng, size_class_of(name)))
        try:
            with open(self.daemon.path(name), "wb") as f:
                f.write(data)
        except OSError as e:
            raise SoakFailure("saving %s (%d bytes) failed: %s\nlog:\n%s"
                              % (name, len(data), e,
                                 self.daemon.log_tail()))
        self.expected[name] = sha256(data)
        self.writes += 1
        self.bytes += len(data)

    def run(self, duration):
        start = time.monotonic()
        i = 0
        while i * WRITE_INTERVAL_S < duration:
            delay = start + i * WRITE_INTERVAL_S - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if not self.daemon.alive():
                raise SoakFailure("octofs %s while files were being "
                                  "saved (after %d saves)\nlog:\n%s"
                                  % (self.daemon.exit_reason(), self.writes,
                                     self.daemon.log_tail()))
            self.save_one()
            i += 1
        return time.monotonic() - start


def status_of(path):
    try:
        return os.getxattr(path, "user.octofs.status").decode()
    except OSError as e:
        return "<%s>" % errno.errorcode.get(e.errno, e.errno)


def error_of(path):
    try:
        return os.getxattr(path, "user.octofs.error").decode()
    except OSError as e:
        if e.errno == errno.ENODATA:
            return None
        return "<%s>" % errno.errorcode.get(e.errno, e.errno)


def drain(daemon, names, timeout):
    """Wait for every file to be done or failed.

    Returns (not done at the start, seconds taken, {name: status} of the
    files that are not done when the wait ends).
    """
    start = time.monotonic()
    pending = set(names)
    left_at_start = None
    while True:
        states = {n: status_of(daemon.path(n)) for n in pending}
        pending = {n for n, s in states.items() if s not in ("done",
                                                               "failed")}
        if left_at_start is None:
            left_at_start = len(pending)
        if (not pending or time.monotonic() - start > timeout or
                not daemon.alive()):
            break
        time.sleep(POLL_S)
    bad = {n: s for n, s in ((n, status_of(daemon.path(n))) for n in names)
           if s != "done"}
    return left_at_start, time.monotonic() - start, bad


def check_file(daemon, server, name, want):
    """The URL of one done file and a list of problems with it."""
    path = daemon.path(name)
    problems = []
    err = error_of(path)
    if err is not None:
        problems.append("%s: user.octofs.error is %r" % (name, err))
    try:
        url = os.getxattr(path, "user.octofs.url").decode()
    except OSError as e:
        return None, problems + ["%s: no user.octofs.url: %s"
                                 % (name, e)]
    try:
        with open(path + ".url", "rb") as f:
            sibling = f.read()
    except OSError as e:
        sibling = ("<%s>" % e).encode()
    if sibling != (url + "\n").encode():
        problems.append("%s: %s.url holds %r, the xattr says %r"
                        % (name, name, sibling, url))
    try:
        with open(path, "rb") as f:
            local = sha256(f.read())
    except OSError as e:
        local = "<%s>" % e
    if local != want:
        problems.append("%s: reading it through the mount gives other "
                        "bytes than were saved" % name)
    try:
        served = sha256(server.fetch(url))
    except (OSError, http.client.HTTPException) as e:
        return url, problems + ["%s: GET %s failed: %s" % (name, url, e)]
    if served != want:
        problems.append("%s: %s serves other bytes than the file's newest "
                        "content (sha256 %s, want %s)"
                        % (name, url, served, want))
    return url, problems


def check_files(daemon, server, expected, skip):
    problems = []
    urls = {}
    for name in sorted(expected):
        if name in skip:
            continue
        url, found = check_file(daemon, server, name, expected[name])
        problems += found
        if url in urls:
            problems.append("%s and %s share the URL %s"
                            % (urls[url], name, url))
        if url:
            urls[url] = name
    return problems


def log_problems(log):
    return ["octofs log: " + line for line in log.splitlines()
            if BAD_LOG_LINE.search(line)]


def count(entries, **match):
    return len([e for e in entries
                if all(e.get(k) == v for k, v in match.items())])


def server_counts(server):
    reqs = control(server, server.log)
    return {
        "presigns": count(reqs, op="presign"),
        "presign_503": count(reqs, op="presign", fault="status"),
        "presign_ok": count(reqs, op="presign", status=200),
        "puts": count(reqs, op="put"),
        "put_500": count(reqs, op="put", fault="status"),
        "put_cut": count(reqs, op="put", fault="cut"),
        "put_ok": count(reqs, op="put", status=200),
        "other": count(reqs, op="other"),
    }


def print_summary(out, writer, write_s, counts, drained, log):
    def p(fmt, *args):
        print("soak: " + fmt % args, file=out)

    p("%d saves in %.1fs: %d files, %d overwrites, %.1f MiB",
      writer.writes, write_s, len(writer.expected), writer.overwrites,
      writer.bytes / (1 << 20))
    p("presigns: %d (%d injected 503, %d answered 200)",
      counts["presigns"], counts["presign_503"], counts["presign_ok"])
    p("PUTs: %d (%d injected 500, %d cut mid-body, %d stored)",
      counts["puts"], counts["put_500"], counts["put_cut"],
      counts["put_ok"])
    p("injected faults: %d", counts["presign_503"] + counts["put_500"] +
      counts["put_cut"])
    if counts["other"]:
        p("requests to unknown paths: %d", counts["other"])
    p("daemon: %d uploads, %d retries logged",
      log.count("octofs: uploaded "), log.count("; retrying in "))
    left, drain_s, still = drained
    p("drain: %d files not done when the faults were cleared; %s",
      left, "%d still not done after %.1fs" % (still, drain_s) if still
      else "all done in %.1fs" % drain_s)
    out.flush()


def soak(duration, daemon, server, rng, drain_timeout, out):
    """The soak proper; returns a list of problems."""
    daemon.start()
    add_faults(server)
    writer = Writer(daemon, rng)
    print("soak: saving a file every %d ms for %gs into %s"
          % (WRITE_INTERVAL_S * 1000, duration, daemon.mnt), file=out,
          flush=True)
    write_s = writer.run(duration)
    control(server, server.clear_faults)
    left, drain_s, bad = drain(daemon, writer.expected, drain_timeout)
    problems = []
    for name in sorted(bad):
        problems.append("%s: status %s after waiting %.0fs%s"
                        % (name, bad[name], drain_s,
                           ", error %r" % error_of(daemon.path(name))
                           if bad[name] == "failed" else ""))
    if daemon.alive():
        problems += check_files(daemon, server, writer.expected, bad)
    else:
        problems.append("octofs %s before the checks"
                        % daemon.exit_reason())
    counts = server_counts(server)
    if daemon.alive():
        if daemon.stop() != 0:
            problems.append("octofs %s after fusermount3 -u"
                            % daemon.exit_reason())
    log = daemon.log()
    problems += log_problems(log)
    print_summary(out, writer, write_s, counts,
                  (left, drain_s, len(bad)), log)
    return problems


def stop_all(daemon, server):
    """Unmount, end octofs, stop the server; Ctrl-C waits until done."""
    signals = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        daemon.cleanup()
        server.stop()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def run(duration, workdir, octofs=None, drain_timeout=120.0, seed=None,
        out=None):
    """Run the soak in workdir; SoakFailure describes what went wrong.

    Always unmounts and stops the daemon and the server it started.
    """
    out = out or sys.stdout
    if seed is None:
        seed = random.SystemRandom().randrange(1 << 32)
    print("soak: seed %d, work directory %s" % (seed, workdir), file=out)
    server = DevServer(os.path.join(str(workdir), "server"))
    daemon = Daemon(octofs or OCTOFS, workdir, server)
    try:
        try:
            server.start()
        except RuntimeError as e:
            raise SoakFailure(str(e))
        problems = soak(duration, daemon, server,
                        random.Random(seed), drain_timeout, out)
    finally:
        stop_all(daemon, server)
    if problems:
        shown = problems[:MAX_REPORTED]
        if len(problems) > len(shown):
            shown.append("... and %d more" % (len(problems) - len(shown)))
        raise SoakFailure("%d problems:\n%s\nlog tail:\n%s"
                          % (len(problems), "\n".join(shown),
                             daemon.log_tail()))
    print("soak: OK", file=out)
