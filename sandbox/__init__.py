"""Lakehouse sandbox: a local copy of an AWS data platform.

Public entry points: :func:`sandbox.settings.load_settings`,
:class:`sandbox.stack.EmbeddedStack` and :func:`sandbox.session.spark_session`.
"""

__version__ = "0.1.0"
