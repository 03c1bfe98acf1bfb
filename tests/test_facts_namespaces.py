"""Namespace facts: container labels from cgroup text, container detection, inode links."""

import os
import sys

import pytest

from portdoctor.facts.namespaces import container_evidence, container_from_cgroup, detect_container, namespace_inode

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
    (tmp_path / ".dockerenv").write_text("")
    # Marker files alone are not evidence: this very kind of VM carries /.dockerenv.
    (tmp_path / "proc" / "self").mkdir()
    host_root = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
    (tmp_path / "proc" / "self" / "mountinfo").write_text(host_root)
    assert detect_container(str(tmp_path)) is None
    overlay_root = "600 500 0:52 / / rw,relatime - overlay overlay rw,lowerdir=/a,upperdir=/b,workdir=/c\n"
    (tmp_path / "proc" / "self" / "mountinfo").write_text(overlay_root)
    assert detect_container(str(tmp_path)) == "docker"  # the marker corroborates an overlay root


@pytest.mark.parametrize("mountinfo, kind", [
    (f"610 600 254:0 /var/lib/docker/containers/{ID}/hostname /etc/hostname rw - ext4 /dev/vda rw\n", "docker"),
    (f"610 600 254:0 /home/u/.local/share/docker/containers/{ID}/resolv.conf /etc/resolv.conf rw - ext4 /dev/sda rw\n",
     "docker"),
    (f"610 600 0:40 /containers/storage/overlay-containers/{ID}/userdata/hosts /etc/hosts rw - tmpfs tmpfs rw\n",
     "podman"),
    ("610 600 254:0 /var/lib/kubelet/pods/0a1b2c3d-0a1b-0a1b-0a1b-0a1b2c3d4e5f/etc-hosts /etc/hosts rw - ext4 x rw\n",
     "kubernetes"),
])
def test_detect_container_from_engine_mounts(tmp_path, mountinfo, kind):
    (tmp_path / "proc" / "self").mkdir(parents=True)
    (tmp_path / "proc" / "self" / "mountinfo").write_text(mountinfo)
    assert detect_container(str(tmp_path)) == kind


def test_detect_container_from_pid1_environment(tmp_path):
    (tmp_path / "proc" / "1").mkdir(parents=True)
    (tmp_path / "proc" / "1" / "environ").write_text("PATH=/bin\0container=podman\0HOME=/\0")
    kind, why = container_evidence(str(tmp_path))
    assert kind == "podman" and "container=podman" in why


def test_namespace_inode():
    assert namespace_inode("net:[4026531840]") == 4026531840
    assert namespace_inode("mnt:[4026531840]") is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="setns is Linux's")
def test_setns_through_ctypes_reports_the_c_errno():
    """The ctypes-free setns (Python 3.11) returns -1 and leaves errno for a bad descriptor,
    and _enter_network_namespace turns that into an OSError, as ctypes.CDLL would."""
    import _ctypes
    import errno

    from portdoctor.facts.namespaces import _enter_network_namespace, _setns

    assert _setns(-1, 0x40000000) == -1
    assert _ctypes.get_errno() == errno.EBADF
    with pytest.raises(OSError):
        _enter_network_namespace("/dev/null")  # a file, not a namespace: EINVAL (os.setns on 3.12)


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/proc/self/ns/net"), reason="joining a namespace needs root")
def test_joining_our_own_namespace_works():
    import threading

    from portdoctor.facts.namespaces import _enter_network_namespace

    errors = []

    def join():  # in a thread, as the namespace scan does, so the test's thread stays where it is
        try:
            _enter_network_namespace("/proc/self/ns/net")
        except OSError as exc:
            errors.append(exc)

    t = threading.Thread(target=join)
    t.start()
    t.join()
    assert errors == []
