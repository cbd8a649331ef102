"""What each ``devstack`` command does, once ``cli.py`` has parsed it:

    run.py       up (in the foreground, or detached with -d)
    inspect.py   check, ports, status, env
    steer.py     start, stop, restart, down, wait, logs: talk to a running stack
    export.py    export: the stack as compose, Kubernetes or systemd files (devstack.export)
"""
