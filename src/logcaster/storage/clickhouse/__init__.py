"""The ClickHouse store (``--store clickhouse://...``): every accepted line also goes
to a ClickHouse table or cluster, so many nodes can be searched as one.

:mod:`.url` reads the ``--store`` URL, :mod:`.schema` defines the tables, :mod:`.spool`
keeps what ClickHouse could not take, :mod:`.writer` batches, inserts and replays.
"""
