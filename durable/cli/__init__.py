"""The `durable` command line: admin commands over the HTTP API, plus the service commands."""
