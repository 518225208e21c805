"""`cpack -G DEB` in the build tree makes a memrun .deb holding the host, the
CLI, libmemrun, the headers and the systemd unit; its binaries start from
wherever the package is unpacked, with no LD_LIBRARY_PATH (install RPATH)."""
import os
import pathlib
import subprocess
import sys
import tempfile

from common import ROOT, check, need

build_dir, cpack = sys.argv[1], sys.argv[2]
dpkg_deb = need("dpkg-deb")
need("dpkg-shlibdeps")  # CPack's dependency list comes from it

with tempfile.TemporaryDirectory() as tmp:
    tmp = pathlib.Path(tmp)
    r = subprocess.run([cpack, "-G", "DEB", "-B", str(tmp / "out")], cwd=build_dir, capture_output=True,
                       text=True, timeout=600)
    print(r.stdout[-2000:], r.stderr[-2000:])
    check(r.returncode == 0, f"cpack exit {r.returncode}")
    debs = list((tmp / "out").glob("memrun_*.deb"))
    check(len(debs) == 1, f"one memrun_*.deb, found {debs}")
    listing = subprocess.run([dpkg_deb, "-c", str(debs[0])], capture_output=True, text=True, check=True).stdout
    files = {line.split()[5].lstrip(".") for line in listing.splitlines()}
    expected = ["/usr/bin/memrun-host", "/usr/bin/memrun", "/usr/lib/libmemrun.so.0",
                "/usr/include/memrun/plugin.h", "/usr/include/memrun/worker.hpp",
                "/usr/lib/cmake/memrun/memrunConfig.cmake", "/usr/lib/pkgconfig/memrun.pc",
                "/usr/lib/systemd/system/memrun-host@.service", "/usr/lib/sysusers.d/memrun.conf",
                "/usr/share/doc/memrun/deploying.md"]
    for f in expected:
        check(f in files, f"{f} in the package")

    root = tmp / "root"
    subprocess.run([dpkg_deb, "-x", str(debs[0]), str(root)], check=True)
    unit = (root / "usr/lib/systemd/system/memrun-host@.service").read_text()
    check(unit == (ROOT / "deploy/systemd/memrun-host@.service").read_text(), "the unit shipped is deploy/systemd's")
    check("ExecStart=/usr/bin/memrun-host " in unit, "the unit runs the packaged host")
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    for exe in ("memrun-host", "memrun"):
        path = root / "usr/bin" / exe
        ldd = subprocess.run(["ldd", str(path)], capture_output=True, text=True, env=env).stdout
        line = next((l for l in ldd.splitlines() if "libmemrun.so" in l), "")
        check(str(root / "usr/lib/libmemrun.so.0") in line.replace("/bin/../lib/", "/lib/"),
              f"{exe} finds the packaged libmemrun through its RPATH: {line.strip()}")
        r = subprocess.run([str(path), "--help"], capture_output=True, text=True, env=env, timeout=60)
        check(r.returncode == 0, f"{exe} --help from the unpacked package: exit {r.returncode} {r.stderr}")

    control = tmp / "control"
    subprocess.run([dpkg_deb, "-e", str(debs[0]), str(control)], check=True)
    check("systemd-sysusers memrun.conf" in (control / "postinst").read_text(), "postinst creates the memrun user")
    fields = subprocess.run([dpkg_deb, "-f", str(debs[0]), "Depends"], capture_output=True, text=True).stdout
    check("librdkafka" in fields and "systemd" in fields, f"Depends names librdkafka and systemd: {fields}")
print("Debian package OK")
