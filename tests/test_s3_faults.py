"""Failure drills on the network: a real proxy between the pipeline and S3 throttles, resets, stalls
and truncates GETs (tests/fault_proxy.py), and the snapshot must come out as one made without it."""
import collections
import datetime
import json
import time

import pytest

from pipeline import config, paths, records, s3, sample
from tasks import BulkIngest
from tests.conftest import build, set_contents, warehouse
from tests.fault_proxy import KINDS, FaultProxy

DATE = datetime.date(2014, 9, 1)
SNAPSHOT = paths.full_snapshot('echonest', DATE)
# Timeouts low enough for a stall (the proxy holds 3 s) to cost about a second; a part's tracks are
# fetched together, so parts of 30 let the stalls of a chunk overlap.
NETWORK = {'s3': {'max_attempts': 5, 'read_timeout': 1, 'connect_timeout': 1}, 'ingest': {'part_tracks': 30}}


def key(n):
    """The S3 key of track n, as the pipeline GETs it."""
    return config.s3().key_template.format(**sample.dump_row(n))


def following(plan):
    """A proxy schedule from {key: [fault of its 1st GET, of its 2nd, ...]}; later GETs pass."""
    return lambda key, nth: plan.get(key, [])[nth - 1] if nth <= len(plan.get(key, [])) else None


def outcome():
    """(written: track ID -> analysis, failures: track ID -> reason, _SUCCESS totals) of the snapshot."""
    written, failures = set_contents(SNAPSHOT), set_contents(SNAPSHOT, '_failures')
    return written, failures, json.loads(warehouse().local(paths.success(SNAPSHOT)).read_text())


def failure_details():
    """track ID -> the detail of its failure, from the snapshot's _failures files."""
    details = {}
    for chunk in range(config.ingest().chunks):
        directory = paths.chunk(SNAPSHOT, chunk) + '/_failures'
        for name in filter(lambda name: name.startswith('part-'), warehouse().listdir(directory)):
            with warehouse().open_read(f'{directory}/{name}') as f:
                details.update((r['track_id'], r['detail']) for r in records.read(f, 'ingest_failure'))
    return details


def hidden_leftovers():
    """Staging directories and temporary files anywhere in the warehouse: none once a run is done."""
    return [str(p) for p in warehouse().local('/').rglob('*') if p.name.startswith(('.staging', '.tmp-'))]


# Faults by track number n % 7. Among the tracks broken: missing keys (5, 79, 116; no truncated
# 404, see the test below), corrupt documents (29; 90, truncated twice: the pipeline's last try) and
# gzip-encoded ones (n % 4 == 1).
BY_TURNS = (None, 'reset', 'stall', 'truncate', 'stall', 'reset', 'truncate')


def faults(n):
    """The faults of track n's first GETs."""
    first = 'slowdown' if n % 25 == 0 else BY_TURNS[n % 7]
    second = ('truncate', 'reset', 'stall')[n % 3] if first and n % 5 == 0 else None
    return [kind for kind in (first, second) if kind]


def test_faults_on_first_attempts_leave_the_snapshot_as_without_them(cfg, tmp_path):
    tracks = 120
    cfg.update(NETWORK)
    sample.populate(config.settings(), DATE, 1, tracks, 0)
    plan = {key(n): faults(n) for n in range(tracks) if faults(n)}
    planned = collections.Counter(kind for kinds in plan.values() for kind in kinds)
    assert min(planned[kind] for kind in KINDS) >= 5 and len(plan) > tracks / 2

    direct = config.s3().endpoint_url
    with FaultProxy(direct, following(plan)) as proxy:
        cfg.set('s3', 'endpoint_url', proxy.url)
        started = time.monotonic()
        assert build(BulkIngest(DATE))
        seconds = time.monotonic() - started
    written, failures, totals = outcome()
    leftovers = hidden_leftovers()
    print(f'\nthrough the proxy in {seconds:.1f} s: injected {dict(proxy.injected)}, '
          f'{sum(proxy.gets.values())} GETs for {tracks} tracks')

    cfg.set('s3', 'endpoint_url', direct)
    cfg.set('warehouse', 'root', tmp_path / 'direct')
    sample.populate(config.settings(), DATE, 1, tracks, 0, upload_analyses=False)
    assert build(BulkIngest(DATE))
    written_directly, failures_directly, totals_directly = outcome()

    # Every planned fault happened: a fault retried by nobody would leave its key's second one unused.
    assert proxy.injected == planned
    # Each fault cost exactly one more GET, and every GET the pipeline counted went through the proxy.
    assert sum(proxy.gets.values()) == tracks + sum(planned.values()) == totals['requests']['GET']
    assert set(proxy.gets) == {key(n) for n in range(tracks)}
    assert written == written_directly
    assert failures == failures_directly
    assert set(failures.values()) <= {'missing', *sample.CORRUPTIONS}  # no fault became a failure
    assert not set(written) & set(failures)
    assert len(written) + len(failures) == tracks
    assert {k: totals[k] for k in ('tracks', 'written', 'missing', 'failed', 'reasons')} == \
        {k: totals_directly[k] for k in ('tracks', 'written', 'missing', 'failed', 'reasons')}
    assert leftovers == [] and hidden_leftovers() == []


