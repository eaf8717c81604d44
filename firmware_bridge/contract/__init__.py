"""The wire contract of CONTRACT §1, topics and payloads, shared by both sides; imports no MQTT client."""
