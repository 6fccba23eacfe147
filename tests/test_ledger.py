"""A year of daily runs that never jams: the ledger of tracks not written, its back-off, re-analysis, listing."""
import datetime
import functools
import json
import os
import subprocess
import sys
import zlib

import pytest

from pipeline import analysis_sets, config, dump, ledger, paths, records, sample
from pipeline.s3 import AnalysisStore
from tasks import BulkIngest, DailyAttributes, FullAnalysisSnapshot, IncrementalAnalysis
from tests.conftest import REPOSITORY, build, s3_client, set_contents, warehouse

FIRST = datetime.date(2014, 9, 1)
DAY = datetime.timedelta(days=1)


def day(k):
    return FIRST + k * DAY


def set_path(k):
    return (paths.full_snapshot if k == 0 else paths.incremental_set)('echonest', day(k))


def ledger_of(k):
    directory = analysis_sets.kept_index(warehouse(), set_path(k))
    return {e['track_id']: e for c in range(config.ingest().chunks)
            for e in ledger.read(warehouse(), paths.chunk(directory, c))}


def attribute_tracks(k):
    """track ID -> attributes of the snapshot of day k, whatever its part files."""
    root = warehouse().local(paths.attribute_snapshot('echonest', day(k)))
    found = {}
    for path in root.rglob('*.avro'):
        if '_rejects' not in path.parts:
            with path.open('rb') as f:
                found.update((r['track_id'], r) for r in records.read(f, 'attributes'))
    return found


@functools.cache
def client(endpoint):
    return s3_client()  # one for the session's S3 server: making one takes a while


def put(n, body, row=None):
    client(config.s3().endpoint_url).put_object(
        Bucket=config.s3().bucket, Key=config.s3().key_template.format(**(row or sample.dump_row(n))), Body=body)


def analysis(n, row=None, stretch=1.0):
    row = row or sample.dump_row(n)
    return json.dumps(sample.synthetic_analysis(n, sample.track(n)['era'], row['duration_ms'] / 1000 * stretch)).encode()


def good(n):
    return sample.has_analysis(n) and not sample.corruption(n)


def test_next_attempts_back_off_for_missing_keys_and_wait_the_cap_for_bad_documents():
    last = datetime.date(2014, 9, 1)
    assert [ledger.next_attempt('missing', a, last, 8).day - 1 for a in range(1, 7)] == [1, 2, 4, 8, 8, 8]
    assert ledger.next_attempt('network', 3, last, 30) == datetime.date(2014, 9, 5)
    assert ledger.next_attempt('wrong_track', 1, last, 8) == datetime.date(2014, 9, 9)


def test_a_listing_answers_for_every_probed_key_in_fewer_requests_than_keys(cfg):
    store = AnalysisStore(config.settings()['s3'])
    keys = [f'TR/TR{n:04d}/3/full.json' for n in range(60)]
    present = set(keys[::2])
    for key in present | {f'TR/TR{n:04d}/3/status.json' for n in range(0, 60, 4)}:
        client(config.s3().endpoint_url).put_object(Bucket=config.s3().bucket, Key=key, Body=b'{}')
    probes = sorted(keys[::3] + ['TR/TR9999/3/full.json', 'A/before/everything'])
    answers = list(store.listed(((key, key) for key in probes), page=5))  # small pages: many of them
    assert [(key, exists) for key, _, exists in answers] == [(key, key in present) for key in probes]
    assert store.requests['LIST'] < len(probes) and 'GET' not in store.requests


