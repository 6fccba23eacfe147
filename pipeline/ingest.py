"""Ingest of one chunk: the analyses of its tracks from S3 into packed Avro part files.

A chunk is written as part files of `part_tracks` tracks each, in dump order. A part is committed
when its data file appears (its failures, counts and track IDs are written just before), so a crash
costs one part and a re-run skips the committed ones. The chunk's _SUCCESS (with its totals) comes last.

The GETs run in threads of this process; validating and compressing the documents, the CPU-bound
half, a block of documents at a time, runs in threads of this process too, one a core (zstandard
releases the GIL, so blocks compress side by side while the GETs go on), or in `[ingest] processes`
worker processes.
"""
import concurrent.futures
import functools
import itertools
import json
import logging
import multiprocessing
import os
import threading
import time
from dataclasses import asdict, dataclass, field

from pipeline import costs, ledger, paths, records
from pipeline.analysis_sets import write_ids
from pipeline.s3 import AnalysisStore, decode, in_order

log = logging.getLogger(__name__)


class TooManyFailures(RuntimeError):
    pass


@dataclass
class Counts:
    tracks: int = 0
    written: int = 0
    missing: int = 0
    failed: int = 0
    known_failures: int = 0  # failed again for the reason listed before: not counted against the chunk
    bytes_downloaded: int = 0
    requests: dict = field(default_factory=dict)
    reasons: dict = field(default_factory=dict)
    dollars: float = 0.0

    def add(self, other):
        for name in ('tracks', 'written', 'missing', 'failed', 'known_failures', 'bytes_downloaded', 'dollars'):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mine, theirs in ((self.requests, other.requests), (self.reasons, other.reasons)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v
        return self



def parts(rows, part_tracks):
    """(part number, rows) in order; a part holds only `part_tracks` small dump rows. No rows still
    give one empty part, so that every set has a file with its schema."""
    rows = iter(rows)
    for number in itertools.count():
        batch = list(itertools.islice(rows, part_tracks))
        if not batch and number:
            return
        yield number, batch


class ChunkIngest:
    """One chunk of an analysis set: `rows()` gives its dump rows, the same ones in the same order on
    every call. `progress(counts, seconds)` is called as each track finishes. `known` maps the tracks that
    failed before to their reason (the ledger's), as do the failures of a part the threshold stopped."""

    def __init__(self, warehouse, settings, directory, rows, progress=None, store=None, known=None):
        self.warehouse = warehouse
        self.settings = settings
        self.ingest = settings['ingest']
        self.directory = directory
        self.rows = rows
        self.progress = progress or (lambda counts, seconds: None)
        self.store = store or AnalysisStore.shared(settings['s3'])
        self.counts = Counts()
        self.started = time.monotonic()
        self.known = dict(known or {})
        stopped = {int(n[5:10]) for n in warehouse.listdir(f'{directory}/_stopped') if n.startswith('part-')}
        self.known.update((f['track_id'], f['reason']) for f in ledger.failures(warehouse, directory, stopped))

    def __str__(self):
        return self.directory

    def pending_parts(self):
        """(number, rows, duplicate rows) of the parts not yet committed; committed ones add their counts.

        The set of a chunk's track IDs is the one thing held in memory: about 100 bytes a track."""
        seen = set()
        for number, batch in parts(self.rows(), self.ingest['part_tracks']):
            rows, duplicates = [], []
            for row in batch:
                (duplicates if row['track_id'] in seen else rows).append(row)
                seen.add(row['track_id'])
            if self.warehouse.exists(paths.part(self.directory, number)):
                with self.warehouse.open_read(paths.part_counts(self.directory, number)) as f:
                    self.counts.add(Counts(**json.load(f)))
                continue
            yield number, rows, duplicates

    def run(self):
        """The whole chunk in this process."""
        for number, rows, duplicates in self.pending_parts():
            self.write_part(number, rows, duplicates)
        return self.finish()

    def finish(self):
        """After every part is committed (here or by mappers): check the totals and mark the chunk done."""
        self.counts = Counts()  # derived again from the committed parts' counts files
        if any(True for _ in self.pending_parts()):
            raise RuntimeError(f'{self}: some parts are still not committed; run the chunk again')
        self.check_failures(self.counts)
        self.counts.dollars = round(costs.dollars(self.counts.requests.get('GET', 0), self.counts.bytes_downloaded,
                                                  self.settings['costs']), 4)
        with self.warehouse.open_write(paths.success(self.directory)) as f:
            f.write(json.dumps(asdict(self.counts), indent=1).encode())
        return self.counts

    def write_part(self, number, rows, duplicates):
        counts = Counts()
        failures = []

        def account(row, key, reason, detail):
            failures.append({'track_id': row['track_id'], 's3_key': key, 'reason': reason, 'detail': detail,
                             'dump_row': ledger.row_text(row)})
            counts.tracks += 1
            counts.reasons[reason] = counts.reasons.get(reason, 0) + 1
            if reason == 'missing':
                counts.missing += 1
            else:
                counts.failed += 1
                counts.known_failures += self.known.get(row['track_id']) == reason

        for row in duplicates:
            account(row, self.store.key(row), 'duplicate_in_dump', 'an earlier row of the dump has this track')
        requests_before = self.store.requests
        written_ids = []

        def blocks():
            for outcomes, block in self._packed(self.store.fetch_all(rows)):
                for outcome in outcomes:
                    counts.bytes_downloaded += outcome.nbytes
                    if outcome.reason:
                        account(outcome.row, outcome.key, outcome.reason, outcome.detail)
                    else:
                        counts.tracks += 1
                        counts.written += 1
                        written_ids.append(outcome.row['track_id'])
                    self._report(counts)
                yield block

        part = paths.part(self.directory, number)
        with self.warehouse.open_write(part) as f:
            records.write_blocks(f, 'analysis', blocks(), self.ingest)
            counts.requests = _difference(self.store.requests, requests_before)
            with self.warehouse.open_write(paths.part_failures(self.directory, number)) as ff:
                records.write(ff, 'ingest_failure', failures)
            with self.warehouse.open_write(paths.part_counts(self.directory, number)) as cf:
                cf.write(json.dumps(asdict(counts)).encode())
            write_ids(self.warehouse, paths.part_ids(self.directory, number), written_ids)
            # Leaving this block commits the part; a part past the failure share is not committed.
            try:
                self.check_failures(Counts().add(self.counts).add(counts), part)
            except TooManyFailures:
                with self.warehouse.open_write(paths.part_stopped(self.directory, number)) as sf:
                    sf.write(b'')
                raise
        self.counts.add(counts)
        self._report(Counts())
        log.info('%s: part %d committed: %d written, %d missing, %d failed',
                 self, number, counts.written, counts.missing, counts.failed)
        return counts

    def _packed(self, outcomes):
        """(outcomes, the Avro block of their written analyses) for about `block_bytes` of documents at a
        time, in order: packed by a thread a core in this process when `processes` is 1 (zstandard and zlib
        release the GIL, so the blocks compress side by side while the GETs go on), or by worker processes."""
        batches = _batches(outcomes, self.ingest['block_bytes'])
        packing = functools.partial(pack, ingest_settings=self.ingest)
        cores = os.cpu_count()
        processes = self.ingest['processes'] or cores
        if processes == 1:
            with concurrent.futures.ThreadPoolExecutor(cores) as threads:
                yield from in_order(threads, packing, batches, 2 * cores)
            return
        try:
            yield from in_order(_workers(processes), packing, batches, 2 * processes)
        except concurrent.futures.process.BrokenProcessPool:
            _workers.cache_clear()  # a worker was killed: the next part starts new ones
            raise

    def check_failures(self, counts, part=None):
        """Missing keys are expected (not every track was analysed); anything else is a failure, unless the
        track failed before for the same reason: only what is new stops a chunk."""
        failed, tracks = counts.failed - counts.known_failures, counts.tracks - counts.known_failures
        share = failed / tracks if tracks else 0.0
        if share > self.ingest['max_failure_share'] and failed > self.ingest['tolerated_failures']:
            where = f' (part {part} not committed; its failures are listed beside it)' if part else ''
            raise TooManyFailures(
                f'{self}: {failed} of {tracks} tracks failed ({share:.2%}, more than '
                f'ingest.max_failure_share {self.ingest["max_failure_share"]:.2%} and more than '
                f'ingest.tolerated_failures {self.ingest["tolerated_failures"]}){where}; by reason: '
                f'{counts.reasons}; {counts.known_failures} more failed as before. Look at the _failures files, '
                f'fix the cause, and run again: committed parts are kept, and failures listed are then known.')

    def _report(self, part_counts):
        self.progress(Counts().add(self.counts).add(part_counts), time.monotonic() - self.started)


@functools.cache
def _workers(processes):
    """This process's workers, started for its first part (a second or so) and kept for the next ones.
    Spawned, not forked: a forked worker would hold this process's sockets open, S3 connections
    urllib3 has closed among them."""
    return concurrent.futures.ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context('spawn'),
                                                  initializer=_exit_with_parent)


def _exit_with_parent():
    """A worker ends with the process it works for. Killed (SIGKILL), that one tells nobody: the worker
    would wait for work forever, holding the killed process's output pipes open."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:  # an orphan is adopted at once, before its parent is reaped
            time.sleep(1)
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def _batches(outcomes, block_bytes):
    batch, size = [], 0
    for outcome in outcomes:
        batch.append(outcome)
        size += outcome.nbytes
        if size >= block_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def pack(outcomes, ingest_settings):
    """Decode the fetched `outcomes` and pack the analyses among them into one Avro block (`records.block`).
    The outcomes come back without their documents."""
    outcomes = [decode(outcome, ingest_settings['duration_tolerance_s']) for outcome in outcomes]
    block = records.block('analysis', [{'track_id': o.row['track_id'], 'echonest_id': o.row['echonest_id'],
                                        'analysis': o.analysis} for o in outcomes if not o.reason], ingest_settings)
    for outcome in outcomes:
        outcome.analysis = None
    return outcomes, block


def _difference(after, before):
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
