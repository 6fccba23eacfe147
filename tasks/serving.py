"""The attributes snapshot of a date, served from Cassandra.

The Cassandra driver (and numpy with it) is imported where it is used: a seventh of a second that every
`luigi` command would pay otherwise, the bulk ingest's included."""
import logging

import luigi

from tasks.analysis import project
from tasks.attributes import DailyAttributes
from tasks.targets import DateParameter, warehouse

log = logging.getLogger('luigi-interface')


def newest_loaded():
    """The newest snapshot date Cassandra holds; None when none, or when Cassandra cannot be asked (then the
    task runs, and says why it cannot load: the rest of the graph goes on)."""
    from pipeline import attribute_loader
    from pipeline.attribute_store import AttributeStore, CassandraUnavailable, QueryError
    try:
        with AttributeStore() as store:
            return attribute_loader.newest_loaded(store)
    except CassandraUnavailable as e:
        log.warning('%s', e)
    except QueryError:
        pass  # no marker table yet: nothing loaded
    return None


class CassandraMarker(luigi.Target):
    """A row of the marker table loaded_snapshots: Cassandra holds this snapshot, or a newer one."""

    def __init__(self, date):
        self.date = date

    def exists(self):
        newest = newest_loaded()
        return newest is not None and self.date <= newest


class AttributesToCassandra(luigi.Task):
    """Cassandra's tables brought to the attributes snapshot of a date, from what changed since the last
    one loaded. Loads run one at a time; an older date than the one loaded is done already."""
    date = DateParameter()
    resources = {'cassandra_load': 1}

    def requires(self):
        return DailyAttributes(self.date)

    def output(self):
        return CassandraMarker(self.date)

    def complete(self):
        return bool(self.bulk_complete([self.date]))

    @classmethod
    def bulk_complete(cls, dates):
        """One question to Cassandra for any number of dates."""
        newest = newest_loaded()
        return [d for d in dates if newest is not None and d <= newest]

    def run(self):
        from pipeline import attribute_loader
        from pipeline.attribute_store import AttributeStore
        with AttributeStore() as store:
            attribute_loader.load(store, warehouse(), project(), self.date, self.set_status_message)
