"""HTTPS for the simulated web: a throwaway CA and certificate, and the listener's settings.

Real-form AMP cache URLs (`https://127-0-0-X.cdn.ampproject.org/c/...`) are answered by a TLS
listener whose certificate names AMP_CACHE_NAMES; the client trusts the CA and pins the names to
the listener's address, so no name is ever looked up.
"""

from __future__ import annotations

import hashlib
import shutil
import ssl
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class TlsSite:
    """One HTTPS listener: the same answers as the plain ones, for any Host header."""

    ip: str
    port: int  # 443 for real-form URLs (they carry no port); 0 picks a free one
    cert: Path  # PEM certificate chain
    key: Path  # PEM private key


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca: Path  # the throwaway CA's certificate: what a client must trust
    cert: Path  # the server certificate, signed by the CA
    key: Path  # its private key


def make_certificates(directory: Path, names: Sequence[str], days: int = 7) -> TlsFiles:
    """A throwaway CA and a server certificate for `names` (DNS names, `*.` wildcards allowed),
    written with the openssl command line into `directory`. Raises RuntimeError without it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is not installed: cannot make TLS certificates")
    if not names:
        raise ValueError("a certificate needs at least one name")
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    ca_key, csr, ext = directory / "ca.key", directory / "server.csr", directory / "server.ext"
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
        f"subjectAltName={','.join(f'DNS:{n}' for n in names)}\n",
        encoding="utf-8",
    )
    commands = [
        [openssl, "req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(files.ca),
         "-days", str(days), "-subj", "/CN=simweb throwaway CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-addext", "subjectKeyIdentifier=hash"],
        [openssl, "req", *ec, "-keyout", str(files.key), "-out", str(csr),
         "-subj", f"/CN={names[0].removeprefix('*.')}"],
        [openssl, "x509", "-req", "-in", str(csr), "-CA", str(files.ca), "-CAkey", str(ca_key),
         "-set_serial", str(int.from_bytes(hashlib.sha256(str(directory).encode()).digest()[:8])),
         "-days", str(days), "-out", str(files.cert), "-extfile", str(ext)],
    ]  # fmt: skip
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:3])} failed: {done.stderr.strip()[-500:]}")
    return files


def server_ssl_context(site: TlsSite) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(site.cert, site.key)
    return context
