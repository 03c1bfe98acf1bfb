"""Namespace facts: container labels from cgroup text, container detection, inode links."""

import pytest

from portdoctor.facts.namespaces import container_from_cgroup, detect_container, namespace_inode

ID = "3f2a1b4c5d6e" + "a" * 52


@pytest.mark.parametrize("cgroup, label", [
    (f"0::/system.slice/docker-{ID}.scope\n", "docker:3f2a1b4c5d6e"),  # cgroup v2, systemd driver
    (f"12:memory:/docker/{ID}\n11:cpu:/docker/{ID}\n", "docker:3f2a1b4c5d6e"),  # cgroup v1
    (f"0::/machine.slice/libpod-{ID}.scope/container\n", "podman:3f2a1b4c5d6e"),
    (f"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1_2.slice/cri-containerd-{ID}.scope\n",
     "kubernetes:3f2a1b4c5d6e"),
    ("0::/user.slice/user-1000.slice/session-2.scope\n", None),
    ("0::/\n", None),
    ("", None),
])
def test_container_from_cgroup(cgroup, label):
    assert container_from_cgroup(cgroup) == label


def test_detect_container_markers(tmp_path):
    assert detect_container(str(tmp_path)) is None
    (tmp_path / "proc" / "1").mkdir(parents=True)
    (tmp_path / "proc" / "1" / "cgroup").write_text(f"0::/system.slice/docker-{ID}.scope\n")
    assert detect_container(str(tmp_path)) == "docker"
    (tmp_path / "proc" / "1" / "cgroup").write_text("0::/\n")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".containerenv").write_text("")
    assert detect_container(str(tmp_path)) == "podman"
    (tmp_path / ".dockerenv").write_text("")
    assert detect_container(str(tmp_path)) == "docker"


def test_namespace_inode():
    assert namespace_inode("net:[4026531840]") == 4026531840
    assert namespace_inode("mnt:[4026531840]") is None
