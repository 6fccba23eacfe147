"""Analysis sets: full snapshots and daily incremental sets, and which tracks they hold.

Every set is laid out alike: chunk-NN/ directories (a track's chunk is dump.chunk_of(track_id)),
each with part-NNNNN.avro files and, beside each part, _ids/part-NNNNN.ids: the track IDs it holds,
one a line. Those small files are the index: what a set holds is known without reading analyses.

The calendar: the bulk ingest makes the first full snapshot; every `full_every_days` days after it a
compaction makes the next; the days between get an incremental set. So each date after the first
snapshot has exactly one set, once its compaction has deleted the sets it made obsolete.
"""
import ast
import contextlib
import datetime
import io
import json
import shutil
import tempfile
import zlib

from pipeline import dump, fs, ledger, paths, records


class CalendarError(ValueError):
    pass


def write_ids(warehouse, path, ids):
    with warehouse.open_write(path) as f:
        f.write(''.join(f'{i}\n' for i in ids).encode())


def part_numbers(warehouse, chunk_dir):
    return [int(n[5:10]) for n in warehouse.listdir(chunk_dir) if n.startswith('part-') and n.endswith('.avro')]


def indexed_parts(warehouse, chunk_dir):
    """Part numbers from the index: the same as part_numbers, and still there once the parts are gone."""
    return [int(n[5:10]) for n in warehouse.listdir(f'{chunk_dir}/_ids') if n.endswith('.ids')]


def part_ids(warehouse, chunk_dir, number):
    with warehouse.open_read(paths.part_ids(chunk_dir, number)) as f:
        return f.read().decode().split()


def held_ids(warehouse, chunk_dir):
    """Every track ID a chunk of a set holds, from its index files alone."""
    for number in indexed_parts(warehouse, chunk_dir):
        yield from part_ids(warehouse, chunk_dir, number)


def chunk_records(warehouse, chunk_dir):
    for number in part_numbers(warehouse, chunk_dir):
        with warehouse.open_read(paths.part(chunk_dir, number)) as f:
            yield from records.read(f, 'analysis')


def is_complete(warehouse, directory):
    return warehouse.exists(paths.success(directory))


def read_success(warehouse, directory):
    with warehouse.open_read(paths.success(directory)) as f:
        return json.load(f)


class Calendar:
    def __init__(self, first_snapshot, full_every_days):
        self.first = first_snapshot
        self.every = full_every_days

    def check(self, date):
        if date < self.first:
            raise CalendarError(
                f'{date} is before the first full snapshot ({self.first}, [analysis] first_snapshot in '
                f'luigi.cfg): there is no analysis set for it; start at {self.first} or later')

    def is_full(self, date):
        self.check(date)
        return (date - self.first).days % self.every == 0

    def last_full(self, date):
        """The full snapshot day on or before `date`."""
        self.check(date)
        return date - datetime.timedelta(days=(date - self.first).days % self.every)

    def current_sets(self, project, date):
        """The sets that together hold everything analysed before `date`: a full snapshot, then
        the incremental sets after it."""
        full = self.last_full(date - datetime.timedelta(days=1))
        days = (date - full).days
        return [paths.full_snapshot(project, full)] + [
            paths.incremental_set(project, full + datetime.timedelta(days=k)) for k in range(1, days)]


def complete_dates(warehouse, directory):
    """Dates of the complete sets under `directory`, oldest first, from one listing: a set is renamed
    into its dated directory only once complete."""
    dates = []
    for name in warehouse.listdir(directory):
        try:
            dates.append(datetime.date.fromisoformat(name))
        except ValueError:
            continue  # staging and other hidden entries
    return dates


def complete_full_snapshots(warehouse, project):
    return complete_dates(warehouse, paths.analysis_sets(project, 'full'))


def publish(warehouse, directory, totals):
    """Mark a staged set complete and rename it into place, in that order."""
    staging = paths.staging(directory)
    fs.remove_temporaries(warehouse, staging)
    with warehouse.open_write(paths.success(staging)) as f:
        f.write(json.dumps(totals, indent=1).encode())
    warehouse.rename(staging, directory)


def kept_index(warehouse, directory):
    """A set's directory, or once a compaction deleted the set, its stub: where its index and counts stay."""
    return directory if is_complete(warehouse, directory) else paths.superseded_of(directory)


def superseded(warehouse, project, date):
    """Whether a complete full snapshot after `date` holds everything the full snapshot of `date` held:
    then it may be gone, and must not be made again."""
    return any(d > date for d in complete_full_snapshots(warehouse, project))


