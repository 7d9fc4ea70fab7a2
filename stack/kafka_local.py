"""A single-node Apache Kafka 4.x broker in KRaft combined mode, from Maven Central jars."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from stack.settings import KAFKA_CONTROLLER_PORT, REPO_ROOT
from stack.tls import TlsFiles
from streams.retry import wait_until

POM = REPO_ROOT / "stack" / "kafka" / "pom.xml"
DEPENDENCY_PLUGIN = "2.8"  # the version Maven 3.8 binds by default
LOG4J_CONFIG = REPO_ROOT / "stack" / "kafka" / "log4j2.properties"


def ensure_jars(home: Path) -> Path:
    """Copy the broker and its runtime dependencies into `home/lib` once per pom version."""
    from stack.components import StackError

    lib = home / "lib"
    stamp = lib / ".pom-sha256"
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("mvn not found (needed once to fetch the Kafka jars)",
                         "install it: apt-get install maven")
    # The plugin is named in full, so Maven needs no plugin-prefix metadata lookup; a
    # registry hiccup gets two more tries before the stack gives up.
    argv = [mvn, "-q", "-B", "-f", str(POM),
            f"org.apache.maven.plugins:maven-dependency-plugin:{DEPENDENCY_PLUGIN}:copy-dependencies",
            f"-DoutputDirectory={lib}", "-DincludeScope=runtime"]
    failures: list[str] = []

    def resolved_or_given_up() -> bool:
        if lib.exists():
            shutil.rmtree(lib)
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            failures.append("mvn did not finish within 900 s")
            return len(failures) >= 3
        if result.returncode == 0:
            return True
        failures.append((result.stdout + result.stderr)[-2000:])
        return len(failures) >= 3

    wait_until(resolved_or_given_up, 3 * 900, interval_s=5)  # up to three tries, 5 s apart
    if len(failures) >= 3:
        raise StackError("Maven could not resolve the Kafka broker jars (3 tries):\n" + failures[-1],
                         "check that Maven Central is reachable (mvn -v; ~/.m2/settings.xml)")
    stamp.write_text(digest)
    return lib


def write_config(home: Path, bootstrap: str, tls: TlsFiles | None = None) -> Path:
    """server.properties; with `tls`, both listeners (clients' and the controller's) speak
    only TLS and demand a client certificate from our CA."""
    host, port = bootstrap.rsplit(":", 1)
    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    props = home / "server.properties"
    protocol = "SSL" if tls else "PLAINTEXT"
    props.write_text(
        "# Written by `stride stack up` on every start; edit stack/kafka_local.py instead.\n"
        "process.roles=broker,controller\n"
        "node.id=1\n"
        f"controller.quorum.bootstrap.servers={host}:{KAFKA_CONTROLLER_PORT}\n"
        f"listeners={protocol}://{host}:{port},CONTROLLER://{host}:{KAFKA_CONTROLLER_PORT}\n"
        f"advertised.listeners={protocol}://{host}:{port}\n"
        "controller.listener.names=CONTROLLER\n"
        f"inter.broker.listener.name={protocol}\n"
        f"listener.security.protocol.map={protocol}:{protocol},CONTROLLER:{protocol}\n"
        + (_ssl_properties(home, tls) if tls else "") +
        f"log.dirs={data}\n"
        # One broker: internal topics cannot have more replicas than brokers.
        "offsets.topic.replication.factor=1\n"
        "transaction.state.log.replication.factor=1\n"
        "transaction.state.log.min.isr=1\n"
        "share.coordinator.state.topic.replication.factor=1\n"
        "share.coordinator.state.topic.min.isr=1\n"
        "group.initial.rebalance.delay.ms=0\n"
        # Topics are created explicitly (streams/topics.py), never by a typo.
        "auto.create.topics.enable=false\n"
        "log.retention.hours=168\n"
    )
    return props


def _ssl_properties(home: Path, tls: TlsFiles) -> str:
    """Kafka 4 reads PEM directly: a keystore file holding the key (PKCS#8) and its chain."""
    keystore = home / "broker-keystore.pem"
    keystore.unlink(missing_ok=True)
    fd = os.open(keystore, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(tls.key.read_bytes() + tls.cert.read_bytes())
    return (
        "ssl.keystore.type=PEM\n"
        f"ssl.keystore.location={keystore}\n"
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={tls.ca}\n"
        "ssl.client.auth=required\n"
        "ssl.enabled.protocols=TLSv1.3,TLSv1.2\n"
        # The broker checks the controller's certificate names 127.0.0.1, as clients do.
        "ssl.endpoint.identification.algorithm=https\n"
    )


def random_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def ensure_formatted(java: str, lib: Path, props: Path, home: Path) -> None:
    """Format the log directory once (standalone KRaft controller); later starts reuse it."""
    from stack.components import StackError

    if (home / "data" / "meta.properties").exists():
        return
    result = subprocess.run(
        [java, "-cp", f"{lib}/*", "kafka.tools.StorageTool", "format",
         "-t", random_cluster_id(), "-c", str(props), "--standalone"],
        capture_output=True, text=True, timeout=120,
    )
    if result.returncode != 0:
        raise StackError("formatting the Kafka log directory failed:\n"
                         + (result.stdout + result.stderr)[-2000:],
                         f"remove {home / 'data'} and run `stride stack up` again")


def broker_argv(java: str, lib: Path, props: Path, heap_mb: int) -> list[str]:
    return [java, f"-Xmx{heap_mb}m", f"-Xms{min(heap_mb, 128)}m",
            "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "-cp", f"{lib}/*", "kafka.Kafka", str(props)]
