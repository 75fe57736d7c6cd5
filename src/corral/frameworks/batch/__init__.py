"""The batch framework (Torque's role): job arrays, priorities and a queue on the pool."""
