"""`make tls`: a self-signed certificate for the TLS proxy, for a local or trial run.

    python -m deploy.tls [FOLDER] [NAME ...]   # default ./tls, names localhost 127.0.0.1 <this host>

Writes FOLDER/cert.pem and FOLDER/key.pem (the key 0600 from its first byte; an existing pair
is kept unless --force). docker-compose.yml mounts the folder (PLAN_METRICS_TLS_DIR, default
./tls) read-only into the proxy at /etc/plan-metrics/tls/. Browsers warn about a self-signed
certificate: for the office's own, put its certificate chain (server certificate first) in
cert.pem and its key in key.pem instead — see docs/deployment.md ("TLS").
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
import socket
import sys
from pathlib import Path

DAYS = 397  # what browsers accept for a server certificate


def make(folder: Path, names: list[str], force: bool = False) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    if cert_path.exists() and key_path.exists() and not force:
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    sans = []
    for name in dict.fromkeys(names):
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=DAYS))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for path, data, mode in (
        (key_path, pem_key, 0o600),
        (cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644),
    ):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    return cert_path, key_path


def spki_sha256(cert_path: Path) -> str:
    """base64 SHA-256 of the certificate's public key (Chromium's --ignore-certificate-errors-spki-list)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    der = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def main(argv: list[str]) -> int:
    force = "--force" in argv
    args = [a for a in argv if a != "--force"]
    folder = Path(args[0]) if args else Path("tls")
    names = args[1:] or ["localhost", "127.0.0.1", socket.getfqdn()]
    existed = (folder / "cert.pem").exists() and (folder / "key.pem").exists() and not force
    cert, key = make(folder, names, force)
    print(f"{'kept' if existed else 'wrote'} {cert} and {key} (self-signed for {', '.join(names)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
