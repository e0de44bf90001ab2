"""``spendstream broker start|stop|status``: the local single-node Kafka."""

from __future__ import annotations

import argparse
import sys

from config import broker
from config.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "broker",
        help="start, stop or inspect the local Kafka broker",
        description=(
            f"Manage a local Apache Kafka {broker.KAFKA_VERSION} broker (KRaft, one node, 127.0.0.1) "
            "whose jars Maven resolves from Maven Central into SPENDSTREAM_STATE_DIR. Needs Java 17+ "
            "and Maven. When SPENDSTREAM_BROKER is set, nothing is started or stopped."
        ),
    )
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument(
        "--secure",
        action="store_true",
        help=(
            "the secured broker (also SPENDSTREAM_LOCAL_BROKER_SECURE=1): TLS + SASL/SCRAM-SHA-512 only, "
            "a CA and users made under SPENDSTREAM_STATE_DIR/kafka/secure, per-role ACLs for "
            "SPENDSTREAM_TOPIC_PREFIX; start prints the CA file and each user's credentials file, "
            "never a password"
        ),
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.secure:
        settings = settings.model_copy(update={"local_broker_secure": True})
    try:
        if args.action == "start":
            print(broker.start(settings).describe())
        elif args.action == "stop":
            stopped = broker.stop(settings)
            print(
                "local Kafka stopped"
                if stopped
                else "no local Kafka started from this state folder was running"
            )
        else:
            current = broker.status(settings)
            print(current.describe())
            return 0 if current.running else 3
    except broker.BrokerError as exc:
        print(f"spendstream broker: {exc}", file=sys.stderr)
        return 1
    return 0
