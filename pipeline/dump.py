"""The metadata dump: the daily list of every track, as Avro part files in /metadata/dump/<date>/.

    python -m pipeline.dump --date 2014-09-01 tracks.csv     publish a dump from a CSV file

Dumps come from other teams' tools: a record of any name is read if its fields fit the dump schema.
"""
import argparse
import csv
import datetime
import json
import re
import zlib
from importlib import resources

import fastavro

from pipeline import paths, records

TRACK_ID = re.compile(r'[0-9A-Za-z]{22}')


class DumpError(ValueError):
    pass


def chunk_of(track_id, chunks):
    """The chunk a track belongs to: stable across runs, dates and machines (unlike hash())."""
    return zlib.crc32(track_id.encode()) % chunks


def part_files(warehouse, date):
    directory = paths.metadata_dump(date)
    names = [n for n in warehouse.listdir(directory) if n.endswith('.avro') and not n.startswith(('.', '_'))]
    if not names:
        raise DumpError(f'metadata dump {directory} in {warehouse} has no .avro part files: '
                        f'is the dump for {paths.day(date)} published?')
    return [f'{directory}/{n}' for n in names]


def reader_schema(path, writer):
    """The schema to read a dump file written with `writer` by: None when it is ours (read as it is, twice
    as fast); else ours under the writer's record name, since Avro resolves records by name and another
    tool may name its record anything. A record lacking a field the dump needs: one DumpError saying so."""
    if records.canonical(writer) == records.canonical(records.schema('metadata_dump')):
        return None
    ours = json.loads(resources.files('pipeline').joinpath('schemas/metadata_dump.avsc').read_text())
    if not isinstance(writer, dict) or writer.get('type') != 'record':
        raise DumpError(f'metadata dump {path} holds {writer.get("type", writer) if isinstance(writer, dict) else writer}'
                        f' values, not records: see the dump format in README.md')
    present = {f['name'] for f in writer['fields']}
    missing = [f['name'] for f in ours['fields'] if f['name'] not in present and 'default' not in f]
    if missing:
        raise DumpError(f'metadata dump {path}: its records ({writer["name"]}) have no {" or ".join(missing)} '
                        f'field, which every dump row needs; see the dump format in README.md')
    ours.pop('namespace')
    ours.update({k: writer[k] for k in ('name', 'namespace') if k in writer})
    return fastavro.parse_schema(ours)


def _type_differences(writer):
    ours = {f['name']: f['type'] for f in records.schema('metadata_dump')['fields']}
    return ', '.join(f'{f["name"]} is {json.dumps(f["type"])} there, {json.dumps(ours[f["name"]])} in the dump schema'
                     for f in writer['fields'] if f['name'] in ours and f['type'] != ours[f['name']])


def rows(warehouse, date, validate=True):
    """Every row of the dump in a stable order, validated; a bad row stops with its file and row number.
    validate=False skips the checks of each row (a third of the time) for a dump read before."""
    for path in part_files(warehouse, date):
        try:
            with warehouse.open_read(path) as f:
                writer = records.writer_schema(f)
            with warehouse.open_read(path) as f:
                for number, row in enumerate(fastavro.reader(f, reader_schema=reader_schema(path, writer)), 1):
                    if not validate:
                        yield row
                        continue
                    if not TRACK_ID.fullmatch(row['track_id']):
                        raise DumpError(f'metadata dump {path} row {number}: track_id {row["track_id"]!r} is not '
                                        f'a 22-character base62 Spotify ID; fix the dump and run again')
                    if not row['echonest_id']:
                        raise DumpError(f'metadata dump {path} row {number} (track {row["track_id"]}): empty '
                                        f'echonest_id, so no S3 key can be derived; fix the dump and run again')
                    yield row
        except DumpError:
            raise
        except fastavro.read.SchemaResolutionError as e:
            raise DumpError(f'metadata dump {path}: its fields do not have the types of the dump schema '
                            f'({_type_differences(writer) or e}); see the dump format in README.md') from None
        except (ValueError, EOFError, KeyError, TypeError) as e:
            raise DumpError(f'metadata dump {path} is not a readable dump ({type(e).__name__}: {e}); '
                            f'see the dump format in README.md') from e


def chunk_rows(warehouse, date, chunk, chunks):
    return (row for row in rows(warehouse, date) if chunk_of(row['track_id'], chunks) == chunk)


def write(warehouse, date, dump_rows, files=1):
    """Publish a dump (used by the sample generator and tests): part files, then _SUCCESS."""
    dump_rows = list(dump_rows)
    directory = paths.metadata_dump(date)
    for n in range(files):
        with warehouse.open_write(f'{directory}/part-{n:05d}.avro') as f:
            records.write(f, 'metadata_dump', dump_rows[n::files])
    with warehouse.open_write(paths.success(directory)) as f:
        f.write(b'')


def read_csv(path):
    """Dump rows from a CSV file with a header naming the dump's fields (analysis_version and duration_ms
    optional)."""
    with open(path, newline='') as f:
        for number, row in enumerate(csv.DictReader(f), 2):
            if not row.get('track_id') or not row.get('echonest_id'):
                raise DumpError(f'{path} line {number}: track_id and echonest_id are needed in every row')
            duration = row.get('duration_ms') or None
            if duration is not None and not duration.isdigit():
                raise DumpError(f'{path} line {number}: duration_ms {duration!r} is not a whole number of ms')
            yield {'track_id': row['track_id'], 'echonest_id': row['echonest_id'],
                   'analysis_version': row.get('analysis_version') or '3',
                   'duration_ms': int(duration) if duration else None}


def main():
    from pipeline import config, fs
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--date', type=datetime.date.fromisoformat, required=True)
    parser.add_argument('csv', help='track_id,echonest_id[,analysis_version][,duration_ms], with that header')
    args = parser.parse_args()
    warehouse = fs.open_warehouse(config.settings()['warehouse'])
    write(warehouse, args.date, read_csv(args.csv))
    print(f'published {paths.metadata_dump(args.date)} in {warehouse}')


if __name__ == '__main__':
    main()
