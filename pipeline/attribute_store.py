"""The attributes served from Cassandra: a small client for services, and a command for people.

    with AttributeStore() as store:                       # luigi.cfg [cassandra]
        store.track('4uLU6hMCjMI75M1A2tKUQC')             # one track's attributes, as of which snapshot
        store.in_range({'tempo': (118, 122), 'energy': (0.8, 1)}, key=9, mode=1, limit=20)
        store.similar('4uLU6hMCjMI75M1A2tKUQC', k=10, key=9)   # nearest neighbours, optionally filtered

    python -m pipeline.attribute_store track 4uLU6hMCjMI75M1A2tKUQC
    python -m pipeline.attribute_store range --tempo 118:122 --energy 0.8: --key 9 --mode 1
    python -m pipeline.attribute_store similar 4uLU6hMCjMI75M1A2tKUQC --k 10

A bad question (an unknown track, an empty or unknown range, a vector of the wrong size) raises
QueryError, and the command prints it, never a stack trace. Cassandra unreachable raises
CassandraUnavailable naming the hosts and keyspace. Credentials, when the cluster asks for them, come from
CASSANDRA_USERNAME and CASSANDRA_PASSWORD, else from the file CASSANDRA_CREDENTIALS_FILE names (default
~/.cassandra/credentials, cqlsh's: [PlainTextAuthProvider] username = ..., password = ...).
"""
import argparse
import configparser
import contextlib
import math
import os
import re
import string
import sys
import time
from pathlib import Path

from cassandra import ConsistencyLevel, DriverException, ProtocolVersion, RequestValidationException
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.connection import ConnectionException
from cassandra.policies import ConstantReconnectionPolicy, RoundRobinPolicy

from pipeline import config

SCHEMA = Path(__file__).with_name('schemas') / 'cassandra_v1.cql'
SCHEMA_VERSION = int(re.search(r'_v(\d+)\.cql$', SCHEMA.name)[1])
ATTRIBUTES = ('tempo', 'key', 'mode', 'time_signature', 'loudness', 'duration_ms', 'acousticness',
              'danceability', 'energy', 'instrumentalness', 'liveness', 'speechiness', 'valence')
ESTIMATES = ('acousticness', 'danceability', 'energy', 'instrumentalness', 'liveness', 'speechiness', 'valence')
FEATURES = len(ESTIMATES) + 3
RANGED = ('tempo', 'energy', 'danceability', 'valence', 'acousticness')  # the SAI-indexed ranges
EQUAL = ('key', 'mode')                                                    # the SAI-indexed equalities
TABLES = ('track_attributes', 'attribute_rejects', 'loaded_snapshots')
COLUMNS = ('track_id', 'calculator_version', 'computed_in', *ATTRIBUTES)
TRACK_ID = re.compile(r'^[0-9A-Za-z]{22}$')
SNAPSHOT_SECONDS = 10.0
UNREACHABLE = (DriverException, NoHostAvailable, ConnectionException)  # what a down or lost node raises


class QueryError(ValueError):
    """A question that has no answer: said in one line, for a person or a service."""


class CassandraUnavailable(RuntimeError):
    pass


def features(record):
    """The attributes as one vector in [0, 1]^10, for nearest neighbours: see cassandra_v1.cql."""
    clip = lambda v: min(1.0, max(0.0, v))  # noqa: E731
    mode = {1: 1.0, 0: 0.0}.get(record['mode'], 0.5)
    return [clip(record[name]) for name in ESTIMATES] + \
        [clip(record['tempo'] / 250), clip((record['loudness'] + 60) / 60), mode]


