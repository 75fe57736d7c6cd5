"""corral: a cluster resource manager in Python, in the spirit of Apache Mesos."""

__version__ = "0.1.0"
# The version every Mesos client sees: pymesos parses it as dotted integers.
MESOS_COMPAT_VERSION = "1.11.0"
