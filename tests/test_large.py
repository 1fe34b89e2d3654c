"""A large file: streamed, identical bytes, bounded daemon memory."""
import hashlib
import os
import shutil
import subprocess

import pytest

from conftest import xattr
from harness import SANITIZED

GIB = 1024 * 1024 * 1024
RSS_LIMIT_KIB = 64 * 1024


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@pytest.fixture
def big_files(tmp_path, server):
    """Its three gibibytes (the source, the stored copy, the server's
    object) go when the test ends, pass or fail: pytest keeps the last
    three runs' directories."""
    yield tmp_path / "big.bin"
    for path in (tmp_path / "big.bin", tmp_path / "mnt0-store" / "big.bin"):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    shutil.rmtree(os.path.join(server.dir, "data"), ignore_errors=True)


def test_one_gib_file(server, mounts, big_files):
    src = big_files
    with open(src, "wb") as f:
        block = os.urandom(1 << 20)
        for i in range(GIB >> 20):
            f.write(block[i % 256:] + block[:i % 256])
    m = mounts(server, opts=["url_wait=600"])
    subprocess.run(["cp", str(src), m.path("big.bin")], check=True)
    url = xattr(m.path("big.bin"))
    key = os.getxattr(m.path("big.bin"), "user.octofs.key").decode()
    obj = server.objects()[key]
    assert obj["size"] == GIB
    assert obj["sha256"] == sha256_file(src)
    assert url.endswith(key)
    if SANITIZED:
        pytest.skip("peak RSS not checked: ASan's shadow memory and "
                    "quarantine make it meaningless")
    rss = m.peak_rss_kib()
    print("octofs peak RSS for a 1 GiB upload: %d KiB" % rss)
    assert rss < RSS_LIMIT_KIB
