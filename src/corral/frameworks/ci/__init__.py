"""The ci framework: elastic CI build agents, created when the queue starves, removed when idle."""
