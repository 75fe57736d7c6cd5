"""The agent's containerizers behind one interface (``base.Containerizer``): ``process`` and
``linux`` through the launcher, ``docker`` through dockerd; ``router.Router`` is the one place
that chooses between them."""