def test_bad_documents_in_one_chunk_never_stop_the_daily_job_and_retry_now_tries_them(cfg, tmp_path):
    cfg.update({'analysis': {'first_snapshot': FIRST, 'full_every_days': 3, 'keep_full_snapshots': 1},
                'retry': {'max_days': 2}, 'ingest': {'tolerated_failures': 3, 'part_tracks': 100, 'chunks': 2}})
    sample.populate(config.settings(), FIRST, 4, 32, 4)
    in_chunk0 = [n for n in range(32) if good(n) and dump.chunk_of(sample.track(n)['track_id'], 2) == 0]
    printouts, wrong = in_chunk0[:8], in_chunk0[8:12]
    for n in printouts:  # a Python printout stored instead of JSON
        put(n, repr(sample.synthetic_analysis(n, 'spotify', 60.0))[:4000].encode())
    for n in wrong:  # an analysis whose duration disagrees with the dump
        put(n, analysis(n, stretch=3.0))
    bad = {sample.track(n)['track_id']: reason for ns, reason in ((printouts, 'malformed_json'), (wrong, 'wrong_track'))
           for n in ns}

    assert not build(BulkIngest(FIRST))  # 12 new failures in chunk 0, more than tolerated
    assert warehouse().listdir(paths.chunk(paths.staging(set_path(0)), 0) + '/_stopped') == ['part-00000']
    assert build(BulkIngest(FIRST))  # resumed: the failures it listed are known, and nothing else failed
    for k in range(1, 3):
        assert build(DailyAttributes(day(k)))
        attributes = attribute_tracks(k)
        today = {sample.track(n)['track_id'] for n in range(32 + (k - 1) * 4, 32 + k * 4) if good(n)}
        assert today <= set(attributes) and not set(bad) & set(attributes)
        assert {t: e['reason'] for t, e in ledger_of(k).items() if t in bad} == bad
    # At the cap (max_days = 2) they were tried again, failed as before, and did not count against the chunk.
    day2 = analysis_sets.read_success(warehouse(), analysis_sets.kept_index(warehouse(), set_path(2)))
    assert day2['retried']['malformed_json'] == 8 and day2['known_failures'] >= 12
    assert {ledger_of(2)[t]['attempts'] for t in bad} == {2}  # days 0 and 2

    env = dict(os.environ, LUIGI_CONFIG_PATH=str(cfg.write(tmp_path / 'luigi.cfg')))
    done = subprocess.run([sys.executable, '-m', 'pipeline.ledger', 'retry-now'], env=env, cwd=REPOSITORY,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert warehouse().exists(paths.retry_now('echonest'))
    assert build(IncrementalAnalysis(day(3)))  # not due before day 4: tried now
    assert {t: r for t, r in set_contents(set_path(3), '_failures').items() if t in bad} == bad
    assert {ledger_of(3)[t]['attempts'] for t in bad} == {3}
    assert not warehouse().exists(paths.retry_now('echonest'))
    shown = subprocess.run([sys.executable, '-m', 'pipeline.ledger', 'show', str(day(3))], env=env, cwd=REPOSITORY,
                           capture_output=True, text=True)
    assert f'{len(ledger_of(3))} tracks not written' in shown.stdout and 'wrong_track      4' in shown.stdout


@pytest.mark.parametrize('listing', [False, True], ids=['GET', 'LIST'])
def test_a_late_analysis_is_written_on_its_next_retry_day(cfg, listing):
    # A LIST priced like a GET makes listing pay here; at retail prices these few probes are GETs.
    cfg.update({'analysis': {'first_snapshot': FIRST, 'full_every_days': 30}, 'retry': {'max_days': 4},
                'costs': {'list_per_1000': 0.0004 if listing else 0.005}})
    sample.populate(config.settings(), FIRST, 10, 30, 0)
    never = [n for n in range(30) if not sample.has_analysis(n)]
    late = [n for n in range(30) if good(n)][:3]
    for n in late:
        client(config.s3().endpoint_url).delete_object(
            Bucket=config.s3().bucket, Key=config.s3().key_template.format(**sample.dump_row(n)))
    late_ids = {sample.track(n)['track_id'] for n in late}
    assert build(BulkIngest(FIRST))
    tried_on = {}
    for k in range(1, 10):
        if k == 2:  # arrives on day 2: not due (tried on days 0 and 1, next on day 3)
            for n in late:
                put(n, analysis(n))
        assert build(IncrementalAnalysis(day(k)))
        totals = analysis_sets.read_success(warehouse(), set_path(k))
        tried_on[k] = totals['retried'].get('missing', 0)
        # Listing pays for two probes or more (a LIST answers for the whole bucket here); one is a GET.
        assert totals['listed'] is (listing and tried_on[k] > 1)
        assert ('LIST' in totals['requests']) is totals['listed']
        if totals['listed']:  # only what the listing found is fetched, and the bad documents due
            bad_documents = sum(n for reason, n in totals['retried'].items() if reason != 'missing')
            assert totals['requests'].get('GET', 0) == (len(late) if k == 3 else 0) + bad_documents
        assert (late_ids <= set(ledger_of(k))) is (k < 3) and not (k >= 3 and late_ids & set(ledger_of(k)))
        if k == 3:
            assert set(set_contents(set_path(3))) == late_ids
    # Missing keys: tried on days 0, 1, 3, 7 (after 1, 2, 4 days, then max_days = 4).
    assert [k for k, n in tried_on.items() if n] == [1, 3, 7]
    never_id = sample.track(never[0])['track_id']
    assert {k: v for k, v in ledger_of(9)[never_id].items() if k.endswith('attempt') or k == 'attempts'} == {
        'attempts': 4, 'first_attempt': '2014-09-01', 'last_attempt': '2014-09-08', 'next_attempt': '2014-09-12'}


def bulk_of_thirty(cfg, full_every_days):
    """The bulk ingest of 30 tracks, compactions every `full_every_days`: a track written, its ID, the rows."""
    cfg.update({'analysis': {'first_snapshot': FIRST, 'full_every_days': full_every_days, 'keep_full_snapshots': 1}})
    sample.populate(config.settings(), FIRST, 1, 30, 0)
    n = next(n for n in range(30) if good(n))
    assert build(DailyAttributes(FIRST))
    return n, sample.track(n)['track_id'], [sample.dump_row(m) for m in range(30)]


def test_a_reanalysed_track_replaces_its_old_analysis_in_compaction_and_in_the_attributes(cfg):
    n, track_id, rows = bulk_of_thirty(cfg, 3)
    before = attribute_tracks(0)[track_id]
    # Re-analysed on day 2: a new analysis_version, so a new key, and a document of a different track shape.
    newer = dict(rows[n], analysis_version='5')
    put(n, analysis(n + 1000, newer), newer)
    for k in range(1, 4):
        dump.write(warehouse(), day(k), rows if k == 1 else rows[:n] + [newer] + rows[n + 1:])
    assert build(DailyAttributes(day(2)))
    assert set(set_contents(set_path(2))) == {track_id}
    after = attribute_tracks(2)[track_id]
    assert after != before and after['tempo'] != before['tempo']
    assert build(FullAnalysisSnapshot(day(3)), DailyAttributes(day(3)))
    compacted = set_contents(paths.full_snapshot('echonest', day(3)))
    assert json.loads(compacted[track_id]) == json.loads(analysis(n + 1000, newer))
    assert attribute_tracks(3)[track_id] == after


def test_a_reanalysis_the_day_after_a_compaction_is_found_in_the_dump_of_the_day_before(cfg):
    """Each set leaves the keys of its dump for the next day's (the bulk ingest's too); a compaction retires
    them with the sets it deletes, so the day after it reads yesterday's dump instead."""
    n, track_id, rows = bulk_of_thirty(cfg, 2)
    key = AnalysisStore(config.settings()['s3']).key
    chunks = config.ingest().chunks
    kept = {}
    for chunk in range(chunks):
        with warehouse().open_read(paths.dump_keys(paths.chunk(set_path(0), chunk))) as f:
            kept.update(line.split('\t') for line in f.read().decode().splitlines())
    assert kept == {r['track_id']: str(zlib.crc32(key(r).encode())) for r in rows}
    newer = dict(rows[n], analysis_version='5')
    put(n, analysis(n + 1000, newer), newer)
    for k in range(1, 4):
        dump.write(warehouse(), day(k), rows if k < 3 else rows[:n] + [newer] + rows[n + 1:])
    assert build(DailyAttributes(day(2)))
    retired = analysis_sets.kept_index(warehouse(), set_path(2))
    assert retired != set_path(2) and not any(
        warehouse().exists(paths.dump_keys(paths.chunk(retired, chunk))) for chunk in range(chunks))
    before = attribute_tracks(2)[track_id]
    assert build(DailyAttributes(day(3)))
    assert set(set_contents(set_path(3))) == {track_id}
    assert attribute_tracks(3)[track_id]['tempo'] != before['tempo']