def credentials():
    """(user name, password) from the environment or cqlsh's credentials file, or None."""
    if os.environ.get('CASSANDRA_USERNAME'):
        return os.environ['CASSANDRA_USERNAME'], os.environ.get('CASSANDRA_PASSWORD', '')
    path = Path(os.environ.get('CASSANDRA_CREDENTIALS_FILE') or Path.home() / '.cassandra' / 'credentials')
    if not path.is_file():
        return None
    parser = configparser.ConfigParser()
    parser.read(path)
    section = parser['PlainTextAuthProvider'] if parser.has_section('PlainTextAuthProvider') else {}
    return (section['username'], section.get('password', '')) if 'username' in section else None


def where(settings):
    return f'Cassandra at {settings["hosts"]} port {settings["port"]}, keyspace {settings["keyspace"]}'


class AttributeStore:
    """A session on the configured cluster and keyspace, its statements prepared once."""

    def __init__(self, settings=None):
        self.settings = settings or config.settings()['cassandra']
        self.keyspace = self.settings['keyspace']
        self.where = where(self.settings)
        user = credentials()
        profile = ExecutionProfile(consistency_level=getattr(ConsistencyLevel, self.settings['consistency']),
                                   request_timeout=self.settings['timeout'], load_balancing_policy=RoundRobinPolicy())
        self.cluster = Cluster([h.strip() for h in self.settings['hosts'].split(',')], port=self.settings['port'],
                               protocol_version=ProtocolVersion.V5,  # Cassandra 5's; else a downgrade warning
                               auth_provider=PlainTextAuthProvider(*user) if user else None,
                               execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                               connect_timeout=self.settings['timeout'],
                               control_connection_timeout=self.settings['timeout'],
                               reconnection_policy=ConstantReconnectionPolicy(1.0, max_attempts=None))
        try:
            self.session = self.cluster.connect()
        except UNREACHABLE as e:
            self.cluster.shutdown()
            raise CassandraUnavailable(f'{self.where}: cannot connect ({e}); is it running, and are '
                                       'CASSANDRA_USERNAME/CASSANDRA_PASSWORD right if it asks for them?') from None
        self._prepared = {}
        self._snapshot = (0.0, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.cluster.shutdown()

    @contextlib.contextmanager
    def answering(self, doing):
        """Errors of a lost or down cluster as one CassandraUnavailable naming it and what was being done."""
        try:
            yield
        except RequestValidationException as e:
            if 'does not exist' not in str(e) and 'unconfigured table' not in str(e):
                raise
            raise QueryError(f'{self.where}: no attributes loaded yet ({e}); run AttributesToCassandra') from None
        except UNREACHABLE as e:
            raise CassandraUnavailable(f'{self.where} did not answer while {doing}: {e}') from None

    def prepare(self, cql):
        """A statement ($keyspace: the configured one), prepared once."""
        if cql not in self._prepared:
            with self.answering('preparing a statement'):
                self._prepared[cql] = self.session.prepare(cql.replace('$keyspace', self.keyspace))
        return self._prepared[cql]

    def execute(self, cql, params=(), consistency=None):
        statement = self.prepare(cql).bind(params)
        if consistency is not None:
            statement.consistency_level = consistency
        with self.answering('querying'):
            return self.session.execute(statement)

    def create_schema(self):
        """Run the versioned schema file (every statement IF NOT EXISTS): the keyspace, tables, indexes."""
        text = string.Template(SCHEMA.read_text()).substitute(keyspace=self.keyspace,
                                                              replication=self.settings['replication'])
        text = '\n'.join(line for line in text.splitlines() if not line.lstrip().startswith('--'))
        with self.answering(f'creating the schema ({SCHEMA.name})'):
            for statement in filter(str.strip, text.split(';')):
                self.session.execute(statement, timeout=max(120.0, self.settings['timeout']))

    def loaded(self):
        """The newest snapshot loaded completely: its marker row, or None. Asked again after SNAPSHOT_SECONDS
        only: a lookup is then one read."""
        if time.monotonic() > self._snapshot[0]:
            rows = [r for r in self.execute('SELECT snapshot_date, loaded, calculator_version, tracks, rejected, '
                                            'finished FROM $keyspace.loaded_snapshots') if r.loaded]
            self._snapshot = (time.monotonic() + SNAPSHOT_SECONDS,
                              max(rows, key=lambda r: r.snapshot_date.date()) if rows else None)
        return self._snapshot[1]

    def track(self, track_id):
        """{attribute: value, 'snapshot': date served, 'computed_in', 'calculator_version'}; or QueryError."""
        if not TRACK_ID.match(track_id or ''):
            raise QueryError(f'{track_id!r} is not a Spotify track ID (22 letters and digits)')
        row = self.execute(f'SELECT {", ".join(COLUMNS)} FROM $keyspace.track_attributes WHERE track_id = ?',
                           [track_id]).one()
        snapshot = self.loaded()
        if row is None:
            reject = self.execute('SELECT reason, calculator_version FROM $keyspace.attribute_rejects '
                                  'WHERE track_id = ?', [track_id]).one()
            as_of = f'the attributes snapshot of {snapshot.snapshot_date}' if snapshot else 'Cassandra (nothing loaded)'
            if reject:
                raise QueryError(f'track {track_id} has no attributes in {as_of}: {reject.reason} '
                                 f'(calculator version {reject.calculator_version})')
            raise QueryError(f'track {track_id} is not in {as_of}')
        return self._record(row, snapshot)

    def in_range(self, ranges, key=None, mode=None, limit=20):
        """Tracks whose attributes are in every [low, high] of `ranges` ({name: (low, high)}; None for no
        bound), and of the given key and mode; at most `limit`, in no particular order."""
        conditions, params = self._filter(key, mode)
        for name, (low, high) in ranges.items():
            if name not in RANGED:
                raise QueryError(f'no range on {name!r}: the indexed ranges are {", ".join(RANGED)}')
            for bound, op in ((low, '>='), (high, '<=')):
                if bound is not None:
                    if not isinstance(bound, (int, float)) or not math.isfinite(bound):
                        raise QueryError(f'{name}: {bound!r} is not a number')
                    conditions.append(f'{name} {op} ?')
                    params.append(float(bound))
            if low is not None and high is not None and low > high:
                raise QueryError(f'{name}: the range {low}..{high} is empty (low above high)')
        if not conditions:
            raise QueryError('give at least one range, key or mode')
        rows = self.execute(f'SELECT {", ".join(COLUMNS)} FROM $keyspace.track_attributes '
                            f'WHERE {" AND ".join(conditions)} LIMIT ?', [*params, self._limit(limit)])
        snapshot = self.loaded()
        return [self._record(row, snapshot) for row in rows]

    def similar(self, track_id=None, vector=None, k=10, key=None, mode=None):
        """The k tracks nearest to a track's features (the track itself excluded) or to a vector, optionally
        of a key and mode: [(record, distance)], nearest first."""
        if (track_id is None) == (vector is None):
            raise QueryError('give a track ID or a vector, not both')
        if track_id is not None:
            self.track(track_id)  # an unknown or rejected track: its own clear answer
            vector = list(self.execute('SELECT features FROM $keyspace.track_attributes WHERE track_id = ?',
                                       [track_id]).one().features)
        elif len(vector) != FEATURES or not all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in vector):
            raise QueryError(f'a vector is {FEATURES} numbers in [0, 1] (see features()); got {vector!r}')
        conditions, params = self._filter(key, mode)
        limit = self._limit(k) + (track_id is not None)
        rows = self.execute(f'SELECT {", ".join(COLUMNS)}, features FROM $keyspace.track_attributes'
                            f'{" WHERE " + " AND ".join(conditions) if conditions else ""} '
                            'ORDER BY features ANN OF ? LIMIT ?', [*params, [float(v) for v in vector], limit],
                            consistency=ConsistencyLevel.LOCAL_ONE)  # Cassandra 5.0's ANN allows no higher
        snapshot = self.loaded()
        found = [(self._record(row, snapshot), math.dist(row.features, vector))
                 for row in rows if row.track_id != track_id]
        return found[:limit - (track_id is not None)]

    @staticmethod
    def _filter(key, mode):
        conditions, params = [], []
        for name, value, allowed in (('key', key, range(-1, 12)), ('mode', mode, range(-1, 2))):
            if value is not None:
                if value not in allowed:
                    raise QueryError(f'{name} {value!r}: one of {allowed.start}..{allowed.stop - 1}')
                conditions.append(f'{name} = ?')
                params.append(int(value))
        return conditions, params

    @staticmethod
    def _limit(limit):
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise QueryError(f'a limit of {limit!r}: 1 to 1000')
        return limit

    @staticmethod
    def _record(row, snapshot):
        record = {name: getattr(row, name) for name in COLUMNS}
        record['computed_in'] = record['computed_in'].date()
        record['snapshot'] = snapshot.snapshot_date.date() if snapshot else None
        return record


