"""The agent's functional core: its state as plain data, changed only by
``handle(state, event, now) -> list[Effect]`` (handle.py).

Events come from the master (commands), the containerizers (started, failed, ended), the
executor API (subscribed, updates, messages), timers and the shell's lifecycle (recovery, the
master link). Effects are what the shell carries out: messages to the master and executors,
containers to launch, kill or destroy, checkpoint and journal records, timers. Nothing here
reads a clock, opens a socket or awaits (``tests/unit/test_layout.py`` checks the imports).
"""
