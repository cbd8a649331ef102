"""devstack.toml: where it is found, how it is read and checked, and what it becomes."""

from .loader import CONFIG_NAME, find_config, load_config
from .model import Config, Dependency, HealthCheck, PortSpec, Service, Settings

__all__ = (
    "CONFIG_NAME",
    "Config",
    "Dependency",
    "HealthCheck",
    "PortSpec",
    "Service",
    "Settings",
    "find_config",
    "load_config",
)
