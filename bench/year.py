"""A simulated year of the daily job: `python -m bench --only year` (also part of `make bench`).

365 days of DailyAttributes on a catalog that grows every day, with small documents. Of the tracks,
by a fixed draw from their number: most get their analysis the day they enter the catalog, some days
to weeks late, some never, some a document that can never be read, and some are re-analysed (a new
analysis_version, so a new S3 key) months later. Prints per month the S3 requests by kind, the tracks
retried and waiting, the new failures and the seconds; at the end checks that every track of the last
dump is written with its newest analysis or listed in the ledger with its reason.
"""
import collections
import datetime
import json
import logging
import random
import time

import luigi

from pipeline import analysis_sets, attributes, config, dump, fs, ledger, paths, records
from pipeline.analysis_sets import Calendar
from pipeline.s3 import AnalysisStore, client as s3_client
from pipeline.synthetic import synthetic_analysis
from pipeline.sample import dump_row
from tasks import DailyAttributes

DAYS, FIRST_CATALOG, NEW_PER_DAY = 365, 2000, 8
ONE_DAY = datetime.timedelta(days=1)


def fate(n):
    """(kind, day offset): 'on_time', 'late' (days after entering), 'never', 'bad', or 'reanalysed' (days
    after entering, when its new analysis comes)."""
    r = random.Random(f'year-{n}')
    x = r.random()
    if x < 0.80:
        return 'on_time', 0
    if x < 0.91:
        return 'late', r.choice([1, 2, 3, 5, 8, 13, 21, 34, 55, 89])
    if x < 0.95:
        return 'never', None
    if x < 0.96:
        return 'bad', 0
    return 'reanalysed', r.randint(10, 150)


def entered(n):
    return 0 if n < FIRST_CATALOG else (n - FIRST_CATALOG) // NEW_PER_DAY + 1


def row(n, day):
    base = dump_row(n)
    kind, offset = fate(n)
    if kind == 'reanalysed' and day >= entered(n) + offset:
        base['analysis_version'] = '5'
    return base


def document(n, version_row):
    """A small valid analysis (8 s of audio, about 18 KB); a re-analysis differs in its content."""
    seed = n + (10 ** 6 if version_row['analysis_version'] == '5' else 0)
    return json.dumps(synthetic_analysis(seed, 'spotify', 8.0))


def catalog(day):
    return FIRST_CATALOG + day * NEW_PER_DAY


def uploads(day):
    """(key row, body) of the objects that appear in S3 on `day`."""
    for n in range(catalog(day)):
        kind, offset = fate(n)
        start = entered(n)
        if kind in ('on_time', 'reanalysed') and day == start or kind == 'late' and day == start + offset:
            yield row(n, start), document(n, row(n, start)).encode()
        elif kind == 'bad' and day == start:
            yield row(n, start), repr(json.loads(document(n, row(n, start))))[:3000].encode()  # a Python printout
        elif kind == 'reanalysed' and day == start + offset:
            yield row(n, day), document(n, row(n, day)).encode()


