"""Start, drive and stop contrib/octofs-devserver from the tests."""
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request

from harness import terminate

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.environ.get("OCTOFS_DEVSERVER") or os.path.join(
    os.path.dirname(HERE), "contrib", "octofs-devserver")


class DevServer:
    """One server process on a free loopback port, with its own key."""

    def __init__(self, workdir):
        self.dir = str(workdir)
        os.makedirs(self.dir, exist_ok=True)
        self.key = "sk-test-" + secrets.token_hex(16)
        self.key_file = os.path.join(self.dir, "keys")
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.key + "\n")
        self.port_file = os.path.join(self.dir, "port")
        self.proc = None
        self.port = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def pid(self):
        return self.proc.pid

    def start(self, timeout=10.0, port=0):
        """Start on a free port, or on @port (a restart after stop())."""
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        self.stderr = open(os.path.join(self.dir, "stderr"), "ab")
        python = os.environ.get("PYTHON3") or sys.executable
        self.proc = subprocess.Popen(
            [python, SERVER, "--port", str(port), "--quiet",
             "--port-file", self.port_file,
             "--data", os.path.join(self.dir, "data"),
             "--key-file", self.key_file],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self.stderr)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("devserver did not start: " +
                                   self.errors())
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.port = int(f.read())
        return self

    def errors(self):
        with open(os.path.join(self.dir, "stderr"), errors="replace") as f:
            return f.read()

    def stop(self):
        terminate(self.proc)
        if getattr(self, "stderr", None):
            self.stderr.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data,
                                     method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    def add_fault(self, op, action, **params):
        rule = dict(params, op=op, action=action)
        self._call("POST", "/_dev/faults", {"rules": [rule]})

    def clear_faults(self):
        self._call("DELETE", "/_dev/faults")

    def log(self, op=None):
        reqs = self._call("GET", "/_dev/log")["requests"]
        return [r for r in reqs if op is None or r["op"] == op]

    def clear_log(self):
        self._call("DELETE", "/_dev/log")

    def objects(self):
        objs = self._call("GET", "/_dev/objects")["objects"]
        return {o["object_key"]: o for o in objs}

    def presign_count(self, file_name=None):
        return len([r for r in self.log("presign")
                    if file_name is None or r["file_name"] == file_name])

    def fetch(self, url):
        with urllib.request.urlopen(url, timeout=60) as resp:
            return resp.read()
