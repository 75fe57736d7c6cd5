"""Authentication, authorization and TLS for the master, the agent and their clients.

Pure decisions (``authn.decide``, ``acls.authorize``, ``routes.classify``) and their loaders
(``credentials.load``, ``acls.load``); the thin aiohttp side (``middleware``) and the client
side (``client.ClientSecurity``: what the SDK, the CLI and the agent send). See
docs/security.md."""
