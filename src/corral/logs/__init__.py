"""Component logs: files with rotation, JSON lines, and the level changed at run time.

``levels`` (pure: glog verbosity ↔ Python levels, Mesos durations, the toggle's revert
decision), ``jsonfmt`` (one JSON object per record), ``setup`` (the handlers a component
installs from its ``--log-*`` flags), ``control`` (the process's level and its revert timer),
``http`` (``/logging/toggle``, ``GET/SET_LOGGING_LEVEL``, the ``/files`` view of the log).
"""
