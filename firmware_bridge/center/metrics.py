"""The bridge's Prometheus metrics: module constants, low-cardinality labels (never a member)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_RECEIVED = Counter(
    "fablab_mqtt_messages_received_total", "Canonical MQTT messages the bridge received", ["kind"]
)
MESSAGES_DROPPED = Counter(
    "fablab_mqtt_messages_dropped_total", "MQTT messages the bridge dropped, by why", ["reason"]
)
EVENTS_DUPLICATE = Counter(
    "fablab_mqtt_events_duplicate_total", "Events received again (redeliveries); stored only once"
)
SEQ_GAPS = Counter("fablab_mqtt_seq_gaps_total", "Event sequence numbers skipped by a gateway boot")
QUEUE_DEPTH = Gauge("fablab_bridge_queue_depth_messages", "Messages waiting for the bridge's worker")
DECISION_LATENCY = Histogram(
    "fablab_access_decision_latency_seconds",
    "From a card tap's arrival to its unlock or deny being sent",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
COMMANDS_SENT = Counter("fablab_mqtt_commands_sent_total", "Commands sent to machines", ["cmd"])
BATCH_SIZE = Histogram(
    "fablab_bridge_batch_size_messages",
    "Messages handled per database transaction",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
DB_RETRIES = Counter("fablab_bridge_db_retries_total", "Batches retried because the database was unreachable")
