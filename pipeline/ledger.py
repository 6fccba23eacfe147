"""The ledger: every track of the dump whose analysis is not written (for its current S3 key), why, and
when it is tried again.

One Avro file per chunk of each analysis set, chunk-NN/_ledger/part-00000.avro (ledger_entry.avsc): the
state as of the set's date. A day's set carries yesterday's entries that are not due and adds the
outcome of the day's attempts; a track written leaves the ledger. Missing keys and transient failures
are tried again after 1, 2, 4, ... days, at most [retry] max_days; bad documents only when their dump
row changes (a re-analysis gives a new S3 key) or after max_days.

    python -m pipeline.ledger retry-now            # the next incremental set tries every listed track
    python -m pipeline.ledger show 2014-09-08      # the ledger of that date's set, by reason
"""
import argparse
import collections
import datetime
import itertools
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Callable

from pipeline import analysis_sets, config, fs, paths, records

# Documents that failed validation: tried again when their dump row changes, or after max_days. Every
# other reason (missing, network, truncated_body, access_denied) backs off after 1, 2, 4, ... days.
BAD_DOCUMENT = ('malformed_json', 'truncated_json', 'bad_gzip', 'not_an_analysis', 'wrong_track')


def row_text(row):
    """A dump row as the ledger keeps it: any change to it makes the track due at once."""
    return json.dumps(row, sort_keys=True)


def next_attempt(reason, attempts, last, max_days):
    days = max_days if reason in BAD_DOCUMENT else min(2 ** (attempts - 1), max_days)
    return last + datetime.timedelta(days=days)


def attempt(failure, previous, today, max_days):
    """The entry after a failed attempt today; `previous` is the track's entry for the same dump row, or None."""
    attempts = previous['attempts'] + 1 if previous else 1
    return {'track_id': failure['track_id'], 's3_key': failure['s3_key'], 'dump_row': failure['dump_row'],
            'reason': failure['reason'], 'detail': failure['detail'], 'attempts': attempts,
            'first_attempt': previous['first_attempt'] if previous else paths.day(today),
            'last_attempt': paths.day(today),
            'next_attempt': paths.day(next_attempt(failure['reason'], attempts, today, max_days))}


def is_due(entry, today, retry_all=False):
    return retry_all or entry['next_attempt'] <= paths.day(today)


@dataclass
class Schedule:
    """What the daily anti-join needs beyond the sets: S3 keys (`key(row)`), the date of yesterday's dump,
    the set holding yesterday's ledger, and whether every listed track is due (a retry-now request)."""
    key: Callable = lambda row: ''
    yesterday: datetime.date = None
    ledger_set: str = None
    retry_all: bool = False


class ChunkPlan:
    """What one chunk of the day's set tries: rows to GET (`fetch`, JSON lines), the due tracks last seen
    missing (`probes`, key and row: a listing may answer for them), the entries carried unchanged, and the
    previous entry of each track tried again."""

    def __init__(self):
        self.fetch, self.probes, self.carried = (tempfile.TemporaryFile('w+') for _ in range(3))
        self.previous = {}
        self.catalog = 0  # the chunk's tracks in the dump
        self.tried = collections.Counter()  # new, changed, reanalysed, and the retried by their last reason
        self.not_listed = []

    def add(self, why, text):
        self.tried[why] += 1
        self.fetch.write(text + '\n')

    def retry(self, entry, text):
        self.previous[entry['track_id']] = entry
        self.tried[entry['reason']] += 1
        if entry['reason'] == 'missing':
            self.probes.write(f'{entry["s3_key"]}\t{text}\n')
        else:
            self.fetch.write(text + '\n')

    def carry(self, entry):
        self.carried.write(json.dumps(entry) + '\n')

    def ready(self):
        for f in (self.probes, self.carried):
            f.seek(0)
        return self

    def settle_probes(self, found, date):
        """GET the probes `found` by a listing (all of them when None); the others were missing again."""
        for line in self.probes:
            key, text = line[:-1].split('\t', 1)
            row = json.loads(text)
            if found is None or row['track_id'] in found:
                self.fetch.write(text + '\n')
            else:
                self.not_listed.append({'track_id': row['track_id'], 's3_key': key, 'reason': 'missing',
                                        'detail': f'not in the listing of {paths.day(date)}', 'dump_row': text})
        self.probes.close()

    def rows(self):
        self.fetch.seek(0)
        return (json.loads(line) for line in self.fetch)

    def known(self):
        return {track_id: entry['reason'] for track_id, entry in self.previous.items()}

    def entries(self, failed, date, max_days):
        """Today's ledger of the chunk: the entries carried, and an attempt for each track `failed` today."""
        self.carried.seek(0)
        yield from (json.loads(line) for line in self.carried)
        for failure in itertools.chain(failed, self.not_listed):
            yield attempt(failure, self.previous.get(failure['track_id']), date, max_days)


