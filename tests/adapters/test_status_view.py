"""``status_view`` names the columns it reads by hand (light table clauses, no ORM): they
must be the mapped schema's, with the same types where a type changes what is read."""

from __future__ import annotations

from recorder_sync.adapters.db import status_view
from recorder_sync.adapters.db.schema import Base
from recorder_sync.adapters.db.sqltypes import UTCDateTime


def test_light_tables_name_real_columns_with_their_types() -> None:
    checked = 0
    for light in status_view.TABLES:
        mapped = Base.metadata.tables[light.name]
        for col in light.columns:
            real = mapped.columns[col.name]
            # a UTC datetime read without its type would come back naive (SQLite) or as text
            assert isinstance(col.type, UTCDateTime) == isinstance(real.type, UTCDateTime), col
            assert col.type._type_affinity is real.type._type_affinity, col
            checked += 1
    assert checked >= 15
