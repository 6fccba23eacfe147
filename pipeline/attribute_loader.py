"""Bring Cassandra's tables to an attributes snapshot, reading only the files that changed.

A snapshot file's name identifies its content across snapshots (see pipeline/attribute_snapshots.py), so the tables move from
the snapshot loaded last to the new one by reading only the files that differ: the tracks of the new
snapshot's files that the old one lacks are written, unless they hold the same values in the old one's
files that the new one lacks (a part rewritten for one changed track carries the others), and the
tracks of those old files not written again are deleted. A calculator or schema version change
reloads every track.

Crash safety: before any table write, the marker table gets the date's row with `loaded = false` and
its file names; only the last statement sets `loaded = true`. Tables touched by an unfinished load hold
some of its files' tracks: the next load also undoes those (its files count as possibly held, and any
file of the new snapshot such a track may have overwritten is written again). Writes are upserts and
deletes by key, so doing any of it twice changes nothing.
"""
import contextlib
import datetime
import itertools
import logging
import re

from cassandra.concurrent import execute_concurrent
from cassandra.policies import RetryPolicy
from cassandra.query import BatchStatement, BatchType

from pipeline import analysis_sets, attribute_snapshots, paths, records
from pipeline.attribute_store import ATTRIBUTES, SCHEMA_VERSION, features

log = logging.getLogger('luigi-interface')
WRITTEN_ON = re.compile(r'part-(\d{8})-\d+\.avro$')
INSERT = {
    'attributes': 'INSERT INTO $keyspace.track_attributes (track_id, calculator_version, computed_in, '
                  f'{", ".join(ATTRIBUTES)}, features) VALUES ({", ".join("?" * (len(ATTRIBUTES) + 4))})',
    'attribute_reject': 'INSERT INTO $keyspace.attribute_rejects (track_id, calculator_version, computed_in, '
                        'reason) VALUES (?, ?, ?, ?)',
}
DELETE = {'attributes': 'DELETE FROM $keyspace.track_attributes WHERE track_id = ?',
          'attribute_reject': 'DELETE FROM $keyspace.attribute_rejects WHERE track_id = ?'}


def schema_of(name):
    return 'attribute_reject' if '/_rejects/' in name else 'attributes'


def written_on(name):
    """The date of the snapshot that wrote a file: in its name."""
    return datetime.datetime.strptime(WRITTEN_ON.search(name)[1], '%Y%m%d').date()


def markers(store):
    """The marker table's rows: date -> row."""
    return {r.snapshot_date.date(): r for r in store.execute(
        'SELECT snapshot_date, loaded, schema_version, calculator_version, files FROM $keyspace.loaded_snapshots')}


def newest_loaded(store):
    loaded = [date for date, row in markers(store).items() if row.loaded]
    return max(loaded) if loaded else None


def plan(rows, target, version):
    """(files to write, {file held now but not in the target: the date of the snapshot holding it}, whether
    the tables are known to hold exactly the removed files' values: then an unchanged track is not written).

    rows: the marker rows; target: the new snapshot's file names."""
    loaded = [d for d, r in rows.items() if r.loaded]
    base = rows[max(loaded)] if loaded else None
    unfinished = [r for r in rows.values() if not r.loaded]
    held = {}
    for row in sorted(unfinished, key=lambda r: r.snapshot_date.date()) + ([base] if base else []):
        held.update({name: row.snapshot_date.date() for name in row.files or ()})
    same = bool(base) and (base.schema_version, base.calculator_version) == (SCHEMA_VERSION, version)
    clean = set(base.files or ()) if same else set()
    for row in unfinished:  # its writes may have overwritten tracks of any file it does not have
        clean &= set(row.files or ())
    removed = {name: date for name, date in held.items() if name not in target}
    return sorted(set(target) - clean), removed, same and not unfinished


def load(store, warehouse, project, date, status=lambda message: None):
    """Bring the tables to the attributes snapshot of `date`; its counts (written, deleted, ...)."""
    snapshot = paths.attribute_snapshot(project, date)
    success = analysis_sets.read_success(warehouse, snapshot)
    version = success['calculator_version']
    by_chunk = attribute_snapshots.snapshot_files(warehouse, snapshot)
    target = {path[len(snapshot) + 1:]: chunk for chunk, files in by_chunk.items() for path in files}
    store.create_schema()
    rows = markers(store)
    newer = [d for d, r in rows.items() if r.loaded and d > date]
    if newer:
        log.info('%s already holds the newer attributes snapshot of %s: %s is not loaded', store.where,
                 max(newer), date)
        return {'skipped': f'{max(newer)} is loaded'}
    write, removed, trusted = plan(rows, target, version)
    counts = {'snapshot': str(date), 'calculator_version': version, 'tracks': success['tracks'],
              'rejected': success['rejected'], 'files': len(target), 'files_written': len(write),
              'files_removed': len(removed), 'written': 0, 'unchanged': 0, 'deleted': 0}
    store.execute('INSERT INTO $keyspace.loaded_snapshots (snapshot_date, loaded, schema_version, '
                  'calculator_version, files, started) VALUES (?, false, ?, ?, ?, ?)',
                  [date, SCHEMA_VERSION, version, set(target), datetime.datetime.now(datetime.timezone.utc)])
    chunks = sorted({target[name] for name in write} | {int(name.split('/')[0][len('chunk-'):]) for name in removed})
    for done, chunk in enumerate(chunks):
        status(f'loading {snapshot} into {store.where}: chunk {chunk} ({done + 1} of {len(chunks)}), '
               f'{counts["written"]:,} tracks written, {counts["deleted"]:,} deleted')
        prefix = paths.chunk('', chunk)[1:] + '/'
        gone = {f'{paths.attribute_snapshot(project, held_by)}/{name}': schema_of(name)
                for name, held_by in removed.items() if name.startswith(prefix)}
        held = _held(warehouse, gone) if trusted else {}
        kept = {'attributes': set(), 'attribute_reject': set()}
        for name in (n for n in write if n.startswith(prefix)):
            _write(store, warehouse, f'{snapshot}/{name}', schema_of(name), kept, held, counts)
        for path, schema in gone.items():
            counts['deleted'] += _delete(store, warehouse, path, schema, kept)
    _finish(store, date, rows, counts)
    log.info('%s now holds the attributes snapshot %s: %s', store.where, snapshot, counts)
    return counts


