"""The appliance image in qemu, for tools/image-test and tools/image-update-test.

Owns starting qemu (q35, UEFI from OVMF, TCG: this machine has no KVM) with the two NICs at
the PCI slots the image expects, the serial console in a file, QMP for the power button,
and reading the image's boot report lines from that console. Checks nothing itself: each
test says what it expects.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST_PACKAGES = ["qemu-system-x86", "qemu-utils", "ovmf"]
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
# The NICs' PCI slots and MACs: the image names the port at 00:03.0 lan0 and the one at
# 00:04.0 axis0 (image/build-image --lan-pci/--axis-pci defaults).
LAN_MAC = "52:54:00:d0:c0:01"
AXIS_MAC = "52:54:00:d0:c0:02"
REPORT_PREFIX = "docgate-boot-report:"
# What docgate-boot-fallback prints when it marks the running slot bad.
FALLBACK_PREFIX = "docgate-boot-fallback:"


class TestFailure(Exception):
    """A check failed; the message says which and what was seen."""


def log(name, message):
    print(f"{name}: {message}", file=sys.stderr, flush=True)


def install_host_packages(packages=HOST_PACKAGES):
    """Like tools/test.sh: install what is missing when root on Debian."""
    missing = [
        package
        for package in packages
        if "install ok installed"
        not in subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
        ).stdout
    ]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise TestFailure(f"missing Debian packages {' '.join(missing)}: install them (as root)")
    environment = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", *missing],
        check=True,
        env=environment,
        stdout=subprocess.DEVNULL,
    )


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Machine:
    """One qemu machine on a copy-on-write disk over `image`, in `scratch`.

    `forwards` maps guest LAN ports to host ports on 127.0.0.1. With `axis_network` false
    the dedicated network has DHCP and no way out; true lets the guest reach the host's
    loopback at 10.0.3.2 (where a test axis can listen).
    """

    def __init__(self, scratch, image, forwards, smp=1, disk_size="4G", axis_network=False,
                 reboot=False):
        self.scratch = scratch
        self.serial_log = scratch / "serial.log"
        self.qmp_socket = scratch / "qmp.sock"
        shutil.copyfile(OVMF_VARS, scratch / "OVMF_VARS.fd")
        self.disk = scratch / "disk.qcow2"
        # Copy-on-write over the image: the image stays as built, the guest sees a larger disk.
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(image),
             str(self.disk), disk_size],
            check=True,
        )
        lan_forwards = ",".join(
            f"hostfwd=tcp:127.0.0.1:{host}-:{guest}" for guest, host in forwards.items()
        )
        restrict = "off" if axis_network else "on"
        self.command = [
            "qemu-system-x86_64",
            "-machine", "q35",
            "-m", "1024",
            "-accel", "tcg",
            "-smp", str(smp),
            "-display", "none",
            "-monitor", "none",
            "-serial", f"file:{self.serial_log}",
            "-qmp", f"unix:{self.qmp_socket},server=on,wait=off",
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,unit=1,file={scratch / 'OVMF_VARS.fd'}",
            "-drive", f"if=none,id=disk,format=qcow2,file={self.disk}",
            "-device", "virtio-blk-pci,drive=disk,addr=0x5",
            # LAN: the host reaches the status page (and sshd) through forwarded ports.
            "-netdev", f"user,id=lan,net=10.0.2.0/24,{lan_forwards}",
            "-device", f"virtio-net-pci,netdev=lan,mac={LAN_MAC},addr=0x3",
            # Dedicated network.
            "-netdev", f"user,id=axis,net=10.0.3.0/24,restrict={restrict}",
            "-device", f"virtio-net-pci,netdev=axis,mac={AXIS_MAC},addr=0x4",
        ]
        if not reboot:
            # A kernel panic reboots (panic=10); stop there rather than boot again.
            self.command.append("-no-reboot")
        self.process = None

    def start(self):
        self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL)
        self.started = time.monotonic()

    def check_alive(self):
        if self.process.poll() is not None:
            raise TestFailure(f"qemu exited with status {self.process.returncode} before the checks were done")

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def serial_text(self):
        return self.serial_log.read_text(errors="replace") if self.serial_log.exists() else ""

    def serial_tail(self, lines=80):
        if not self.serial_log.exists():
            return "(no serial log)"
        return "\n".join(self.serial_text().splitlines()[-lines:])

    def reports(self, prefix=REPORT_PREFIX):
        """Every boot report (or other `prefix` line) on the console so far, oldest first,
        as dicts."""
        found = []
        for line in self.serial_text().splitlines():
            if prefix in line:
                fields = line.split(prefix, 1)[1].split()
                found.append(dict(field.split("=", 1) for field in fields if "=" in field))
        return found

    def wait_for_report(self, deadline, number=1, prefix=REPORT_PREFIX):
        """The `number`th boot report (or `prefix` line; counting from 1), once it is on the
        console."""
        while time.monotonic() < deadline:
            self.check_alive()
            reports = self.reports(prefix)
            if len(reports) >= number:
                return reports[number - 1]
            time.sleep(2)
        raise TestFailure(f"line number {number} starting '{prefix}' did not come before the timeout")

    def power_off(self, timeout=180):
        """Presses the virtual power button (ACPI) and waits for qemu to exit 0."""
        started = time.monotonic()
        with socket.socket(socket.AF_UNIX) as qmp:
            qmp.settimeout(10)
            qmp.connect(str(self.qmp_socket))
            stream = qmp.makefile("rw")
            stream.readline()  # the greeting
            for command in ("qmp_capabilities", "system_powerdown"):
                stream.write(json.dumps({"execute": command}) + "\n")
                stream.flush()
                while True:  # skip asynchronous events until the command's answer
                    answer = json.loads(stream.readline())
                    if "return" in answer or "error" in answer:
                        break
                if "error" in answer:
                    raise TestFailure(f"QMP {command} failed: {answer['error']}")
        try:
            status = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure(f"the guest did not power off within {timeout} s of the ACPI power button")
        if status != 0:
            raise TestFailure(f"qemu exited with status {status} after the power button")
        return time.monotonic() - started


def http(method, url, body=None, headers=None, timeout=10):
    """(status, body bytes, headers) of one request, or None while nothing answers."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read(), answer.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        # qemu's user network accepts on the host side before the guest listens, then drops.
        return None


def wait_for_http(machine, url, deadline, accept=lambda answer: True):
    """Polls GET url until it answers and `accept(answer)` holds; returns the answer."""
    last = None
    while time.monotonic() < deadline:
        machine.check_alive()
        answer = http("GET", url)
        if answer is not None:
            last = answer
            if accept(answer):
                return answer
        time.sleep(2)
    seen = f"{last[0]} {last[1][:300]!r}" if last else "nothing"
    raise TestFailure(f"GET {url} did not answer as expected before the timeout (last: {seen})")
