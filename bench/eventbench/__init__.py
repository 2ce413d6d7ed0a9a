"""The parts of `bench/events.py`, one module per responsibility.

`common` (what every process shares: the child protocol on stdin/stdout, memory, percentiles),
`publisher` (the event flood), `consumers` (the bare Celery receiver, the headless pipeline and
Flower), `pipeline` (the panel's pipeline feeding a shown Qt table), `runner` (the parent: one
consumer and one publisher process per run, Redis watched), `report` (figures and ratios).
`bench/events.py` stays the one command; these modules are imported from its folder.
"""
