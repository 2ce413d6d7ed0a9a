"""(f) Routes by glob and by a router function: t1/t2/t3 to 'by_fn', record to 'by_glob'."""

import os

from celery import Celery


def route_demo(name, args, kwargs, options, task=None, **kw):
    if name.rsplit(".", 1)[-1] in ("t1", "t2", "t3"):
        return {"queue": "by_fn"}
    return None


app = Celery("routed", broker=os.environ.get("CELERY_BROKER"), include=["shape_tasks"])
app.conf.task_routes = [route_demo, {"shape_tasks.rec*": {"queue": "by_glob"}}]
app.conf.broker_transport_options = {"queue_order_strategy": "priority"}
app.conf.task_acks_late = True
