"""A private CA and the local broker's TLS certificate, made once with ``openssl``.

``openssl`` ships with every Debian/Ubuntu machine and macOS (the JDK's ``keytool`` cannot
sign a certificate with a CA of its own without a second tool), and Kafka reads PEM files
directly (``ssl.keystore.type=PEM``), so no Java keystore is involved. The certificate
names ``127.0.0.1`` and ``localhost``: clients verify the broker's name as well as its CA.
Private keys are created with mode 0600 and never leave the folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_CA_DAYS = "3650"
_CERT_DAYS = "825"  # the longest validity clients accept for a server certificate
_BROKER_EXTENSIONS = """basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
"""


class TlsError(RuntimeError):
    """The CA or the broker certificate could not be made; the message says why."""


@dataclass(frozen=True)
class TlsFiles:
    folder: Path

    @property
    def ca_cert(self) -> Path:
        """The CA certificate clients trust (SPENDSTREAM_SSL_CAFILE); public."""
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def broker_keystore(self) -> Path:
        """The broker's private key followed by its certificate (Kafka's PEM keystore)."""
        return self.folder / "broker-keystore.pem"

    def complete(self) -> bool:
        return self.ca_cert.exists() and self.broker_keystore.exists()


def ensure_certificates(folder: Path) -> TlsFiles:
    """Make the CA and the broker's key and certificate in ``folder`` unless they exist."""
    files = TlsFiles(folder)
    if files.complete():
        return files
    openssl = shutil.which("openssl")
    if not openssl:
        raise TlsError("`openssl` was not found on PATH: install it (e.g. `apt-get install openssl`)")
    folder.mkdir(parents=True, exist_ok=True)  # readable: clients of other users need ca.pem
    key, csr, cert, ext = (folder / name for name in ("broker.key", "broker.csr", "broker.pem", "broker.ext"))
    ext.write_text(_BROKER_EXTENSIONS)
    old_umask = os.umask(0o077)  # keys are born private, not chmod-ed after the fact
    try:
        _run(
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", _CA_DAYS,
            "-keyout", str(files.ca_key), "-out", str(files.ca_cert), "-subj", "/CN=spendstream local CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
        _run(
            openssl, "req", "-newkey", "rsa:2048", "-nodes", "-sha256",
            "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost",
        )  # fmt: skip
        _run(
            openssl, "x509", "-req", "-sha256", "-days", _CERT_DAYS, "-in", str(csr),
            "-CA", str(files.ca_cert), "-CAkey", str(files.ca_key), "-CAcreateserial",
            "-extfile", str(ext), "-out", str(cert),
        )  # fmt: skip
        files.broker_keystore.write_bytes(key.read_bytes() + cert.read_bytes())
    finally:
        os.umask(old_umask)
    files.ca_cert.chmod(0o644)
    for leftover in (key, csr, ext, folder / "ca.srl"):
        leftover.unlink(missing_ok=True)
    return files


def _run(*cmd: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise TlsError(f"`{' '.join(cmd[:3])} ...` failed:\n{result.stderr[-2000:]}")
