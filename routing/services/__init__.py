"""Routing and delivery services, one module per concern (the order is the
import direction, checked by lint-imports):

- batch: send a task's claimed leads and write their outcomes back;
- decide: which CRM, order and price a lead goes to (SPEC §4), and the
  intake's read-only dry run of it;
- send: the payload, the HTTP POST and its answer classified (SPEC §5);
- queue: claiming, the lease, the sweep, probes, retries and "Relancer",
  and the stored totals behind the queue's counts;
- circuit: the per-CRM circuit breaker;
- verification: the nightly check (SPEC §7).
"""
