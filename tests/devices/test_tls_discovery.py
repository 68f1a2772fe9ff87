"""The local CA and server certificate; the zeroconf announcement on loopback."""

from __future__ import annotations

import ipaddress
import socket
import stat

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from jaicat.devices import tls


def test_server_certificate_is_signed_by_the_ca_and_names_this_machine(tmp_path):
    paths = tls.ensure_server_cert(tmp_path)
    ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    cert = x509.load_pem_x509_certificate(paths.cert.read_bytes())
    ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    assert cert.issuer == ca.subject
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = san.get_values_for_type(x509.DNSName)
    assert "localhost" in dns and f"{socket.gethostname().split('.')[0]}.local" in dns
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 398  # iOS limit
    for key in (paths.key, paths.ca_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_certificates_are_made_once_and_reissued_for_new_names(tmp_path):
    first = tls.ensure_server_cert(tmp_path)
    ca_bytes, cert_bytes = first.ca_cert.read_bytes(), first.cert.read_bytes()
    again = tls.ensure_server_cert(tmp_path)
    assert again.ca_cert.read_bytes() == ca_bytes and again.cert.read_bytes() == cert_bytes
    tls.ensure_server_cert(tmp_path, extra_hosts=["jaicat.example"])
    assert first.ca_cert.read_bytes() == ca_bytes  # the phone's trust survives
    cert = x509.load_pem_x509_certificate(first.cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "jaicat.example" in san.get_values_for_type(x509.DNSName)
    assert tls.ca_fingerprint(tmp_path).count(":") == 31


def test_zeroconf_announces_on_loopback_only_where_asked():
    from jaicat.devices.discovery import Announcement, discover

    ann = Announcement("127.0.0.1", 18787, True, "0123456789abcdef")
    try:
        found = discover(timeout=2, interfaces=["127.0.0.1"])
    finally:
        ann.close()
    mine = [s for s in found if s["id"] == "0123456789abcdef"]
    assert mine and mine[0]["url"] == "https://127.0.0.1:18787" and mine[0]["api"] == "/api"
