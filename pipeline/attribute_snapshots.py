"""The daily attributes snapshot, chunk by chunk: chunk c of a snapshot is made from chunk c of the base
snapshot (yesterday's) and chunk c of the analysis sets alone, so each chunk is one map task.

Layout (a contract with the Cassandra loader): <snapshot>/chunk-NN/part-<YYYYMMDD>-NNNNN.avro and
chunk-NN/_rejects/part-<YYYYMMDD>-NNNNN.avro, each track in exactly one of them; the date in a name is
the snapshot's that wrote the file. A base file holding no track to compute is carried over as it is
(a hard link locally), so a day costs what changed; the tracks computed today go into new parts, with
what is left of the base files that held them. Each file's header lists its track IDs
(records.write_indexed): which files a track touches is known without decoding any.
"""
import collections
import datetime
import itertools
import json
import tempfile

from pipeline import analysis_sets, attributes, paths, records

INTEGERS = ('key', 'mode', 'time_signature')
SCHEMAS = ('attributes', 'attribute_reject')


class AttributesError(RuntimeError):
    pass


def chunk_files(warehouse, chunk_dir):
    """(schema name, path) of a chunk's attributes parts, then of its rejects parts."""
    for schema, directory in zip(SCHEMAS, (chunk_dir, paths.attribute_rejects(chunk_dir))):
        for name in warehouse.listdir(directory):
            if name.startswith('part-') and name.endswith('.avro'):
                yield schema, f'{directory}/{name}'


def snapshot_files(warehouse, snapshot_dir):
    """{chunk number: sorted warehouse paths of its files, attributes and rejects parts}. What changed between
    two snapshots of a chunk is exactly the names in one and not in the other."""
    chunks = [int(name[len('chunk-'):]) for name in warehouse.listdir(snapshot_dir) if name.startswith('chunk-')]
    return {c: sorted(path for _, path in chunk_files(warehouse, paths.chunk(snapshot_dir, c))) for c in chunks}


def write_parts(warehouse, directory, schema, stream, date, part_tracks, ingest_settings):
    """Records into parts of `part_tracks` named for `date`; (files, records) written."""
    stream = iter(stream)
    files = written = 0
    for first in stream:
        with warehouse.open_write(paths.attribute_part(directory, date, files)) as f:
            part = itertools.chain([first], itertools.islice(stream, part_tracks - 1))
            written += len(records.write_indexed(f, schema, part, ingest_settings))
        files += 1
    return files, written


def join_chunk(warehouse, spec, version, ingest_settings):
    """One chunk of an attributes snapshot, as `spec` (made by the driver, tasks/attributes.py) says:
    `base` the base snapshot's chunk or None; `out` the chunk to write; `date`; `compute` the index chunks
    of the sets whose every track is computed; `sources` the analysis chunks to read them from, oldest
    first (the newest analysis of a track wins); `compact` whether small parts are merged; `part_tracks`.
    Returns the chunk's counts."""
    out, date = spec['out'], datetime.date.fromisoformat(spec['date'])
    warehouse.remove(out)  # what a killed attempt left: a chunk is written from the start
    to_compute = set()
    for index in spec['compute']:
        to_compute.update(analysis_sets.held_ids(warehouse, index))
    newest = {}
    for source in spec['sources']:
        for number in analysis_sets.indexed_parts(warehouse, source):
            ids = analysis_sets.part_ids(warehouse, source, number)
            newest.update((i, paths.part(source, number)) for i in ids if i in to_compute)
    if len(newest) < len(to_compute):
        lost = sorted(to_compute - newest.keys())
        raise AttributesError(f'{out}: {len(lost)} tracks to compute (e.g. {", ".join(lost[:3])}) have no analysis '
                              f'in {", ".join(spec["sources"]) or "any set"}: check those analysis sets, then run again')

    counts = collections.Counter(tracks=0, rejected=0, computed=0, kept=0, files_carried=0, files_written=0)
    touched = {schema: [] for schema in SCHEMAS}
    for schema, path in chunk_files(warehouse, spec['base']) if spec['base'] else ():
        with warehouse.open_read(path) as f:
            ids = records.track_ids(f)
        if any(i in to_compute for i in ids) or (spec['compact'] and len(ids) < spec['part_tracks'] // 2):
            touched[schema].append(path)
            continue
        warehouse.link(path, out + path[len(spec['base']):])
        counts['files_carried'] += 1
        counts['kept'] += len(ids)
        counts['tracks' if schema == 'attributes' else 'rejected'] += len(ids)

    def kept(schema):
        """What is left of the base files that held a track computed today (or were small, when compacting)."""
        for path in touched[schema]:
            with warehouse.open_read(path) as f:
                for record in records.read(f, schema):
                    if record['track_id'] not in to_compute:
                        counts['kept'] += 1
                        yield record

    def computed():
        by_part = collections.defaultdict(set)
        for track_id, part in newest.items():
            by_part[part].add(track_id)
        for part, wanted in sorted(by_part.items()):  # each analysis part read once
            with warehouse.open_read(part) as f:
                for record in records.read(f, 'analysis'):
                    if record['track_id'] in wanted:
                        counts['computed'] += 1
                        yield compute(record['track_id'], record['analysis'], version)

    write = dict(warehouse=warehouse, date=date, part_tracks=spec['part_tracks'], ingest_settings=ingest_settings)
    with tempfile.TemporaryFile('w+') as rejects:  # computed rejects wait here while the attributes stream
        def computed_attributes():
            for what, record in computed():
                if what == 'keep':
                    yield record
                else:
                    rejects.write(json.dumps(record) + '\n')
        files, written = write_parts(directory=out, schema='attributes', **write,
                                     stream=itertools.chain(kept('attributes'), computed_attributes()))
        if not [name for name in warehouse.listdir(out) if name.startswith('part-')]:
            with warehouse.open_write(paths.attribute_part(out, date, 0)) as f:  # an empty chunk is still there
                records.write_indexed(f, 'attributes', [], ingest_settings)
            files = 1
        counts['files_written'] += files
        counts['tracks'] += written
        rejects.seek(0)
        files, written = write_parts(directory=paths.attribute_rejects(out), schema='attribute_reject', **write,
                                     stream=itertools.chain(kept('attribute_reject'), map(json.loads, rejects)))
        counts['files_written'] += files
        counts['rejected'] += written
    return dict(counts)


def compute(track_id, analysis_json, version):
    """('keep', attributes record) or ('reject', reject record) for one analysis document."""
    try:
        values = attributes.compute_attributes(json.loads(analysis_json))
        for name in INTEGERS:
            if values[name] != int(values[name]):
                raise attributes.UncomputableAnalysis(f'analysis track.{name} is not a whole number: {values[name]}')
            values[name] = int(values[name])
    except (attributes.UncomputableAnalysis, ValueError, OverflowError) as e:
        return 'reject', {'track_id': track_id, 'calculator_version': version, 'reason': str(e)}
    return 'keep', {'track_id': track_id, 'calculator_version': version, **values}
