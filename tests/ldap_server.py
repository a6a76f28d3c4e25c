"""A real OpenLDAP server for the directory tests: Debian's ``slapd`` with its own configuration
and database in a temporary folder, on a free loopback port, no system service (as the
PostgreSQL tests do with ``initdb``). The city hall's directory: people under
``ou=people``, groups (``groupOfNames``, ``member``) under ``ou=groups``."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SUFFIX = "dc=um,dc=example,dc=pl"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "directory-admin-secret"  # noqa: S105 - a throwaway test server's own password
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SLAPADD = shutil.which("slapadd") or "/usr/sbin/slapadd"


def person(uid: str, name: str, email: str, password: str) -> str:
    surname = name.split()[-1]
    return (
        f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {name}\nsn: {surname}\n"
        f"mail: {email}\nuserPassword: {password}\n\n"
    )


def group(cn: str, members: list[str]) -> str:
    lines = "".join(f"member: uid={m},{PEOPLE}\n" for m in members)
    return f"dn: cn={cn},{GROUPS}\nobjectClass: groupOfNames\ncn: {cn}\n{lines}\n"


class LdapServer:
    def __init__(self, entries: str) -> None:
        if not Path(SLAPD).exists():
            raise RuntimeError("slapd is not installed (Debian: apt-get install slapd ldap-utils)")
        self.folder = Path(tempfile.mkdtemp(prefix="docctl-ldap-"))
        (self.folder / "data").mkdir()
        self.port = _free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        config = self.folder / "slapd.conf"
        config.write_text(
            "\n".join(
                [
                    *(f"include /etc/ldap/schema/{s}.schema" for s in ("core", "cosine", "inetorgperson", "nis")),
                    f"pidfile {self.folder}/slapd.pid",
                    "modulepath /usr/lib/ldap",
                    "moduleload back_mdb",
                    "database mdb",
                    f"suffix {SUFFIX}",
                    f"rootdn {ADMIN_DN}",
                    f"rootpw {ADMIN_PASSWORD}",
                    f"directory {self.folder}/data",
                    "maxsize 10485760",
                    "access to attrs=userPassword by self write by anonymous auth by * none",
                    "access to * by * read",
                    "",
                ]
            )
        )
        base = (
            f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: um\no: Urzad Miasta\n\n"
            f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n"
            f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n\n"
        )
        load = subprocess.run(
            [SLAPADD, "-f", str(config), "-b", SUFFIX], input=base + entries, capture_output=True, text=True
        )
        if load.returncode:
            raise RuntimeError(f"slapadd failed: {load.stderr.strip()[-500:]}")
        self.config = config
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [SLAPD, "-f", str(self.config), "-h", self.url + "/", "-d", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("slapd did not start listening")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
