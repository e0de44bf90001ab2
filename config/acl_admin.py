"""Apply ACLs to a cluster through the Kafka admin API (CreateAcls).

aiokafka 0.14's ``AIOKafkaAdminClient`` has no ``create_acls`` method, but its protocol
package has the request (``CreateAclsRequest``, one rule per request, versions negotiated
with the broker); it is sent through the admin client's connection. CreateAcls is
idempotent: a rule the cluster already has is accepted again and stays one rule.
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import CreateAclsRequest

from config.acl import Acl
from config.kafka import client_options
from config.settings import Settings

# Kafka's wire codes (org.apache.kafka.common.{resource,acl}).
_RESOURCE_TYPES = {"TOPIC": 2, "GROUP": 3, "CLUSTER": 4, "TRANSACTIONAL_ID": 5}
_PATTERN_TYPES = {"LITERAL": 3, "PREFIXED": 4}
_OPERATIONS = {
    "ALL": 2, "READ": 3, "WRITE": 4, "CREATE": 5, "DELETE": 6, "ALTER": 7, "DESCRIBE": 8,
    "CLUSTER_ACTION": 9, "DESCRIBE_CONFIGS": 10, "ALTER_CONFIGS": 11, "IDEMPOTENT_WRITE": 12,
}  # fmt: skip
_ALLOW = 3
_ANY_HOST = "*"


class AclError(RuntimeError):
    """The cluster refused a rule (or could not be reached); the message names it."""


def create_request(acl: Acl) -> CreateAclsRequest:
    return CreateAclsRequest(
        resource_type=_RESOURCE_TYPES[acl.resource_type],
        resource_name=acl.resource_name,
        resource_pattern_type_filter=_PATTERN_TYPES[acl.pattern_type],
        principal=acl.principal,
        host=_ANY_HOST,
        operation=_OPERATIONS[acl.operation],
        permission_type=_ALLOW,
    )


async def apply_acls(settings: Settings, acls: list[Acl]) -> int:
    """Create every rule on the cluster of ``settings`` (as its principal). Returns the count."""
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=15_000)
    try:
        await admin.start()
        for acl in acls:
            # No public method sends CreateAcls (see the module docstring).
            response = await admin._send_request(create_request(acl))
            for code, message in response.creation_responses:
                if code:
                    error = for_code(code)
                    raise AclError(
                        f"the cluster refused {acl.operation} on {acl.resource_type} {acl.resource_name} "
                        f"for {acl.principal}: {error.__name__}{f' ({message})' if message else ''}"
                    )
    finally:
        await admin.close()
    return len(acls)