def new_rows_by_chunk(warehouse, date, set_dirs, chunks, schedule=None, out=None):
    """What the incremental set of `date` tries, one ledger.ChunkPlan a chunk: the dump rows that no set in
    `set_dirs` holds and the ledger does not list (new tracks), the ledger's tracks that are due or whose
    dump row changed, and the tracks held whose S3 key differs from yesterday's dump (re-analysed).

    A grace hash join: a pass over the dump spills its rows to their chunk's files, then each chunk is
    decided against its index, its ledger and yesterday's keys alone (memory holds one chunk's IDs).
    With `out` (the staged set), each chunk's keys are left in it for tomorrow's set (paths.dump_keys)."""
    schedule = schedule or ledger.Schedule()
    today = _spill(dump.rows(warehouse, date), chunks, schedule.key, whole_rows=True)
    yesterday = _yesterday_keys(warehouse, schedule, chunks)
    plans = []
    for chunk, (keys_file, rows_file) in enumerate(today):
        held = set()
        for set_dir in set_dirs:
            held.update(held_ids(warehouse, paths.chunk(set_dir, chunk)))
        with yesterday[chunk] as lines:
            unchanged = set(lines)  # "track ID<TAB>key checksum" lines: a track with the same key yesterday
        known = None  # the IDs in yesterday's dump, whatever their key: made for the first held track whose key changed
        plan = ledger.ChunkPlan()
        listed = {e['track_id']: e for e in ledger.read(warehouse, paths.chunk(schedule.ledger_set, chunk))} \
            if schedule.ledger_set else {}
        with keys_file, rows_file:
            for line, row in zip(keys_file, rows_file):
                plan.catalog += 1
                track_id = line.partition('\t')[0]
                entry = listed.pop(track_id, None)
                if entry:
                    text = ledger.row_text(ast.literal_eval(row))
                    if entry['dump_row'] != text:
                        plan.add('changed', text)
                    elif ledger.is_due(entry, date, schedule.retry_all):
                        plan.retry(entry, text)
                    else:
                        plan.carry(entry)
                elif track_id not in held:
                    plan.add('new', ledger.row_text(ast.literal_eval(row)))
                elif line not in unchanged:
                    if known is None:
                        known = {kept.partition('\t')[0] for kept in unchanged}
                    if track_id in known:
                        plan.add('reanalysed', ledger.row_text(ast.literal_eval(row)))
            if out:
                _keep(warehouse, keys_file, paths.dump_keys(paths.chunk(out, chunk)))
        plans.append(plan.ready())
    return plans


def write_dump_keys(warehouse, set_dir, date, chunks, key):
    """The dump_keys of every chunk of a set made from the whole dump of its date (the bulk ingest's)."""
    for chunk, (keys_file,) in enumerate(_spill(dump.rows(warehouse, date, validate=False), chunks, key)):
        with keys_file:
            _keep(warehouse, keys_file, paths.dump_keys(paths.chunk(set_dir, chunk)))


def _keep(warehouse, keys_file, path):
    keys_file.seek(0)
    with warehouse.open_write(path) as f:
        shutil.copyfileobj(keys_file.buffer, f)


def _yesterday_keys(warehouse, schedule, chunks):
    """Each chunk's lines of track ID and key checksum in yesterday's dump: the dump_keys files yesterday's
    set left, or, where it has none (a set a compaction retired, or one older than them), a pass over the dump."""
    if not schedule.yesterday:
        return [contextlib.nullcontext(()) for _ in range(chunks)]
    kept = [paths.dump_keys(paths.chunk(schedule.ledger_set, chunk)) for chunk in range(chunks)]
    if schedule.ledger_set and all(warehouse.exists(path) for path in kept):
        return [_text_lines(warehouse, path) for path in kept]
    return [keys_file for keys_file, in _spill(dump.rows(warehouse, schedule.yesterday, validate=False), chunks,
                                               schedule.key)]


@contextlib.contextmanager
def _text_lines(warehouse, path):
    with warehouse.open_read(path) as f:
        yield io.TextIOWrapper(f)


def _spill(rows, chunks, key, whole_rows=False):
    """Each row's track ID and a checksum of its S3 key (32 bits: a re-analysis is missed once in four
    billion) as a line of its chunk's temporary keys file, and with whole_rows the row, as a Python literal
    (cheaper to write than JSON, and read back only for the few rows fetched or listed), as the same line of
    its chunk's rows file. Returns each chunk's files, at their start."""
    files = [[tempfile.TemporaryFile('w+') for _ in range(1 + whole_rows)] for _ in range(chunks)]
    # Written a thousand lines at a time: each write to a text file open for reading resets its decoder.
    pending = [[[] for _ in range(1 + whole_rows)] for _ in range(chunks)]
    for row in rows:
        track_id = row['track_id']
        chunk = dump.chunk_of(track_id, chunks)
        lines = pending[chunk]
        lines[0].append(f'{track_id}\t{zlib.crc32(key(row).encode())}\n')
        if whole_rows:
            lines[1].append(f'{row!r}\n')
        if len(lines[0]) == 1000:
            _flush(files[chunk], lines)
    for chunk_files, lines in zip(files, pending):
        _flush(chunk_files, lines)
        for f in chunk_files:
            f.seek(0)
    return files


def _flush(files, pending):
    for f, lines in zip(files, pending):
        f.write(''.join(lines))
        lines.clear()
