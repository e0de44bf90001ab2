"""The stage runner: the only code that knows Faust and aiokafka internals (streams/README.md).

- ``faust_app.py``: the app and its settings; ``faust_fixes.py``: the commit guard;
- ``worker.py``: a stage as an agent (order check, handle, acks before state, fail-stop);
- ``io.py``: outputs with transient retry, state writes; ``tables.py``: expiring tables.
"""
