"""Drives a real Python Celery 5.2 DatabaseBackend for taskmeta's interoperability tests.

Usage (run with /usr/bin/python3, Debian's python3-celery):
  celery_interop.py create <url>                    create Celery's tables with Celery's own models
  celery_interop.py write  <url>                    write a fixed variety of results and groups;
                                                    print what Celery's get_task_meta/restore_group read back
  celery_interop.py read   <url> <ids.json>         print get_task_meta / restore_group for the given ids
  celery_interop.py raw    <url> <ids.json>         print the stored bytes (base64) of result/args/kwargs columns
                                                    and group rows, and date_done as stored, read with SQLAlchemy
  celery_interop.py dumps                           for each JSON line on stdin, print Python's json.dumps of it
                                                    (Celery's args/kwargs encoder)

Everything printed is one JSON document. Python values are tagged where JSON cannot carry them:
{"$int": "digits"} for integers beyond 2**53, {"$tuple": [...]}, {"$set": [...]}, {"$bytes": "base64"},
{"$float": "nan"|"inf"|"-inf"}, {"$datetime": "iso"}, {"$exception": {exc_type, exc_module, exc_message}}
(Celery's get_task_meta turns stored error envelopes back into exception instances),
{"$object": "module.Class", "repr": "..."}.
No broker is needed: the backend is used directly.
"""
import base64
import datetime
import json
import math
import sys

from celery import Celery
from celery.app.task import Context

SAFE = 2 ** 53 - 1


