"""make install DESTDIR=... puts each piece where its program looks."""
import os
import subprocess

BUILDDIR = os.environ.get("OCTOFS_BUILDDIR") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))

EXPECTED = {
    "bin/octofs", "bin/octofs-devserver", "bin/octofs-status",
    "bin/octofs-copy-url", "bin/octofs-notify", "share/man/man1/octofs.1",
    "lib/systemd/user/octofs@.service",
    "lib/systemd/user/octofs-notify@.service",
    "share/bash-completion/completions/octofs",
    "share/kio/servicemenus/octofs-copy-url.desktop",
    "share/octofs/nautilus/nautilus-copy-octofs-url",
}
EXECUTABLE = {p for p in EXPECTED if p.startswith("bin/")} | {
    "share/octofs/nautilus/nautilus-copy-octofs-url"}


def test_make_install_destdir(tmp_path):
    dest = tmp_path / "dest"
    res = subprocess.run(["make", "-s", "-C", BUILDDIR, "install",
                          "DESTDIR=%s" % dest], capture_output=True,
                         text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stdout + res.stderr
    installed = {os.path.relpath(os.path.join(d, f), dest)
                 for d, _, files in os.walk(dest) for f in files}
    prefixes = {p.split("/bin/octofs")[0] for p in installed
                if p.endswith("/bin/octofs")}
    assert len(prefixes) == 1, installed
    prefix = prefixes.pop()
    assert installed == {os.path.join(prefix, p) for p in EXPECTED}
    for p in EXECUTABLE:
        assert os.access(dest / prefix / p, os.X_OK), p
    version = subprocess.run([str(dest / prefix / "bin/octofs"),
                              "--version"], capture_output=True, text=True,
                             timeout=30)
    assert version.returncode == 0 and version.stdout.startswith("octofs ")
