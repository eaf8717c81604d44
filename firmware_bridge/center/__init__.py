"""The center's side: consumes the canonical topics into `devices/` and publishes the commands it decides."""
