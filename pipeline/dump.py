"""The metadata dump: the daily list of every track, as Avro part files in /metadata/dump/<date>/."""
import re
import zlib

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


def rows(warehouse, date, validate=True):
    """Every row of the dump in a stable order, validated; a bad row stops with its file and row number.
    validate=False skips the checks of each row (a third of the time) for a dump read before."""
    for path in part_files(warehouse, date):
        try:
            with warehouse.open_read(path) as f:
                resolve = not records.has_schema(f, 'metadata_dump')
            with warehouse.open_read(path) as f:
                for number, row in enumerate(records.read(f, 'metadata_dump', resolve), 1):
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
        except (ValueError, EOFError, KeyError, TypeError, fastavro.read.SchemaResolutionError) as e:
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
