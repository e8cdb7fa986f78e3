"""Lakehouse sandbox: a local copy of an AWS data platform.

Public entry points: :func:`sandbox.platform.settings.load_settings`,
:class:`sandbox.platform.stack.EmbeddedStack` and :func:`sandbox.platform.session.spark_session`.
"""

__version__ = "0.1.0"
