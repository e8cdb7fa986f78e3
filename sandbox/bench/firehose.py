"""The Firehose group: events accepted, delivered and end to end per second."""

from __future__ import annotations

import time

from sandbox.bench.figures import Figure
from sandbox.bench.homes import private_home
from sandbox.platform import EmbeddedStack, Progress


def bench_firehose(
    *, repeat: int = 3, events: int = 100_000, progress: Progress = print
) -> list[Figure]:
    """Events accepted by the publisher (SNS envelope + spool) and delivered to S3, per s."""
    import random

    import psycopg

    from sandbox.app import loader
    from sandbox.ingest.events import IdPool, delivery_streams, publisher, synthetic_events

    with private_home() as s:
        s.firehose.buffer_size_mib = 64
        stack = EmbeddedStack(s)
        accepted, delivered, end_to_end = [], [], []
        stack.up()
        with psycopg.connect(s.postgres_url(), autocommit=True) as conn:
            loader.seed(conn, scale=1, seed=42)
            pool = IdPool(conn)
        for i in range(repeat):
            batch = [
                e
                for e, _ in zip(
                    synthetic_events(pool, random.Random(i)), range(events), strict=False
                )
            ]
            pub = publisher(s)
            t0 = time.perf_counter()
            for j in range(0, len(batch), 500):
                pub.publish_many(batch[j : j + 500])
            pub.close()
            t_accept = time.perf_counter() - t0
            t1 = time.perf_counter()
            n = sum(st.flush(force=True).delivered for st in delivery_streams(s).values())
            t_deliver = time.perf_counter() - t1
            if n != events:
                raise RuntimeError(f"firehose bench: {events} published, {n} delivered")
            accepted.append(events / t_accept)
            delivered.append(events / t_deliver)
            end_to_end.append(events / (t_accept + t_deliver))
            progress(
                f"run {i + 1}/{repeat}: accepted {accepted[-1]:,.0f}/s, delivered "
                f"{delivered[-1]:,.0f}/s, end to end {end_to_end[-1]:,.0f}/s"
            )
    return [
        Figure("firehose accepted (publish + spool)", "events/s", accepted),
        Figure("firehose delivered (validate + S3)", "events/s", delivered),
        Figure("firehose end to end", "events/s", end_to_end, ">= 20,000 events/s"),
    ]