@pytest.mark.parametrize('kind, victim, reason, detail', [
    # A reset, a timeout, throttling and a body cut short are tried again: [s3] max_attempts attempts in all.
    pytest.param('reset', 2, 'network', 'Connection aborted', id='reset'),
    pytest.param('stall', 2, 'network', 'Read timed out', id='stall'),
    pytest.param('slowdown', 2, 'network', 'HTTP 503 (SlowDown)', id='slowdown'),
    pytest.param('truncate', 2, 'truncated_body', 'IncompleteRead', id='truncate'),
    # Track 5 has no analysis: a 404 whose error document is cut short is still a 404, taken at once.
    pytest.param('truncate', 5, 'missing', 'no such key', id='truncate-404'),
    # A refusal is not tried again today: the ledger tries the track again on a later day.
    pytest.param('denied', 2, 'access_denied', 'HTTP 403 (AccessDenied): Access Denied', id='denied'),
])
def test_a_key_that_always_fails_is_listed_with_its_reason_and_the_run_completes(cfg, kind, victim, reason,
                                                                                 detail):
    tracks = 40
    assert sample.has_analysis(victim) == (reason != 'missing') and not sample.corruption(victim)
    cfg.update(NETWORK)
    cfg.update({'s3': {'max_attempts': 2}})  # each retry of the victim costs a backoff
    sample.populate(config.settings(), DATE, 1, tracks, 0)
    with FaultProxy(config.s3().endpoint_url, lambda k, nth: kind if k == key(victim) else None) as proxy:
        cfg.set('s3', 'endpoint_url', proxy.url)
        started = time.monotonic()
        assert build(BulkIngest(DATE))
        seconds = time.monotonic() - started
    written, failures, totals = outcome()
    print(f'\nalways {kind}: {seconds:.1f} s, {proxy.gets[key(victim)]} GETs of the victim')

    expected = {sample.track(n)['track_id']: 'missing' if not sample.has_analysis(n) else sample.corruption(n)
                for n in range(tracks) if not sample.has_analysis(n) or sample.corruption(n)}
    expected[sample.track(victim)['track_id']] = reason
    assert failures == expected
    assert detail in failure_details()[sample.track(victim)['track_id']]  # the fault, seen as what it is
    assert set(written) == {sample.track(n)['track_id'] for n in range(tracks)} - set(expected)
    assert totals['failed'] == sum(r != 'missing' for r in expected.values()) <= config.ingest().tolerated_failures
    # Retried, but not forever: every GET of the key was broken, and there were only so many.
    gets = config.s3().max_attempts if reason in ('network', 'truncated_body') else 1
    assert proxy.injected == {kind: gets} == {kind: proxy.gets[key(victim)]}
    assert hidden_leftovers() == []


@pytest.mark.parametrize('kind, message', [('expired', 'the credentials have expired: refresh them'),
                                           ('redirect', r'the bucket is in another region: set \[s3\] region')])
def test_a_refusal_every_track_would_meet_stops_the_chunk_with_what_to_do(cfg, kind, message):
    """Expired credentials, a bucket of another region: not failures of one track each."""
    cfg.update(NETWORK)
    sample.populate(config.settings(), DATE, 1, 10, 0)
    with FaultProxy(config.s3().endpoint_url, lambda k, nth: kind if k == key(2) else None) as proxy:
        cfg.set('s3', 'endpoint_url', proxy.url)
        store = s3.AnalysisStore(config.settings()['s3'])
        assert store.fetch(sample.dump_row(1)).body
        with pytest.raises(s3.S3Error, match=rf'key {key(2)} .*{message}'):
            store.fetch(sample.dump_row(2))
        assert not build(BulkIngest(DATE))
    assert proxy.injected == {kind: 2}  # once a run: never tried again
    assert not warehouse().exists(paths.success(SNAPSHOT))
