"""File watching for the stack: one watcher, changes routed to the services that watch them, one
restart per burst, and a pause for services that keep restarting themselves. See ``_watcher``."""

from ._errors import WatchError, WatchLimitError
from ._ignore import IGNORED_DIRS, is_editor_temp
from ._messages import describe_change, describe_loop
from ._paths import WatchSpec, check_watch_paths
from ._watcher import PauseCallback, RestartCallback, StackWatcher, Status

__all__ = (
    "IGNORED_DIRS",
    "PauseCallback",
    "RestartCallback",
    "StackWatcher",
    "Status",
    "WatchError",
    "WatchLimitError",
    "WatchSpec",
    "check_watch_paths",
    "describe_change",
    "describe_loop",
    "is_editor_temp",
)
