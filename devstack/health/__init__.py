"""Health checks: one probe of a service (``probes``) and its health followed over time (``monitor``).

The supervisor owns one ``Prober`` (and so one HTTP client) for the whole stack and one
``HealthMonitor`` per running service process::

    prober = Prober()
    monitor = HealthMonitor("api", service.health, prober, ports={"port": 21432},
                            cwd=service.cwd, env=env, on_change=report, started_at=proc.started)
    task = asyncio.create_task(monitor.run())
    if not await monitor.wait_ready():
        ...  # "api never became healthy: connection refused on 127.0.0.1:21432"
    ...
    task.cancel()  # the process exited or is being restarted
    await prober.aclose()
"""

from .monitor import HealthMonitor, HealthState
from .probes import Prober, ProbeResult

__all__ = ("HealthMonitor", "HealthState", "ProbeResult", "Prober")
