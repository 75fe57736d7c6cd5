"""`corral deploy`: install, configure and start a cluster from one inventory over SSH.

Pure parts: `inventory` (parse and validate), `render` (what each host must have), `plan`
(what each host needs given what it has). Shell: `remote` (asyncssh), `health`, `run`.
`supervisor` is the process supervisor used where systemd does not run.
"""
