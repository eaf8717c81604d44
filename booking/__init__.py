"""Sites, resources, members, plans, quotas and bookings: the booking domain of FabLab Hub.

One room per subdomain, each with rules.py (pure), repository.py (queries) and service.py (use cases
that never commit); lower rooms never import higher ones (import-linter checks the order):

    jobs, reports, idempotency   scheduled jobs; the utilisation report; a request with an Idempotency-Key
    series                       recurring bookings from an RRULE
    bookings                     book, cancel or release, check in, approve, walk in; availability, the
                                 grid, the kiosk, the iCal feed (freeing a slot promotes the waitlist)
    waitlist                     join, leave, promote (books through the engine)
    engine                       every check of a new booking, the guarded insert, the status table
    ledger, notifications        the quota ledger and every balance; what members are told
    members                      accounts, sign-in, roles (Actor), trainings held
    catalogue                    sites, closures, resources, trainings, plans; the 5 s catalogue cache
    schemas, spans, security     shapes in and out; time spans and local time; passwords, codes, ids
    models, errors               the tables; the DomainError family
"""
