"""Evaluate many athletes on Apache Spark (the optional extra ``stridewise[spark]``)."""