def run(start):
    logging.getLogger('mrjob').setLevel(logging.ERROR)  # a line per job about the inline runner
    settings = config.settings()
    # The analyses are 8 s long: the dump's durations must agree with them.
    dump_rows = lambda day: [dict(row(n, day), duration_ms=8000) for n in range(catalog(day))]
    s3 = settings['s3']
    client = s3_client(s3)
    if s3['bucket'] not in {b['Name'] for b in client.list_buckets()['Buckets']}:
        client.create_bucket(Bucket=s3['bucket'])
    wh = fs.open_warehouse(settings['warehouse'])
    store = AnalysisStore.shared(s3)
    project = settings['warehouse']['project']
    print(f'\n== A simulated year: {DAYS} days of DailyAttributes, catalog {FIRST_CATALOG:,} tracks + '
          f'{NEW_PER_DAY}/day, {settings["ingest"]["chunks"]} chunks, [retry] max_days '
          f'{settings["retry"]["max_days"]} ==')
    print(f'{"month":8} {"tracks":>6} {"GET":>6} {"LIST":>5} {"other":>5} {"GET/day":>7} {"retried":>7} '
          f'{"waiting":>7} {"new fail":>8} {"listed days":>11} {"seconds":>7}   waiting by reason at month end')
    month, waiting = None, {}
    totals = collections.Counter()
    all_seconds = 0.0
    for day in range(DAYS):
        date = start + day * ONE_DAY
        for key_row, body in uploads(day):
            client.put_object(Bucket=s3['bucket'], Key=s3['key_template'].format(**key_row), Body=body)
        dump.write(wh, date, dump_rows(day))
        before = store.requests
        began = time.perf_counter()
        assert luigi.build([DailyAttributes(date)], local_scheduler=True, log_level='WARNING'), f'{date} failed'
        seconds = time.perf_counter() - began
        requests = {k: v - before.get(k, 0) for k, v in store.requests.items()}
        counts = analysis_sets.read_success(wh, analysis_sets.kept_index(wh, ledger.set_of(project, start, date)))
        label = 'bulk' if day == 0 else date.strftime('%Y-%m')
        if month not in (None, label):
            show(month, totals, waiting)
            totals = collections.Counter()
        month = label
        waiting = counts['waiting']
        totals.update(GET=requests.get('GET', 0), LIST=requests.get('LIST', 0), days=1, seconds=seconds,
                      other=sum(v for k, v in requests.items() if k not in ('GET', 'LIST')),
                      retried=sum(counts.get('retried', {}).values()), listed=bool(counts.get('listed')),
                      new_failures=counts['failed'] - counts.get('known_failures', 0), tracks=0)
        totals['tracks'] = catalog(day)
        all_seconds += seconds
    show(month, totals, waiting)
    print(f'{DAYS} days in {all_seconds:.0f} s, every day exited 0')
    check(wh, project, settings, start + (DAYS - 1) * ONE_DAY, dump_rows(DAYS - 1))


def show(month, t, waiting):
    reasons = ', '.join(f'{r} {n}' for r, n in sorted(waiting.items()))
    print(f'{month:8} {t["tracks"]:6,} {t["GET"]:6,} {t["LIST"]:5,} {t["other"]:5,} {t["GET"] / t["days"]:7.1f} '
          f'{t["retried"]:7,} {sum(waiting.values()):7,} {t["new_failures"]:8,} {t["listed"]:11} '
          f'{t["seconds"]:7.1f}   {reasons}')


def check(wh, project, settings, last, last_rows):
    """Every track of the last dump written with its newest analysis, or in the ledger with its reason."""
    chunks = settings['ingest']['chunks']
    listed = {}
    for chunk in range(chunks):
        listed.update((e['track_id'], e['reason']) for e in ledger.read(wh, paths.chunk(
            analysis_sets.kept_index(wh, ledger.set_of(project, settings['analysis']['first_snapshot'], last)), chunk)))
    sets = Calendar(settings['analysis']['first_snapshot'], settings['analysis']['full_every_days']).current_sets(
        project, last + ONE_DAY)
    newest = {}
    for directory in sets:  # oldest first: the newest set holding a track wins, as in compaction
        for chunk in range(chunks):
            for record in analysis_sets.chunk_records(wh, paths.chunk(directory, chunk)):
                newest[record['track_id']] = record['analysis']
    snapshot = paths.attribute_snapshot(project, last)
    tempo = {}
    for path in wh.local(snapshot).rglob('*.avro'):
        if '_rejects' not in path.parts:
            with path.open('rb') as f:
                tempo.update((r['track_id'], r['tempo']) for r in records.read(f, 'attributes'))
    stale = collections.Counter()
    for n, r in enumerate(last_rows):
        track_id = r['track_id']
        if track_id in listed:
            continue
        expected = json.loads(document(n, r))
        if track_id not in newest:
            stale['unaccounted'] += 1
        elif json.loads(newest[track_id]) != expected:
            stale['an older analysis'] += 1
        elif tempo.get(track_id) != attributes.compute_attributes(expected)['tempo']:
            # The join lists the full snapshot on a compaction day, not the day's incremental set.
            kind, offset = fate(n)
            on_compaction_day = (entered(n) + offset) % settings['analysis']['full_every_days'] == 0
            stale['attributes of the older analysis' + (' (re-analysed on a compaction day)' if on_compaction_day
                                                         else '')] += 1
        stale['re-analysed'] += r['analysis_version'] == '5'
    by_reason = collections.Counter(listed.values())
    print(f'at the end: {len(last_rows):,} tracks in the dump; {len(last_rows) - len(listed):,} written with their '
          f'newest analysis ({stale.pop("re-analysed")} of them re-analysed); {len(listed):,} in the ledger: '
          f'{dict(sorted(by_reason.items()))}; not as expected: {dict(stale) or "none"}')
