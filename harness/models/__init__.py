"""Model architectures the framework backends load weights into.

Each module imports its framework itself; the harness imports them only by
name, through a backend's ``architecture`` option, when a run starts.
"""
