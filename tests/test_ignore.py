"""Ignored names: stored, never uploaded; renamed into a real name, they
are uploaded once, under that name."""
import errno
import hashlib
import os

import pytest

from conftest import xattr, xattr_errno, write_file, read_file

DEFAULT_IGNORED = [
    "notes.txt~", ".notes.txt.swp", ".notes.txt.swx", "movie.mkv.part",
    "setup.exe.crdownload", "scratch.tmp", ".~lock.report.odt#",
    ".goutputstream-AB12CD", ".photo.jpg.Xy12Zq", ".octofs-anything",
    # what file-sharing clients (Samba, netatalk) leave beside real files
    "._photo.jpg", ".DS_Store", "Thumbs.db", "desktop.ini", "~$report.docx",
]


def assert_never_uploaded(m, server, name, data):
    assert read_file(m.path(name)) == data
    assert read_file(m.store_path(name)) == data
    assert xattr_errno(m.path(name), "user.octofs.status") == errno.ENODATA
    assert xattr_errno(m.path(name), "user.octofs.url") == errno.ENODATA
    assert not os.path.exists(m.path(name + ".url"))


def test_default_ignored_names_are_stored_not_uploaded(server, mounts):
    m = mounts(server, opts=["url_wait=30", "settle=0"])
    os.makedirs(m.path("sub", "deeper"))
    for name in DEFAULT_IGNORED:
        write_file(m.path(name), b"temp " + name.encode())
        write_file(m.path("sub", "deeper", name), b"deep " + name.encode())
    # A real file written last: once it is done, any upload of the
    # ignored ones would have been presigned before it.
    write_file(m.path("real.txt"), b"real")
    assert server.fetch(xattr(m.path("real.txt"))) == b"real"
    for name in DEFAULT_IGNORED:
        assert_never_uploaded(m, server, name, b"temp " + name.encode())
        assert_never_uploaded(m, server, os.path.join("sub", "deeper", name),
                              b"deep " + name.encode())
    assert [r["file_name"] for r in server.log("presign")] == ["real.txt"]


def test_names_like_client_litter_are_uploaded(server, mounts):
    m = mounts(server, opts=["url_wait=30", "settle=0"])
    names = ["~report.txt", "$report.txt", "_photo.jpg", "x._photo.jpg",
             "DS_Store", "Thumbs.db.png", "mydesktop.ini"]
    for name in names:
        write_file(m.path(name), name.encode())
    for name in names:
        assert server.fetch(xattr(m.path(name))) == name.encode()
    assert sorted(r["file_name"] for r in server.log("presign")) == \
        sorted(names)


@pytest.mark.parametrize("temp, final", [
    ("report.pdf.part", "report.pdf"),
    ("report.pdf.crdownload", "report.pdf"),
    (".goutputstream-QW12ER", "report.pdf"),
    (".report.pdf.a1B2c3", "report.pdf"),
    ("report.tmp", "report.pdf"),
])
def test_temp_then_rename_uploads_once_under_final_name(server, mounts,
                                                        temp, final):
    m = mounts(server, opts=["url_wait=30"])
    data = os.urandom(4096)
    write_file(m.path(temp), data)
    os.rename(m.path(temp), m.path(final))
    assert server.fetch(xattr(m.path(final))) == data
    assert [r["file_name"] for r in server.log("presign")] == [final]
    assert not os.path.exists(m.path(temp + ".url"))


def test_rename_over_uploaded_file_gives_new_url(server, mounts):
    m = mounts(server, opts=["url_wait=30"])
    write_file(m.path("doc.txt"), b"version 1")
    old_url = xattr(m.path("doc.txt"))
    write_file(m.path(".doc.txt.swp"), b"version 2")
    os.rename(m.path(".doc.txt.swp"), m.path("doc.txt"))
    new_url = xattr(m.path("doc.txt"))
    assert new_url != old_url
    assert server.fetch(new_url) == b"version 2"
    assert server.fetch(old_url) == b"version 1"
    assert read_file(m.path("doc.txt.url")) == (new_url + "\n").encode()


def test_custom_ignore_list_replaces_defaults(server, mounts):
    m = mounts(server, opts=["url_wait=30", "settle=0",
                             "ignore=*.log:build-*"])
    write_file(m.path("server.log"), b"log")
    write_file(m.path("build-42.tar"), b"artifact")
    write_file(m.path(".octofs-state"), b"always ignored")
    write_file(m.path("notes.txt~"), b"no longer ignored")
    assert server.fetch(xattr(m.path("notes.txt~"))) == b"no longer ignored"
    assert_never_uploaded(m, server, "server.log", b"log")
    assert_never_uploaded(m, server, "build-42.tar", b"artifact")
    assert_never_uploaded(m, server, ".octofs-state", b"always ignored")
    assert [r["file_name"] for r in server.log("presign")] == ["notes.txt~"]


def test_matching_is_on_the_basename(server, mounts):
    m = mounts(server, opts=["url_wait=30", "ignore=*.log"])
    os.makedirs(m.path("x.log"))
    write_file(m.path("x.log", "kept.txt"), b"in a dir named like a log")
    assert server.fetch(xattr(m.path("x.log", "kept.txt"))) == \
        b"in a dir named like a log"


def test_bad_ignore_glob_is_a_mount_error(tmp_path, server):
    from conftest import Mount
    m = Mount(tmp_path, server, opts=["ignore=ok:"], name="bad")
    with pytest.raises(AssertionError) as e:
        m.start()
    assert "ignore=" in str(e.value)


@pytest.mark.parametrize("ahead", [0, 1])
def test_renamed_to_ignored_name_carries_no_state(server, mounts, ahead):
    m = mounts(server, opts=["url_wait=30", "settle=2000",
                             "presign_ahead=%d" % ahead])
    write_file(m.path("done.txt"), b"uploaded")
    url = xattr(m.path("done.txt"))
    os.rename(m.path("done.txt"), m.path("done.txt~"))
    assert_never_uploaded(m, server, "done.txt~", b"uploaded")
    assert server.fetch(url) == b"uploaded"      # the object stays
    # Still settling: the upload to come is cancelled, not made under the
    # ignored name.
    write_file(m.path("pending.txt"), b"not yet")
    os.rename(m.path("pending.txt"), m.path("pending.txt~"))
    write_file(m.path("last.txt"), b"last")
    assert server.fetch(xattr(m.path("last.txt"))) == b"last"
    assert_never_uploaded(m, server, "pending.txt~", b"not yet")
    assert not [o for o in server.objects().values()
                if o["sha256"] == hashlib.sha256(b"not yet").hexdigest()]
    # Asked ahead while it was written, its name may have been presigned
    # (nothing was sent); with presign_ahead=0 it never reaches the server.
    names = sorted(r["file_name"] for r in server.log("presign"))
    if ahead and "pending.txt" in names:
        names.remove("pending.txt")
    assert names == ["done.txt", "last.txt"]


def test_hard_link_under_a_real_name_keeps_state(server, mounts):
    m = mounts(server, opts=["url_wait=30"])
    write_file(m.path("a.txt"), b"linked")
    url = xattr(m.path("a.txt"))
    os.link(m.path("a.txt"), m.path("b.txt"))
    os.rename(m.path("a.txt"), m.path("a.txt~"))
    assert xattr(m.path("b.txt")) == url
