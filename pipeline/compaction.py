"""Compaction: the last full snapshot and the incremental sets after it, merged into a new full snapshot.

Chunk by chunk, each a map task (jobs/mr_compact_chunk.py). A part of the old full snapshot that holds no
track of the incremental sets (the index says so, without reading it) is carried as it is, with its
index: a hard link in a local warehouse, a copy on HDFS; a part that does is rewritten without those
tracks, since the newest analysis of a track wins. The incremental sets' parts follow, their Avro
blocks concatenated into one part as they are (rewritten only where a newer set holds a track again). Counts are checked against what the inputs recorded before a chunk is marked
complete; a chunk left half-written by a crash is written again from the start.
"""
import contextlib
import itertools
import json
import logging
from pipeline import analysis_sets, paths, records
from pipeline.analysis_sets import held_ids, part_ids, part_numbers, write_ids

log = logging.getLogger(__name__)


class CompactionError(RuntimeError):
    pass


def write_parts(warehouse, directory, stream, number, ingest_settings):
    """Pack a stream of analysis records into parts from `number` on; (next number, records written)."""
    stream = iter(stream)
    written = 0
    for first in stream:
        ids = []

        def part():
            for record in itertools.chain([first], itertools.islice(stream, ingest_settings['part_tracks'] - 1)):
                ids.append(record['track_id'])
                yield record
        with warehouse.open_write(paths.part(directory, number)) as f:
            records.write(f, 'analysis', part(), ingest_settings)
            write_ids(warehouse, paths.part_ids(directory, number), ids)
        written += len(ids)
        number += 1
    return number, written


def recorded_written(warehouse, chunk_dir):
    return analysis_sets.read_success(warehouse, chunk_dir)['written']


def compact_chunk(warehouse, ingest_settings, chunk, previous_full, incrementals, out_set):
    """Chunk `chunk` of `out_set` from `previous_full` and `incrementals` (oldest first)."""
    out = paths.chunk(out_set, chunk)
    if analysis_sets.is_complete(warehouse, out):
        return analysis_sets.read_success(warehouse, out)
    warehouse.remove(out)
    newest = {}  # track ID -> position of the newest incremental set holding it
    from_incrementals = 0
    for position, incremental in enumerate(incrementals):
        source = paths.chunk(incremental, chunk)
        for track_id in held_ids(warehouse, source):
            newest[track_id] = position
            from_incrementals += 1

    old = paths.chunk(previous_full, chunk)
    from_full = copied = replaced = 0
    rewritten = []
    number = 0
    for part in part_numbers(warehouse, old):
        ids = part_ids(warehouse, old, part)
        from_full += len(ids)
        stale = sum(1 for i in ids if i in newest)
        if stale:
            replaced += stale
            rewritten.append(part)
            continue
        # Files are never changed in place: a hard link locally, a copy on HDFS (made in the map task).
        warehouse.link(paths.part_ids(old, part), paths.part_ids(out, number))
        warehouse.link(paths.part(old, part), paths.part(out, number))
        copied += len(ids)
        number += 1

    # Incremental parts whose every track is newest where it is: their blocks go into one part as they are.
    whole, partial = [], []
    for position, incremental in enumerate(incrementals):
        source = paths.chunk(incremental, chunk)
        for part in part_numbers(warehouse, source):
            ids = part_ids(warehouse, source, part)
            (whole if all(newest[i] == position for i in ids) else partial).append((position, source, part, ids))
    packed = 0
    if any(ids for *_, ids in whole):
        try:
            with contextlib.ExitStack() as stack, warehouse.open_write(paths.part(out, number)) as f:
                sources = (stack.enter_context(warehouse.open_read(paths.part(src, part))) for _, src, part, _ in whole)
                records.concat(sources, f, 'analysis', ingest_settings)
                ids = [i for *_, part_ids_ in whole for i in part_ids_]
                write_ids(warehouse, paths.part_ids(out, number), ids)
            packed, number = len(ids), number + 1
        except ValueError as e:  # written with another codec: decode them instead
            log.info('%s: %s', out, e)
            partial, whole = whole + partial, []

    def rewritten_records():
        for part in rewritten:
            with warehouse.open_read(paths.part(old, part)) as f:
                yield from (r for r in records.read(f, 'analysis') if r['track_id'] not in newest)

    def newest_records():
        for position, source, part, _ in partial:
            with warehouse.open_read(paths.part(source, part)) as f:
                yield from (r for r in records.read(f, 'analysis') if newest[r['track_id']] == position)

    number, repacked = write_parts(warehouse, out, itertools.chain(rewritten_records(), newest_records()),
                                   number, ingest_settings)
    packed += repacked
    if number == 0:
        number, _ = write_parts(warehouse, out, [], 0, ingest_settings)
    duplicates = replaced + (from_incrementals - len(newest))
    written = copied + packed
    recorded = {'previous full': recorded_written(warehouse, old),
                'incrementals': sum(recorded_written(warehouse, paths.chunk(i, chunk)) for i in incrementals)}
    if (from_full, from_incrementals) != (recorded['previous full'], recorded['incrementals']) \
            or written != from_full + from_incrementals - duplicates:
        raise CompactionError(
            f'{out}: counts do not add up, so nothing was deleted: the previous full snapshot holds {from_full} '
            f'tracks (it recorded {recorded["previous full"]}), the incremental sets {from_incrementals} '
            f'(they recorded {recorded["incrementals"]}), {duplicates} duplicates, but {written} were written. '
            f'Check the input sets, then run again.')
    for source in incrementals[-1:]:
        failures = paths.chunk(source, chunk) + '/_failures'
        for name in warehouse.listdir(failures):
            warehouse.link(f'{failures}/{name}', f'{out}/_failures/{name}')
    counts = {'written': written, 'from_previous_full': from_full, 'from_incrementals': from_incrementals,
              'duplicates': duplicates, 'copied': copied, 'packed': packed}
    with warehouse.open_write(paths.success(out)) as f:
        f.write(json.dumps(counts, indent=1).encode())
    log.info('%s: %s', out, counts)
    return counts


