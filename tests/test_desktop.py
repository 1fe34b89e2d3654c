"""Desktop helpers: octofs-copy-url, the Nautilus script, the Dolphin
service menu and the bash completion."""
import configparser
import os
import re
import subprocess
import sys

from conftest import OCTOFS, session_env, write_file

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COPY_URL = os.path.join(TOP, "contrib", "octofs-copy-url")
NAUTILUS = os.path.join(TOP, "contrib", "desktop",
                        "nautilus-copy-octofs-url")
DOLPHIN = os.path.join(TOP, "contrib", "desktop", "octofs-copy-url.desktop")
COMPLETION = os.path.join(TOP, "contrib", "completion", "octofs")


def fake_clipboard(tmp_path, name):
    """A @name on PATH that keeps what it is given in a file."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    os.symlink(COPY_URL, bindir / "octofs-copy-url")
    kept = tmp_path / "clipboard"
    tool = bindir / name
    tool.write_text("#!/bin/sh\ncat > '%s'\n" % kept)
    tool.chmod(0o755)
    return bindir, kept


def run(cmd, env):
    return subprocess.run(cmd, capture_output=True, text=True, env=env,
                          timeout=60, stdin=subprocess.DEVNULL)


def test_copy_url_on_wayland_and_x11(mnt, server, tmp_path):
    for name in ("a.txt", "b.txt"):
        write_file(mnt.path(name), name.encode())
    urls = [os.getxattr(mnt.path(n), "user.octofs.url").decode()
            for n in ("a.txt", "b.txt")]
    bindir, kept = fake_clipboard(tmp_path, "wl-copy")
    res = run([sys.executable, COPY_URL, mnt.path("a.txt"),
               mnt.path("b.txt")], session_env(bindir, WAYLAND_DISPLAY="w"))
    assert res.returncode == 0, res.stderr
    assert kept.read_text() == "\n".join(urls)
    assert res.stdout == "\n".join(urls) + "\n"
    os.makedirs(tmp_path / "x")
    bindir, kept = fake_clipboard(tmp_path / "x", "xclip")
    res = run([sys.executable, COPY_URL, mnt.path("a.txt")],
              session_env(bindir, DISPLAY=":9"))
    assert res.returncode == 0, res.stderr
    assert kept.read_text() == urls[0]


def test_copy_url_says_why_not(mnt, server, tmp_path):
    server.add_fault("presign", "status", status=403, message="not here",
                     match="bad")
    write_file(mnt.path("bad.txt"), b"b")
    mnt.wait_status(mnt.path("bad.txt"), "failed")
    bindir, kept = fake_clipboard(tmp_path, "wl-copy")
    env = session_env(bindir, WAYLAND_DISPLAY="w")
    res = run([sys.executable, COPY_URL, mnt.path("bad.txt")], env)
    assert res.returncode == 1
    assert "upload failed" in res.stderr and "not here" in res.stderr
    assert not kept.exists()
    plain = tmp_path / "plain.txt"
    plain.write_text("p")
    res = run([sys.executable, COPY_URL, str(plain)], env)
    assert res.returncode == 1 and "no URL" in res.stderr
    write_file(mnt.path("ok.txt"), b"ok")
    os.getxattr(mnt.path("ok.txt"), "user.octofs.url")
    res = run([sys.executable, COPY_URL, mnt.path("ok.txt")],
              session_env(bindir))
    assert res.returncode == 1 and "no clipboard" in res.stderr
    assert res.stdout.startswith(server.url)


def test_nautilus_script(mnt, server, tmp_path):
    for name in ("a b.txt", "c.txt"):
        write_file(mnt.path(name), b"x")
    urls = [os.getxattr(mnt.path(n), "user.octofs.url").decode()
            for n in ("a b.txt", "c.txt")]
    bindir, kept = fake_clipboard(tmp_path, "wl-copy")
    env = session_env(bindir, WAYLAND_DISPLAY="w")
    env["NAUTILUS_SCRIPT_SELECTED_FILE_PATHS"] = "%s\n%s\n" % (
        mnt.path("a b.txt"), mnt.path("c.txt"))
    res = run(["/bin/sh", NAUTILUS], env)
    assert res.returncode == 0, res.stderr
    assert kept.read_text() == "\n".join(urls)


def test_dolphin_service_menu():
    menu = configparser.ConfigParser(interpolation=None)
    menu.optionxform = str
    menu.read(DOLPHIN)
    entry = menu["Desktop Entry"]
    assert entry["Type"] == "Service"
    assert "KonqPopupMenu/Plugin" in entry["X-KDE-ServiceTypes"]
    action = menu["Desktop Action %s" % entry["Actions"].strip(";")]
    assert action["Exec"] == "octofs-copy-url %F"


def complete(words):
    script = ('source "%s"; COMP_WORDS=(%s); COMP_CWORD=%d; _octofs; '
              'printf "%%s\\n" "${COMPREPLY[@]}"' % (
                  COMPLETION, " ".join("'%s'" % w for w in words),
                  len(words) - 1))
    res = subprocess.run(["bash", "-c", script], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


def test_completion_knows_every_option():
    helptext = subprocess.run([OCTOFS, "--help"], capture_output=True,
                              text=True, timeout=30).stdout
    options = set(re.findall(r"-o (\w+)=", helptext))
    assert len(options) > 10
    offered = complete(["octofs", "-o", ""])
    assert options <= {o.rstrip("=") for o in offered}
    assert complete(["octofs", "-o", "jobs=4,url_f"]) == [
        "jobs=4,url_files="]
    assert complete(["octofs", "-o", "log_level=d"]) == ["log_level=debug"]
    assert "--version" in complete(["octofs", "--v"])
