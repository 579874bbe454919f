"""torch's threads: --threads / train.threads, else the cores the affinity mask and the cgroup quota allow."""

import pytest
import torch

from hardness.config import load_config
from hardness.engine import threads
from hardness.errors import UserError


@pytest.mark.parametrize("text, cpus", [("200000 100000", 2.0), ("150000 100000\n", 1.5), ("max 100000", None),
                                        ("", None), ("x y", None), ("0 100000", None)])
def test_parse_cpu_max(text, cpus):
    assert threads.parse_cpu_max(text) == cpus


def test_available_cores_is_the_affinity_capped_by_the_quota(monkeypatch, tmp_path):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5}, raising=False)
    quota = tmp_path / "cpu.max"
    monkeypatch.setattr(threads, "CPU_MAX", quota)
    quota.write_text("250000 100000\n")
    assert threads.available_cores() == 3  # 2.5 CPUs of quota: three threads keep them busy
    quota.write_text("max 100000\n")
    assert threads.available_cores() == 6
    quota.write_text("50000 100000\n")
    assert threads.available_cores() == 1


def test_cgroup_v1_quota(monkeypatch, tmp_path):
    monkeypatch.setattr(threads, "CPU_MAX", tmp_path / "absent")
    files = (tmp_path / "quota", tmp_path / "period")
    monkeypatch.setattr(threads, "CFS_QUOTA", files)
    files[0].write_text("400000\n")
    files[1].write_text("100000\n")
    assert threads.cgroup_cpus() == 4.0
    files[0].write_text("-1\n")
    assert threads.cgroup_cpus() is None


def test_set_threads_prefers_the_request_then_the_environment_then_the_default(monkeypatch):
    previous = torch.get_num_threads()
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    try:
        assert threads.set_threads(None) == 2 == torch.get_num_threads()
        assert threads.set_threads(None, default=1) == 1 == torch.get_num_threads()
        assert threads.set_threads(3, default=1) == 3 == torch.get_num_threads()
        monkeypatch.setenv("OMP_NUM_THREADS", "4")
        assert threads.set_threads(None, default=1) == 4 and threads.set_threads(3) == 3
        monkeypatch.setenv("OMP_NUM_THREADS", "many")
        assert threads.set_threads(None) == 2
    finally:
        torch.set_num_threads(previous)


def test_threads_config_is_positive_and_not_part_of_resume_keys():
    from hardness.studies.common.session import resume_key

    assert load_config(None, ["train.threads=4"]).train.threads == 4
    with pytest.raises(UserError, match="train.threads"):
        load_config(None, ["train.threads=0"])
    assert resume_key(load_config(None, ["train.threads=4"])) == resume_key(load_config(None, []))