def _bounds(text):
    """'118:122', '0.8:' or ':0.3' -> (low, high), None for an open end."""
    low, sep, high = text.partition(':')
    if not sep:
        raise argparse.ArgumentTypeError(f'{text!r}: a range is LOW:HIGH, either end may be left out')
    try:
        return tuple(float(v) if v.strip() else None for v in (low, high))
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r}: LOW and HIGH are numbers') from None


def _vector(text):
    try:
        return [float(v) for v in text.split(',')]
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r}: a vector is numbers separated by commas') from None


def _print(records):
    names = ('track_id', 'tempo', 'key', 'mode', 'energy', 'danceability', 'valence', 'acousticness', 'distance')
    rows = [[f'{r.get(n, d):.3f}' if isinstance(r.get(n, d), float) else str(r.get(n, d)) for n in names]
            for r, d in records]
    shown = [n for n in names if n != 'distance' or records and records[0][1] is not None]
    widths = [max([len(n), *(len(row[i]) for row in rows)]) for i, n in enumerate(shown)]
    for line in [shown, *rows]:
        print('  '.join(v.rjust(w) for v, w in zip(line, widths)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='command', required=True)
    commands.add_parser('track', help="one track's attributes").add_argument('track_id')
    ranged = commands.add_parser('range', help='tracks with attributes in ranges')
    for name in RANGED:
        ranged.add_argument(f'--{name}', type=_bounds, metavar='LOW:HIGH')
    similar = commands.add_parser('similar', help='the tracks nearest to a track, or to a vector')
    similar.add_argument('track_id', nargs='?')
    similar.add_argument('--vector', type=_vector, help=f'{FEATURES} numbers in [0, 1], comma-separated')
    similar.add_argument('--k', type=int, default=10)
    for sub in (ranged, similar):
        sub.add_argument('--key', type=int, help='pitch class 0..11, -1 none detected')
        sub.add_argument('--mode', type=int, help='1 major, 0 minor')
    ranged.add_argument('--limit', type=int, default=20)
    args = parser.parse_args(argv)
    try:
        with AttributeStore() as store:
            if args.command == 'track':
                record = store.track(args.track_id)
                print(f'track {record.pop("track_id")}: snapshot {record.pop("snapshot")}, computed in '
                      f'{record.pop("computed_in")}, calculator version {record.pop("calculator_version")}')
                for name, value in record.items():
                    print(f'  {name:17} {value}')
            elif args.command == 'range':
                ranges = {name: getattr(args, name) for name in RANGED if getattr(args, name)}
                found = store.in_range(ranges, key=args.key, mode=args.mode, limit=args.limit)
                _print([(r, None) for r in found])
                print(f'{len(found)} tracks (at most {args.limit}), snapshot '
                      f'{found[0]["snapshot"] if found else "-"}')
            else:
                _print(store.similar(args.track_id, args.vector, k=args.k, key=args.key, mode=args.mode))
    except (QueryError, CassandraUnavailable, config.ConfigError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
