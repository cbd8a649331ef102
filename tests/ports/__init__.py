"""Tests of ``devstack.ports``: real sockets, files and processes; no fixed port numbers."""
