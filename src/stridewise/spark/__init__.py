"""Evaluate many athletes on Apache Spark, in batch and as a stream (``stridewise[spark]``).

Batch::

    from pyspark.sql import SparkSession
    from stridewise.spark import evaluate_cards

    spark = SparkSession.builder.getOrCreate()
    events = spark.read.parquet("events/")          # athlete, kind, id, source, start, ...
    cards = evaluate_cards(events, as_of=dt.date(2026, 10, 31), profile="clinic.yaml")
    cards.write.parquet("cards/")

Events come in the published JSON Schema's columns (an ``athlete`` column, ``kind`` and the
event's fields; unset fields null) or as an ``athlete`` column and an ``event`` column holding
each event's JSON text (what the store keeps). The cards come back one row per card
(:data:`CARD_SCHEMA`); an athlete whose events are invalid or whose evaluation fails is one row
with ``error`` set, and the job goes on.

Streaming: :func:`start_stream` runs the same per-athlete evaluation in ``foreachBatch`` over
any streaming DataFrame of events (files dropped in a folder, or a Kafka topic), upserting each
micro-batch into an event store and writing the touched athletes' new cards; see docs/spark.md.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stridewise.spark.worker import CARD_COLUMNS, ProfileFiles, card_batches

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

__all__ = [
    "CARD_COLUMNS",
    "CARD_SCHEMA",
    "ProfileFiles",
    "evaluate_cards",
    "events_as_json",
    "events_from_json_lines",
    "latest_cards",
    "local_session",
    "start_stream",
]

#: The output: one row per card (``error`` null), or one per failed athlete (``error`` set).
CARD_SCHEMA = (
    "athlete string, date date, rule string, pack string, version string, "
    "indicator string, summary string, card string, error string"
)

#: A column that orders an athlete's events (the event store's micro-batch number).
ORDER = "_order"

#: to_json options for a wide row: unset (null) fields left out, instants in UTC ISO 8601.
_JSON_OPTIONS = {
    "ignoreNullFields": "true",
    "timeZone": "UTC",
    "timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
    "dateFormat": "yyyy-MM-dd",
}


def local_session(
    app: str = "stridewise", cores: int = 2, *, retries: int = 4, **conf: str
) -> SparkSession:
    """A local-mode session (``local[cores,retries]``: a failed task is retried) with the
    settings the jobs want: few shuffle partitions, Arrow on, the session in UTC."""
    from pyspark.sql import SparkSession

    # The Python workers run this interpreter (the one stridewise is installed in).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(f"local[{cores},{retries}]")
        .appName(app)
        .config("spark.sql.shuffle.partitions", str(max(2, cores * 2)))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def events_from_json_lines(lines: DataFrame, column: str = "value") -> DataFrame:
    """(athlete, event) from rows of JSON text, one event a row with its ``athlete`` field
    (``spark.read.text`` of JSON-lines files, or a Kafka topic's ``value`` cast to string)."""
    from pyspark.sql import functions as F

    text = F.col(column).cast("string")
    return lines.select(F.get_json_object(text, "$.athlete").alias("athlete"), text.alias("event"))


def events_as_json(events: DataFrame, athlete: str = "athlete") -> DataFrame:
    """(athlete, event) with each event as its JSON text: an ``event`` column is kept as it is,
    otherwise every column but the athlete's is an event field (nulls left out)."""
    from pyspark.sql import functions as F

    if athlete not in events.columns:
        raise ValueError(f"the events have no {athlete!r} column (columns: {events.columns})")
    # ORDER (when present) orders an athlete's events: a later one with a known id replaces
    # the earlier (the streaming job's event store numbers its micro-batches so).
    keep = [F.col(ORDER)] if ORDER in events.columns else []
    who = F.col(athlete).cast("string").alias("athlete")
    if "event" in events.columns:
        return events.select(who, F.col("event"), *keep)
    fields = [c for c in events.columns if c not in (athlete, ORDER)]
    return events.select(who, F.to_json(F.struct(*fields), _JSON_OPTIONS).alias("event"), *keep)


def _shipped(events: DataFrame, profile: ProfileFiles | Path | str | None) -> Callable[[], Any]:
    """The profile as a broadcast (read on the driver, validated there first)."""
    if profile is None:
        return lambda: None
    files = profile if isinstance(profile, ProfileFiles) else ProfileFiles.read(profile)
    shared = events.sparkSession.sparkContext.broadcast(files)
    return lambda: shared.value


def evaluate_cards(
    events: DataFrame,
    as_of: dt.date | None = None,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    profile: ProfileFiles | Path | str | None = None,
    validate: bool = False,
    athlete: str = "athlete",
    partitions: int | None = None,
) -> DataFrame:
    """Cards for every athlete in ``events``: as of one date (``as_of``), or a timeline of
    every day from ``start`` to ``end``. The events are partitioned by athlete and sorted, and
    read athlete by athlete in ``mapInArrow`` (what ``groupBy().applyInArrow`` does); each Python
    worker builds the engine once, from ``profile`` (a clinic profile's path, read on the
    driver and broadcast with its own packs) or from the installed packs.

    ``validate``: check every event against the schema (input from outside); by default the
    fast path for events stridewise validated before (the store's rows). ``partitions``: how
    many partitions the athletes are spread over (default ``spark.sql.shuffle.partitions``).
    """
    if (as_of is None) == (start is None or end is None):
        raise ValueError("give as_of (cards for one date) or start and end (a timeline)")
    if start is not None and end is not None and end < start:
        raise ValueError(f"the timeline ends ({end}) before it starts ({start})")
    as_json = events_as_json(events, athlete)
    profile_value = _shipped(events, profile)

    keys = ["athlete", *([ORDER] if ORDER in as_json.columns else [])]
    grouped = (
        as_json.repartition(partitions, "athlete") if partitions else as_json.repartition("athlete")
    ).sortWithinPartitions(*keys)

    def per_partition(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        yield from card_batches(
            batches, as_of=as_of, start=start, end=end, profile=profile_value(), validate=validate
        )

    # Each partition holds whole athletes, sorted: mapInArrow reads one athlete after another
    # (as groupBy().applyInArrow, without a pandas frame per athlete).
    return grouped.mapInArrow(per_partition, schema=CARD_SCHEMA)


# ---------------------------------------------------------------------------------------------
# Streaming: foreachBatch over any streaming source, upserting into an event store
# ---------------------------------------------------------------------------------------------


def _store_events(store: Path | str) -> str:
    return f"{store}/events"


def start_stream(
    events: DataFrame,
    *,
    store: Path | str,
    output: Path | str,
    checkpoint: Path | str,
    as_of: dt.date | None = None,
    profile: ProfileFiles | Path | str | None = None,
    validate: bool = False,
    athlete: str = "athlete",
    trigger: Mapping[str, Any] | None = None,
) -> StreamingQuery:
    """Start the streaming job over ``events`` (a streaming DataFrame: files dropped in a
    folder, or a Kafka topic through :func:`events_from_json_lines`).

    Each micro-batch N, in ``foreachBatch``:

    1. its events are written to the event store as ``STORE/events/batch=N`` (an athlete's
       history is every batch of the store; a known event id in a later batch replaces it);
    2. the athletes it touches are evaluated again from their whole history, with the batch
       job's own per-athlete function (:func:`evaluate_cards`), as of ``as_of`` (None: the
       day the batch runs, in UTC);
    3. their cards go to ``OUTPUT/cards/batch=N`` and their ids to ``OUTPUT/athletes/batch=N``.

    Every write replaces its ``batch=N`` folder, so a micro-batch that Spark runs again after
    a crash (the checkpoint records a batch as done only after ``foreachBatch`` returns)
    writes the same rows once: nothing lost, nothing twice. :func:`latest_cards` reads each
    athlete's cards from the last batch that touched it. ``trigger``: as
    ``DataStreamWriter.trigger`` (e.g. ``{"availableNow": True}``); default: micro-batches as
    fast as the data comes.
    """
    from pyspark.sql import functions as F

    shipped = (
        None
        if profile is None
        else profile
        if isinstance(profile, ProfileFiles)
        else ProfileFiles.read(profile)
    )

    def each_batch(batch: DataFrame, batch_id: int) -> None:
        spark = batch.sparkSession
        rows = events_as_json(batch, athlete).withColumn(ORDER, F.lit(batch_id).cast("long"))
        rows.write.mode("overwrite").parquet(f"{_store_events(store)}/batch={batch_id}")
        stored = spark.read.parquet(_store_events(store))
        touched = (
            spark.read.parquet(f"{_store_events(store)}/batch={batch_id}")
            .select("athlete")
            .distinct()
        )
        history = stored.join(touched, "athlete").select(
            "athlete", "event", F.col("batch").alias(ORDER)
        )
        day = as_of or dt.datetime.now(dt.UTC).date()
        cards = evaluate_cards(history, day, profile=shipped, validate=validate)
        cards.write.mode("overwrite").parquet(f"{output}/cards/batch={batch_id}")
        touched.write.mode("overwrite").parquet(f"{output}/athletes/batch={batch_id}")

    writer = events.writeStream.foreachBatch(each_batch).option(
        "checkpointLocation", str(checkpoint)
    )
    if trigger:
        writer = writer.trigger(**trigger)
    return writer.start()


def latest_cards(spark: SparkSession, output: Path | str) -> DataFrame:
    """The streaming job's current cards: for each athlete, the rows (cards and error rows)
    of the last micro-batch that touched it, in :data:`CARD_SCHEMA`'s columns."""
    from pyspark.sql import functions as F

    touched = spark.read.parquet(f"{output}/athletes")
    last = touched.groupBy("athlete").agg(F.max("batch").alias("batch"))
    cards = spark.read.schema(f"{CARD_SCHEMA}, batch long").parquet(f"{output}/cards")
    return cards.join(last, ["athlete", "batch"]).select(*CARD_COLUMNS)
