"""analytics-worker: durable JetStream consumers feeding its own schema and the kernels."""
