"""The control plane: a running stack's HTTP API on a Unix socket, and the client other commands use."""
