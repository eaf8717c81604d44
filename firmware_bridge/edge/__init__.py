"""The edge side: a gateway translating device dialects into the canonical topics and back; no domain."""
