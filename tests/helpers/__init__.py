"""Helpers for the black-box tests: run the real ``devstack`` command on a temporary project."""