def _held(warehouse, files):
    """(schema, track ID) -> values, of the records of files the tables hold: what needs no writing again."""
    held = {}
    for path, schema in files.items():
        with _reading(warehouse, path) as f:
            held.update(((schema, r['track_id']), tuple(r.values())) for r in records.read(f, schema))
    return held


@contextlib.contextmanager
def _reading(warehouse, path):
    """A file of a loaded snapshot, which must still be in the warehouse."""
    try:
        with warehouse.open_read(path) as f:
            yield f
    except FileNotFoundError:
        raise RuntimeError(f'{path} is gone from the warehouse, but Cassandra holds its tracks: which of them to '
                           'delete is unknown. Truncate the tables track_attributes, attribute_rejects and '
                           'loaded_snapshots, then load again (a full load).') from None


class RetryWrites(RetryPolicy):
    """A load's upserts and deletes by key may be done twice: a timed-out write is tried again, 3 times at
    most (the driver's default gives up on any but a logged batch)."""

    def on_write_timeout(self, query, consistency, write_type, required_responses, received_responses, retry_num):
        return (self.RETRY, consistency) if retry_num < 3 else (self.RETHROW, None)


def _concurrently(store, cql, params, path):
    """Run a statement for each parameter list, in unlogged batches of [cassandra] batch_rows, several in flight:
    2-3 times the rows/s of single statements (the driver's cost is per request). Returns the rows."""
    prepared, rows, size = store.prepare(cql), 0, store.settings['batch_rows']

    def batches():
        nonlocal rows
        params_left = iter(params)
        while chunk := list(itertools.islice(params_left, size)):
            batch = BatchStatement(batch_type=BatchType.UNLOGGED, retry_policy=RetryWrites())
            for values in chunk:
                batch.add(prepared, values)
            rows += len(chunk)
            yield batch, ()
    with store.answering(f'loading {path} (run the same command again once it answers: the load resumes)'):
        for _ in execute_concurrent(store.session, batches(), concurrency=store.settings['concurrency'],
                                    raise_on_first_error=True, results_generator=True):
            pass
    return rows


def _write(store, warehouse, path, schema, kept, held, counts):
    """Write the tracks of a file, except those the tables already hold with these values."""
    computed_in = written_on(path)

    def rows():
        with warehouse.open_read(path) as f:
            for r in records.read(f, schema):
                kept[schema].add(r['track_id'])
                if held.get((schema, r['track_id'])) == tuple(r.values()):
                    counts['unchanged'] += 1
                elif schema == 'attributes':
                    yield [r['track_id'], r['calculator_version'], computed_in,
                           *(r[name] for name in ATTRIBUTES), features(r)]
                else:
                    yield [r['track_id'], r['calculator_version'], computed_in, r['reason']]
    counts['written'] += _concurrently(store, INSERT[schema], rows(), path)


def _delete(store, warehouse, path, schema, kept):
    """Delete the tracks of a file no longer in the snapshot, except those written again."""
    with _reading(warehouse, path) as f:
        gone = [[track_id] for track_id in records.track_ids(f) if track_id not in kept[schema]]
    return _concurrently(store, DELETE[schema], gone, path)


def _finish(store, date, rows, counts):
    """The date's marker says loaded; the markers of unfinished loads go (undone now), and the files of the
    previous load (nothing diffs against them any more)."""
    store.execute('UPDATE $keyspace.loaded_snapshots SET loaded = true, finished = ?, tracks = ?, rejected = ?, '
                  'written = ?, deleted = ? WHERE snapshot_date = ?',
                  [datetime.datetime.now(datetime.timezone.utc), counts['tracks'], counts['rejected'],
                   counts['written'], counts['deleted'], date])
    for other, row in rows.items():
        if other != date and not row.loaded:
            store.execute('DELETE FROM $keyspace.loaded_snapshots WHERE snapshot_date = ?', [other])
        elif other != date and row.files:
            store.execute('UPDATE $keyspace.loaded_snapshots SET files = null WHERE snapshot_date = ?', [other])
