"""Certificates for the TLS tests, made with the openssl command in a temporary directory:
a CA, a server certificate for localhost / 127.0.0.1 / ::1, client certificates whose
common names are user names, a second CA nobody trusts, and an expired client certificate."""
import os
import shutil
import subprocess
from pathlib import Path

import harness as h


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class Certs:
    def __init__(self):
        self.dir = h.make_dir("pgfj-certs-")
        d = self.dir
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
                 "-days", "30", "-subj", "/CN=pgfjord test CA", cwd=d)
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other-ca.key",
                 "-out", "other-ca.crt", "-days", "30", "-subj", "/CN=untrusted CA", cwd=d)
        self.server = self.issue("server", "localhost",
                                 "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1")
        # A certificate for another name: verify-full against it must fail.
        self.wrong_host = self.issue("wronghost", "elsewhere.invalid", "subjectAltName=DNS:elsewhere.invalid")
        self.untrusted_client = self.issue("untrusted", "trustuser", None, ca="other-ca")
        self.expired_client = self.issue("expired", "trustuser", None, days=-1)
        # The pooler (and PostgreSQL) read these as the service user; client keys stay ours,
        # as libpq wants them owned by whoever connects.
        for f in d.iterdir():
            os.chmod(f, 0o600)
            if h.IS_ROOT and f.name.split(".")[0] in ("ca", "other-ca", "server", "wronghost"):
                uid, gid = h.service_ids()
                os.chown(f, uid, gid)
        os.chmod(d, 0o755)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return str(Path(self.dir) / name)

    def issue(self, name, cn, ext, ca="ca", days=30):
        d = self.dir
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={cn}", cwd=d)
        args = ["x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-out", f"{name}.crt"]
        args += ["-days", str(days)]  # -1: it ended a day before it began, i.e. expired
        if ext:
            ext_file = Path(d) / f"{name}.ext"
            ext_file.write_text(ext + "\n")
            args += ["-extfile", str(ext_file)]
        _openssl(*args, cwd=d)
        return (self.path(f"{name}.crt"), self.path(f"{name}.key"))

    def client(self, cn):
        """(cert, key) for a client certificate with this common name, made on first use."""
        name = f"client-{cn}"
        if not (Path(self.dir) / f"{name}.crt").exists():
            self.issue(name, cn, None)
            for suffix in (".crt", ".key"):
                os.chmod(Path(self.dir) / f"{name}{suffix}", 0o600)
        return (self.path(f"{name}.crt"), self.path(f"{name}.key"))

