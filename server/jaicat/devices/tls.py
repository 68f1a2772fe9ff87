"""HTTPS for the LAN: a local certificate authority (made once) and a server certificate it signs.

The phone trusts the CA once (downloaded from `/ca.crt`, see docs/HTTPS.md); the server certificate
names the machine's LAN addresses, 127.0.0.1, localhost and `<host>.local`, and is re-issued when
those change or it nears expiry. Keys are EC P-256, files in `<data_dir>/certs/` (keys mode 0600).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
CERT_DAYS = 397  # iOS refuses server certificates valid for longer than 398 days
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass
class CertPaths:
    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path


def cert_paths(data_dir: Path) -> CertPaths:
    d = Path(data_dir) / "certs"
    return CertPaths(d / "ca.crt", d / "ca.key", d / "server.crt", d / "server.key")


def lan_addresses() -> list[str]:
    """IPv4 addresses of this machine other than loopback (best effort, no network traffic)."""
    addrs: set[str] = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            addrs.add(info[4][0])
    except OSError:
        pass
    try:  # the address used for the default route; connect() on UDP sends nothing
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            addrs.add(s.getsockname()[0])
    except OSError:
        pass
    return sorted(a for a in addrs if not a.startswith("127."))


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def ensure_ca(paths: CertPaths) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    if paths.ca_cert.is_file() and paths.ca_key.is_file():
        cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), None)
        return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Jaicat local CA ({socket.gethostname()})"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Jaicat")])
    now = _now()
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, encipher_only=False,
                                     decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(paths.ca_key, _key_pem(key))
    paths.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def wanted_names(extra_hosts: list[str] | None = None) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) the server certificate must cover."""
    host = socket.gethostname().split(".")[0]
    dns = sorted({"localhost", f"{host}.local", host})
    ips = {"127.0.0.1", *lan_addresses()}
    for h in extra_hosts or []:
        try:
            ipaddress.ip_address(h)
            if h not in ("0.0.0.0", "::"):
                ips.add(h)
        except ValueError:
            dns.append(h)
    return sorted(set(dns)), sorted(ips)


def _covers(cert: x509.Certificate, dns: list[str], ips: list[str]) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have_dns = set(san.get_values_for_type(x509.DNSName))
    have_ips = {str(i) for i in san.get_values_for_type(x509.IPAddress)}
    return set(dns) <= have_dns and set(ips) <= have_ips


def ensure_server_cert(data_dir: Path, extra_hosts: list[str] | None = None) -> CertPaths:
    """Create the CA if needed and a server certificate for this machine's current names."""
    paths = cert_paths(data_dir)
    ca_cert, ca_key = ensure_ca(paths)
    dns, ips = wanted_names(extra_hosts)
    if paths.cert.is_file() and paths.key.is_file():
        cert = x509.load_pem_x509_certificate(paths.cert.read_bytes())
        if cert.not_valid_after_utc - RENEW_BEFORE > _now() and _covers(cert, dns, ips):
            return paths
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    san = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{dns[0]}")]))
        .issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(paths.key, _key_pem(key))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return paths


def ca_fingerprint(data_dir: Path) -> str | None:
    """SHA-256 fingerprint of the CA (for checking on the phone), or None if there is no CA yet."""
    p = cert_paths(data_dir).ca_cert
    if not p.is_file():
        return None
    cert = x509.load_pem_x509_certificate(p.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()
