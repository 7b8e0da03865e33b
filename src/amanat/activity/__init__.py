"""Activity: what the services collect automatically (policy §1, §3) — the client address and
the parsed user agent of security-relevant requests — turned into sign-in history, recognised
devices and new-device alerts for the person and their admins, and kept only as long as the
retention periods allow (§4 data minimization)."""
