"""Routing and delivery services, one module per concern:

- decision: which CRM, order and price a lead goes to (SPEC §4);
- delivery: the HTTP POST, its classification and record (SPEC §5);
- health: the per-CRM circuit breaker;
- queue: claiming, retrying and sweeping (the retry queue);
- verification: the nightly check (SPEC §7).
"""
