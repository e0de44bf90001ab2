"""The secured local broker: TLS, SASL/SCRAM-SHA-512 users, the standard authorizer.

- One client listener, ``SASL_SSL`` on 127.0.0.1 (no plaintext listener); the broker's own
  connections use it too, as the ``admin`` user, the only super user.
- The KRaft controller listener stays on 127.0.0.1 and authenticates with SASL/PLAIN
  (KRaft controllers cannot use SCRAM: its credentials live in the metadata they serve), as
  ``admin`` as well, so no anonymous connection is ever a super user.
- Users (``admin`` and one per role, ``config/acl.py``) are written into the metadata when
  the storage is formatted (``--add-scram``); their random passwords are kept in one
  credentials file per user, mode 0600, under ``<state>/kafka/secure/credentials/`` in the
  ``SPENDSTREAM_*`` variables a client reads (``set -a; . FILE; set +a``). Passwords are
  never printed or logged; ``server.properties`` holds the admin password and is 0600.
- ``allow.everyone.if.no.acl.found=false``: a principal may do only what an ACL allows.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from config.acl import ROLES
from config.settings import Settings
from config.tls import TlsFiles

ADMIN = "admin"
USERS: tuple[str, ...] = (ADMIN, *ROLES)
MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class Credentials:
    folder: Path

    def file(self, user: str) -> Path:
        return self.folder / f"{user}.env"

    def complete(self) -> bool:
        return all(self.file(user).exists() for user in USERS)

    def password(self, user: str) -> str:
        for line in self.file(user).read_text().splitlines():
            if line.startswith("SPENDSTREAM_SASL_PASSWORD="):
                return line.split("=", 1)[1]
        raise ValueError(f"{self.file(user)} holds no SPENDSTREAM_SASL_PASSWORD")


def ensure_credentials(creds: Credentials, bootstrap: str, ca_file: Path) -> None:
    """Write a credentials file with a new random password for every user that has none; an
    existing file keeps its password and gets the broker's current address and CA file."""
    creds.folder.mkdir(parents=True, exist_ok=True)
    creds.folder.chmod(0o700)
    for user in USERS:
        path = creds.file(user)
        password = creds.password(user) if path.exists() else secrets.token_hex(24)
        body = "\n".join(
            [
                f"# spendstream: the {user!r} user of the local secured broker. Private: keep it 0600.",
                f"SPENDSTREAM_BROKER={bootstrap}",
                "SPENDSTREAM_SECURITY_PROTOCOL=SASL_SSL",
                f"SPENDSTREAM_SASL_MECHANISM={MECHANISM}",
                f"SPENDSTREAM_SASL_USERNAME={user}",
                f"SPENDSTREAM_SASL_PASSWORD={password}",
                f"SPENDSTREAM_SSL_CAFILE={ca_file}",
                "",
            ]
        )
        temp = path.with_suffix(".tmp")
        temp.unlink(missing_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(body)
        temp.replace(path)


def scram_arguments(creds: Credentials) -> list[str]:
    """``--add-scram`` arguments of ``kafka-storage format``: every user and its password."""
    args = []
    for user in USERS:
        args += ["--add-scram", f"{MECHANISM}=[name={user},password={creds.password(user)}]"]
    return args


def server_properties(settings: Settings, data: Path, tls: TlsFiles, creds: Credentials) -> str:
    port, cport = settings.local_broker_port, settings.local_controller_port
    admin_password = creds.password(ADMIN)
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{cport}",
            f"listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
            f"advertised.listeners=SASL_SSL://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=SASL_SSL",
            "listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
            f"sasl.enabled.mechanisms={MECHANISM}",
            f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
            f'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={scram} required username="{ADMIN}" '
            f'password="{admin_password}";',
            "sasl.mechanism.controller.protocol=PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
            f'listener.name.controller.plain.sasl.jaas.config={plain} required username="{ADMIN}" '
            f'password="{admin_password}" user_{ADMIN}="{admin_password}";',
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={tls.broker_keystore}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={tls.ca_cert}",
            "ssl.client.auth=none",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found=false",
            f"super.users=User:{ADMIN}",
        ]
    )


def admin_settings(settings: Settings, tls: TlsFiles, creds: Credentials) -> Settings:
    """The settings of the broker's own admin user (warm-up, topics, ACLs)."""
    return settings.model_copy(
        update={
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": MECHANISM,
            "sasl_username": ADMIN,
            "sasl_password": SecretStr(creds.password(ADMIN)),
            "ssl_cafile": tls.ca_cert,
        }
    )


def describe_users(creds: Credentials) -> str:
    """How clients connect: one line per user and its credentials file (never a password)."""
    lines = [
        f"  {user:<8} {'super user' if user == ADMIN else 'role ' + user:<13} {creds.file(user)}"
        for user in USERS
    ]
    return "\n".join(["users (SASL/SCRAM-SHA-512) and their credentials files (mode 0600):", *lines])