def retire(warehouse, directory, stub):
    """Delete a set's analyses and dump keys, keeping its index, failures and counts at `stub`. The set
    leaves its dated directory in one rename, so it is never seen half-deleted; a re-run finishes the
    deletion."""
    if warehouse.exists(directory):
        warehouse.remove(stub)
        warehouse.rename(directory, stub)
    elif warehouse.exists(f'{stub}/_RETIRED'):
        return
    for chunk in [n for n in warehouse.listdir(stub) if n.startswith('chunk-')]:
        for name in warehouse.listdir(f'{stub}/{chunk}'):
            if name.startswith('part-') and name.endswith('.avro'):
                warehouse.remove(f'{stub}/{chunk}/{name}')
        warehouse.remove(paths.dump_keys(f'{stub}/{chunk}'))
    with warehouse.open_write(f'{stub}/_RETIRED') as f:
        f.write(b'')


def remove_obsolete(warehouse, project, date, keep_full_snapshots):
    """After the full snapshot of `date` is complete: the incremental sets it holds, and full snapshots
    beyond the newest `keep_full_snapshots`. A crash here is finished by a re-run."""
    if not analysis_sets.is_complete(warehouse, paths.full_snapshot(project, date)):
        raise CompactionError(f'the full snapshot of {date} is not complete: nothing may be deleted yet')
    fulls = analysis_sets.complete_full_snapshots(warehouse, project)
    obsolete = [('full', d) for d in [d for d in fulls if d < date][:max(0, len(fulls) - keep_full_snapshots)]]
    obsolete += [('incremental', d) for d in analysis_sets.complete_dates(
        warehouse, paths.analysis_sets(project, 'incremental')) if d <= date]
    for kind in ('incremental', 'full'):
        # Sets renamed away by a run that stopped before deleting all their parts: finish them.
        obsolete += [(kind, d) for d in analysis_sets.complete_dates(
            warehouse, paths.analysis_sets(project, 'superseded') + '/' + kind)]
    removed = []
    for kind, day in sorted(set(obsolete)):
        directory = (paths.full_snapshot if kind == 'full' else paths.incremental_set)(project, day)
        retire(warehouse, directory, paths.superseded(project, kind, day))
        removed.append(directory)
    return removed
