"""Supervision: knowing that the alarm path is alive (docs/operate.md, "Supervision").

Every round a silent test alarm takes the whole path — stored through the unit of work, carried
by the bus back to a connection this process holds, sent by the outbox — and each leg is timed
against a deadline (`supervisor.py`; the store side in `probes.py`). A watchdog notices a
background worker whose loop no longer turns (`watchdog.py`). Both say so on /readyz, in the
log and in the default Prometheus registry (`metrics.py`).
"""
