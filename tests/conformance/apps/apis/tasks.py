from shape_tasks import gate, record, t1, t2, t3

__all__ = ["gate", "record", "t1", "t2", "t3"]
