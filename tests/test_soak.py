"""Soak, short form: five seconds of saves under random upload faults."""
import soak_lib


def test_soak_short(tmp_path):
    soak_lib.run(5, tmp_path / "soak")