def tag(value):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if -SAFE <= value <= SAFE else {"$int": str(value)}
    if isinstance(value, float):
        if math.isnan(value):
            return {"$float": "nan"}
        if math.isinf(value):
            return {"$float": "inf" if value > 0 else "-inf"}
        return value
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, tuple):
        return {"$tuple": [tag(v) for v in value]}
    if isinstance(value, list):
        return [tag(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return {"$set": sorted((tag(v) for v in value), key=repr)}
    if isinstance(value, dict):
        return {str(k): tag(v) for k, v in value.items()}
    if isinstance(value, BaseException):
        return {"$exception": {
            "exc_type": type(value).__name__,
            "exc_module": type(value).__module__,
            "exc_message": tag(tuple(value.args)),
        }}
    if isinstance(value, datetime.datetime):
        return {"$datetime": value.isoformat()}
    return {"$object": type(value).__module__ + "." + type(value).__qualname__, "repr": repr(value)}


def app_for(url):
    app = Celery("interop", backend=url, broker="memory://")
    app.conf.result_extended = True
    return app


def meta(app, task_id):
    m = app.backend.get_task_meta(task_id)
    out = {k: tag(v) for k, v in m.items() if k not in ("children",)}
    if isinstance(m.get("date_done"), datetime.datetime):
        out["date_done"] = m["date_done"].isoformat()
    return out


def create(url):
    app = app_for(url)
    backend = app.backend
    session = backend.ResultSession()  # prepare_models runs create_all with Celery's models
    session.close()
    print(json.dumps({"created": True}))


class Boom(Exception):
    pass


# Extended args/kwargs whose json.dumps bytes the tests compare with taskmeta's.
EXTENDED_BIG_ARGS = [2 ** 70, -(2 ** 64), 0.1, 1e16, 1e-07, 1.5e300, "ü\n\"\x7f\t𝄞", [1, [2]], None, True]
EXTENDED_BIG_KWARGS = {"big": -(10 ** 20), "ключ": "☃", "t": [1, 2], "nested": {"x": None, "y": 2.5}}


def write(url):
    app = app_for(url)
    b = app.backend
    prefix = "celery-" + datetime.datetime.utcnow().strftime("%H%M%S%f") + "-"
    values = {
        "int": 42,
        "negative": -7,
        "float": 3.5,
        "text": "héllo ☃ 𝄞 日本",
        "none": None,
        "true": True,
        "list": [1, 2, 3],
        "tuple": (1, "a", None),
        "nested": {"a": {"b": [1, None, 2.5]}, "c": "d"},
        "big": 2 ** 64,
        "bigneg": -(2 ** 70),
        "bigdict": {"big": 10 ** 30},
        "bytes": b"\x00\x01bytes\xff",
        "set": {1, 2, 3},
        "empty": [],
        "unicode_keys": {"ключ": "значение"},
    }
    written = {}
    for label, value in values.items():
        task_id = prefix + "success-" + label
        b.store_result(task_id, value, "SUCCESS")
        written["success-" + label] = task_id

    req = Context(
        id=prefix + "extended",
        task="multiply_two_numbers",
        args=[16, 16],
        kwargs={"scale": 2, "label": "ünï"},
        hostname="celery@worker-1",
        retries=2,
        delivery_info={"routing_key": "celery"},
    )
    b.store_result(prefix + "extended", 256, "SUCCESS", request=req)
    written["extended"] = prefix + "extended"
    req = Context(
        id=prefix + "extended-big",
        task="tasks.big",
        args=EXTENDED_BIG_ARGS,
        kwargs=EXTENDED_BIG_KWARGS,
        hostname="celery@wörker",
        retries=0,
        delivery_info={"routing_key": "q-ü"},
    )
    b.store_result(prefix + "extended-big", [2 ** 80, "ok"], "SUCCESS", request=req)
    written["extended-big"] = prefix + "extended-big"

    tb = 'Traceback (most recent call last):\n  File "tasks.py", line 3, in boom\nValueError: boom ☃'
    b.mark_as_failure(prefix + "failure", ValueError("boom ☃", 42), traceback=tb)
    written["failure"] = prefix + "failure"
    b.mark_as_failure(prefix + "failure-custom", Boom("custom"), traceback="tb")
    written["failure-custom"] = prefix + "failure-custom"
    b.mark_as_retry(prefix + "retry", KeyError("missing"), traceback="retry tb")
    written["retry"] = prefix + "retry"
    b.store_result(prefix + "started", {"pid": 1234, "hostname": "celery@host"}, "STARTED")
    written["started"] = prefix + "started"
    b.mark_as_revoked(prefix + "revoked", reason="terminated")
    written["revoked"] = prefix + "revoked"
    b.store_result(prefix + "progress", {"current": 3, "total": 10}, "PROGRESS")
    written["progress"] = prefix + "progress"

    members = [written["success-int"], written["failure"], prefix + "never-ran"]
    group_id = prefix + "group"
    b.save_group(group_id, app.GroupResult(group_id, [app.AsyncResult(m) for m in members]))

    out = {"tasks": {label: meta(app, tid) for label, tid in written.items()}, "groups": {}}
    restored = b.restore_group(group_id)
    out["groups"][group_id] = [r.id for r in restored.results]
    print(json.dumps(out, ensure_ascii=False))


def read(url, ids_file):
    with open(ids_file) as f:
        ids = json.load(f)
    app = app_for(url)
    out = {"tasks": {}, "groups": {}}
    for task_id in ids.get("tasks", []):
        out["tasks"][task_id] = meta(app, task_id)
    for group_id in ids.get("groups", []):
        restored = app.backend.restore_group(group_id)
        out["groups"][group_id] = None if restored is None else [r.id for r in restored.results]
    print(json.dumps(out, ensure_ascii=False))


def raw(url, ids_file):
    import sqlalchemy as sa
    with open(ids_file) as f:
        ids = json.load(f)
    schema = ids.get("schema")
    engine = sa.create_engine(url[3:] if url.startswith("db+") else url)
    q = (lambda t: f'"{schema}".{t}') if schema else (lambda t: t)
    b64 = lambda v: None if v is None else base64.b64encode(bytes(v)).decode("ascii")
    out = {"tasks": {}, "groups": {}}
    with engine.connect() as conn:
        for task_id in ids.get("tasks", []):
            row = conn.execute(sa.text(
                f"SELECT result, args, kwargs, date_done FROM {q('celery_taskmeta')} WHERE task_id = :id"
            ), {"id": task_id}).fetchone()
            out["tasks"][task_id] = None if row is None else {
                "result": b64(row[0]), "args": b64(row[1]), "kwargs": b64(row[2]),
                "date_done": None if row[3] is None else str(row[3]),
            }
        for group_id in ids.get("groups", []):
            row = conn.execute(sa.text(
                f"SELECT result FROM {q('celery_tasksetmeta')} WHERE taskset_id = :id"
            ), {"id": group_id}).fetchone()
            out["groups"][group_id] = None if row is None else b64(row[0])
    print(json.dumps(out))


def dumps():
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(json.loads(line)))


if __name__ == "__main__":
    if sys.argv[1] == "dumps":
        dumps()
        sys.exit(0)
    command, url = sys.argv[1], sys.argv[2]
    if command == "create":
        create(url)
    elif command == "write":
        write(url)
    elif command == "read":
        read(url, sys.argv[3])
    elif command == "raw":
        raw(url, sys.argv[3])
    else:
        raise SystemExit("unknown command " + command)
