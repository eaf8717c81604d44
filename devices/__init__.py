"""The machines of the center, a room per subdomain (each: rules.py pure, repository.py queries,
service.py use cases that flush and never commit):

    registry/     machines and gateways, their live state recomputed and published, commands
    alerts/       alerts opened once per condition and resolved; a machine offline or faulting
    access/       a card at the machine: unlock (walk-in booked if need be) or deny; the runtime
                  quota is read and charged through booking.ledger, never its tables
    maintenance/  plans, due and overdue checks (an overdue plan blocks), done and its log
    sessions/     events stored once and matched by type, usage sessions, activity, enforcement

    events.py (the typed events), state.py (the state table), ports.py (what the bridge implements),
    models.py, schemas.py, jobs.py (the scheduled jobs), reports.py (the managers' read model).
"""
