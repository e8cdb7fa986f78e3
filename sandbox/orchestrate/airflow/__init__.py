"""Apache Airflow over the pipeline: its configuration, the process that runs it, a client.

Airflow runs from the project's own environment (the ``airflow`` dependency group), with
its metadata in a SQLite file under ``<home>/airflow`` and ``dags/`` as its DAG folder.
``sandbox airflow up`` (``just airflow``) starts it as an on-demand service of the
embedded stack; each DAG task runs ``sandbox run <task>`` in a process of its own (see
``dags/local_pod.py``), the way production runs each task in its own pod.
"""
