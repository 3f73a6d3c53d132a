"""``stridewise spark-job``: the batch and streaming jobs from the command line.

The same command is the ``spark-submit`` entry (a cluster's master, executors and memory come
from ``spark-submit``'s own options)::

    spark-submit --master yarn $(python -c 'import stridewise.spark.job as j; print(j.__file__)') \\
        events/ cards/ --as-of 2026-10-31 --profile clinic.yaml
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def _date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-10-31") from None


def _format_of(path: Path, given: str | None) -> str:
    if given:
        return given
    if path.is_file():
        return "parquet" if path.suffix == ".parquet" else "jsonl"
    if any(path.rglob("*.parquet")):
        return "parquet"
    return "jsonl"


def read_events(spark: SparkSession, path: Path, fmt: str) -> DataFrame:
    """Events from Parquet (the published schema's columns, or athlete + event JSON text) or
    from JSON lines (one event object a line, with its ``athlete``)."""
    from stridewise.spark import events_from_json_lines

    if fmt == "parquet":
        return spark.read.parquet(str(path))
    return events_from_json_lines(spark.read.text(str(path)))


def _session(master: str | None) -> SparkSession:
    from pyspark.sql import SparkSession

    from stridewise.spark import local_session

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if master is None and "spark.master" in _submitted_conf():
        return SparkSession.builder.appName("stridewise").getOrCreate()  # under spark-submit
    if master is None or master.startswith("local"):
        cores, _, retries = (master or "local[2]").removeprefix("local[").rstrip("]").partition(",")
        return local_session(cores=int(cores or 2), retries=int(retries or 4))
    return SparkSession.builder.master(master).appName("stridewise").getOrCreate()


def _submitted_conf() -> dict[str, str]:
    from pyspark import SparkConf

    return dict(SparkConf().getAll())


@click.command(
    "spark-job",
    help="Evaluate many athletes on Apache Spark: read events (Parquet or JSON lines) from "
    "INPUT, write one Parquet row per card to OUTPUT. With --stream, watch INPUT for new "
    "files and keep every touched athlete's cards up to date (see docs/spark.md).",
)
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.argument("output", type=click.Path(path_type=Path))
@click.option("--as-of", "as_of", default=None, help="Cards as of this date (YYYY-MM-DD).")
@click.option("--start", default=None, help="Timeline: cards for every day from this date...")
@click.option("--end", default=None, help="...to this date (inclusive).")
@click.option(
    "--profile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A clinic profile (YAML), shipped to the workers with its own packs.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "jsonl"]),
    default=None,
    help="Input format (default: parquet when INPUT holds .parquet files, else jsonl).",
)
@click.option(
    "--validate",
    is_flag=True,
    help="Check every event against the schema (input from outside); default: the fast path "
    "for events stridewise validated before.",
)
@click.option("--master", default=None, help="Spark master (default: local[2], or spark-submit's).")
@click.option("--stream", is_flag=True, help="A streaming job over the files dropped in INPUT.")
@click.option(
    "--store",
    type=click.Path(path_type=Path),
    default=None,
    help="--stream: the event store (default: OUTPUT/store).",
)
@click.option(
    "--checkpoint",
    type=click.Path(path_type=Path),
    default=None,
    help="--stream: the checkpoint folder (default: OUTPUT/checkpoint).",
)
@click.option(
    "--available-now",
    is_flag=True,
    help="--stream: process the files there now, then stop (else run until stopped).",
)
@click.option(
    "--max-files-per-trigger",
    type=int,
    default=None,
    help="--stream: at most this many new files per micro-batch.",
)
def command(
    input_path: Path,
    output: Path,
    as_of: str | None,
    start: str | None,
    end: str | None,
    profile: Path | None,
    fmt: str | None,
    validate: bool,
    master: str | None,
    stream: bool,
    store: Path | None,
    checkpoint: Path | None,
    available_now: bool,
    max_files_per_trigger: int | None,
) -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise click.ClickException(
            "stridewise spark-job needs PySpark: pip install 'stridewise[spark]' (and Java 17)"
        ) from None
    from stridewise.spark import evaluate_cards, start_stream

    day, first, last = _date(as_of), _date(start), _date(end)
    if stream:
        if first or last:
            raise click.UsageError("--stream evaluates as of one date (--as-of), not a timeline")
    elif (day is None) == (first is None or last is None):
        raise click.UsageError("give --as-of DATE, or --start DATE and --end DATE")
    spark = _session(master)
    fmt = _format_of(input_path, fmt)
    t0 = time.perf_counter()
    if stream:
        query = start_stream(
            _stream_source(spark, input_path, fmt, max_files_per_trigger),
            store=store or output / "store",
            output=output,
            checkpoint=checkpoint or output / "checkpoint",
            as_of=day,
            profile=profile,
            validate=validate,
            trigger={"availableNow": True} if available_now else None,
        )
        click.echo(f"streaming from {input_path} to {output} (stop with Ctrl-C)", err=True)
        try:
            query.awaitTermination()
        except KeyboardInterrupt:
            query.stop()
        return
    events = read_events(spark, input_path, fmt)
    cards = evaluate_cards(events, day, start=first, end=last, profile=profile, validate=validate)
    cards.write.mode("overwrite").parquet(str(output))
    _summary(spark, output, time.perf_counter() - t0)


def _stream_source(spark: SparkSession, folder: Path, fmt: str, max_files: int | None) -> DataFrame:
    from stridewise.spark import events_from_json_lines

    reader = spark.readStream
    if max_files:
        reader = reader.option("maxFilesPerTrigger", max_files)
    if fmt == "parquet":
        # the schema of the files already there (a streaming file source needs one)
        return reader.schema(spark.read.parquet(str(folder)).schema).parquet(str(folder))
    return events_from_json_lines(reader.text(str(folder)))


def _summary(spark: SparkSession, output: Path, seconds: float) -> None:
    from pyspark.sql import functions as F

    written = spark.read.parquet(str(output))
    row: Any = written.agg(
        F.count(F.col("card")).alias("cards"),
        F.count(F.col("error")).alias("errors"),
        F.countDistinct("athlete").alias("athletes"),
    ).first()
    click.echo(
        f"{row['cards']:,} cards and {row['errors']:,} error rows for {row['athletes']:,} "
        f"athletes with cards or errors, written to {output} in {seconds:.1f} s"
    )
    for bad in written.where(F.col("error").isNotNull()).limit(5).collect():
        click.echo(f"  error: {bad['athlete']}: {bad['error']}", err=True)


if __name__ == "__main__":  # spark-submit .../stridewise/spark/job.py ARGS
    sys.exit(command())
