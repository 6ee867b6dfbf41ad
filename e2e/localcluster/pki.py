"""Certificates and credentials for the local control plane and its real node."""

import datetime
import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

_VALIDITY = datetime.timedelta(days=365)
_CA = "ferry-local-ca"
# The CN aggregated API servers accept X-Remote-User headers from (--requestheader-allowed-
# names). kubeadm signs it with a CA of its own; here the cluster CA signs it and the allowed
# name keeps every other certificate of that CA from asserting users through the headers.
FRONT_PROXY_CLIENT = "front-proxy-client"


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    ca_key: Path  # kept, so node identities can be issued after the control plane's
    serving_cert: Path
    serving_key: Path
    sa_public_key: Path
    sa_private_key: Path
    token_file: Path
    admin_token: str
    # The apiserver's identity towards kubelets (logs, exec, port-forward).
    kubelet_client_cert: Path
    kubelet_client_key: Path
    # The apiserver's identity towards aggregated APIs (metrics-server): the front proxy.
    front_proxy_client_cert: Path
    front_proxy_client_key: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    return x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    signer: ec.EllipticCurvePrivateKey,
    issuer: str,
    *,
    ca: bool,
    san: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(_name(issuer))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _san(ips: tuple[str, ...], dns: tuple[str, ...]) -> list[x509.GeneralName]:
    return [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips] + [
        x509.DNSName(name) for name in dns
    ]


def create_pki(directory: Path, apiserver_ips: tuple[str, ...]) -> Pki:
    """A CA, an apiserver serving certificate for `apiserver_ips` (the address it listens
    on and the `kubernetes` Service's ClusterIP), its kubelet-client certificate, a
    service-account key pair, an admin token."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate(_name(_CA), ca_key.public_key(), ca_key, _CA, ca=True)
    serving_key = ec.generate_private_key(ec.SECP256R1())
    san = _san(
        tuple(dict.fromkeys(("127.0.0.1", *apiserver_ips))),
        (
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ),
    )
    serving_cert = _certificate(
        _name("kube-apiserver"), serving_key.public_key(), ca_key, _CA, ca=False, san=san
    )
    # Service-account tokens are signed with RSA, which every client library verifies.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    pki = Pki(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        sa_public_key=directory / "sa.pub",
        sa_private_key=directory / "sa.key",
        token_file=directory / "tokens.csv",
        admin_token=secrets.token_urlsafe(32),
        kubelet_client_cert=directory / "apiserver-kubelet-client.crt",
        kubelet_client_key=directory / "apiserver-kubelet-client.key",
        front_proxy_client_cert=directory / f"{FRONT_PROXY_CLIENT}.crt",
        front_proxy_client_key=directory / f"{FRONT_PROXY_CLIENT}.key",
    )
    pki.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pki.ca_key, ca_key)
    pki.serving_cert.write_bytes(serving_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pki.serving_key, serving_key)
    _write_key(pki.sa_private_key, sa_key)
    pki.sa_public_key.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    pki.token_file.write_text(f'{pki.admin_token},admin,admin-uid,"system:masters"\n')
    pki.token_file.chmod(0o600)
    issue(pki, "apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",))
    issue(pki, FRONT_PROXY_CLIENT, FRONT_PROXY_CLIENT)
    return pki


def issue(
    pki: Pki,
    name: str,
    common_name: str,
    organizations: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    dns: tuple[str, ...] = (),
) -> tuple[Path, Path]:
    """A certificate signed by the cluster CA, written as `<name>.crt` and `<name>.key` next
    to it. Client identities are the subject (CN user, O groups); `ips`/`dns` make a serving
    certificate."""
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{pki.ca_key} is not the EC key create_pki writes")
    key = ec.generate_private_key(ec.SECP256R1())
    san = _san(ips, dns) if ips or dns else None
    cert = _certificate(
        _name(common_name, organizations), key.public_key(), ca_key, _CA, ca=False, san=san
    )
    cert_path, key_path = pki.ca_cert.with_name(f"{name}.crt"), pki.ca_cert.with_name(f"{name}.key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key_path, key)
    return cert_path, key_path