def listing_pays(probes, catalog, prices):
    """Whether listing is cheaper than a GET per probe: a LIST answers for up to 1,000 keys of the bucket,
    so about min(probes, catalog / 1000) of them at list_per_1000, against probes at get_per_1000."""
    lists = min(probes, catalog / 1000 + 1)
    return lists * prices['list_per_1000'] < probes * prices['get_per_1000']


def listed(store, plans):
    """{chunk: track IDs whose key exists} for the probes of `plans`, from listings in key order. The
    probes are sorted on disk (sort(1), bytewise: S3's order), so memory holds none of them."""
    with tempfile.NamedTemporaryFile('w') as probes, tempfile.NamedTemporaryFile('r') as ordered:
        for chunk, plan in enumerate(plans):
            for line in plan.probes:
                key, text = line.split('\t', 1)
                probes.write(f'{key}\t{chunk}\t{json.loads(text)["track_id"]}\n')
            plan.probes.seek(0)
        probes.flush()
        subprocess.run(['sort', '-S', '64M', '-o', ordered.name, probes.name], check=True,
                       env={**os.environ, 'LC_ALL': 'C'})
        found = collections.defaultdict(set)
        lines = (line[:-1].rsplit('\t', 2) for line in ordered)
        for _, (chunk, track_id), exists in store.listed((key, (chunk, track_id)) for key, chunk, track_id in lines):
            if exists:
                found[int(chunk)].add(track_id)
        return found


def set_of(project, first_snapshot, date):
    """The set whose ledger is the state as of `date`: the bulk ingest's, or the incremental set of the
    date (a compaction day has one too)."""
    return (paths.full_snapshot if date == first_snapshot else paths.incremental_set)(project, date)


def read(warehouse, chunk_dir):
    """The entries of a chunk; none for a set written before the ledger existed."""
    path = paths.ledger(chunk_dir)
    if not warehouse.exists(path):
        return
    with warehouse.open_read(path) as f:
        yield from records.read(f, 'ledger_entry')


def failures(warehouse, chunk_dir, parts=None):
    """The tracks a chunk (or those of its `parts`) tried and did not write, from its _failures files."""
    directory = f'{chunk_dir}/_failures'
    for name in warehouse.listdir(directory):
        if name.startswith('part-') and (parts is None or int(name[5:10]) in parts):
            with warehouse.open_read(f'{directory}/{name}') as f:
                yield from (r for r in records.read(f, 'ingest_failure') if r['reason'] != 'duplicate_in_dump')


def write(warehouse, chunk_dir, entries):
    """Write a chunk's ledger; (waiting by reason) of what was written."""
    waiting = collections.Counter()

    def counted():
        for entry in entries:
            waiting[entry['reason']] += 1
            yield entry
    with warehouse.open_write(paths.ledger(chunk_dir)) as f:
        records.write(f, 'ledger_entry', counted())
    return dict(waiting)


def write_bulk(warehouse, chunk_dir, date, max_days):
    """The first ledger of a chunk of the bulk ingest: its failures, tried once."""
    return write(warehouse, chunk_dir, (attempt(f, None, date, max_days) for f in failures(warehouse, chunk_dir)))


def request_retry_now(warehouse, project):
    with warehouse.open_write(paths.retry_now(project)) as f:
        f.write(json.dumps({'requested': datetime.datetime.now(datetime.timezone.utc).isoformat()}).encode())


def summary(warehouse, set_dir, chunks):
    by_reason = collections.Counter()
    due = collections.Counter()
    for chunk in range(chunks):
        for entry in read(warehouse, paths.chunk(set_dir, chunk)):
            by_reason[entry['reason']] += 1
            due[entry['next_attempt']] += 1
    return by_reason, due


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='command', required=True)
    commands.add_parser('retry-now', help='the next incremental set tries every track of the ledger')
    show = commands.add_parser('show', help="a date's ledger: tracks by reason and by next attempt")
    show.add_argument('date', type=datetime.date.fromisoformat)
    args = parser.parse_args()
    settings = config.settings()
    warehouse = fs.open_warehouse(settings['warehouse'])
    project = settings['warehouse']['project']
    if args.command == 'retry-now':
        request_retry_now(warehouse, project)
        print(f'{paths.retry_now(project)} written: the next incremental set tries every track of the ledger')
        return
    directory = set_of(project, settings['analysis']['first_snapshot'], args.date)
    by_reason, due = summary(warehouse, analysis_sets.kept_index(warehouse, directory), settings['ingest']['chunks'])
    print(f'ledger of {directory}: {sum(by_reason.values()):,} tracks not written')
    for reason, n in by_reason.most_common():
        print(f'  {reason:16} {n:,}')
    for day, n in sorted(due.items()):
        print(f'  next attempt {day}: {n:,}')


if __name__ == '__main__':
    main()
