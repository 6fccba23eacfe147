"""Bulk ingest: the metadata dump of a date, its cost estimate, twenty chunks, the full snapshot."""
import collections
import json
import logging
import tempfile
import time
from dataclasses import asdict

import luigi

from pipeline import analysis_sets, config, costs, dump, ledger, paths
from pipeline.ingest import ChunkIngest, Counts
from pipeline.s3 import AnalysisStore
from tasks import jobs
from tasks.targets import DateParameter, WarehouseTarget, warehouse

log = logging.getLogger('luigi-interface')


def full_snapshot(date):
    return paths.full_snapshot(config.warehouse().project, date)


def staged_snapshot(date):
    """Where the bulk ingest writes, until BulkIngest renames it into place."""
    return paths.staging(full_snapshot(date))


class MetadataDump(luigi.ExternalTask):
    """Published by the metadata team: /metadata/dump/<date>/part-*.avro and _SUCCESS."""
    date = DateParameter()

    def output(self):
        return WarehouseTarget(paths.success(paths.metadata_dump(self.date)))


class IngestEstimate(luigi.Task):
    """Tracks per chunk and what downloading them will cost, known before the first GET."""
    date = DateParameter()

    def requires(self):
        return MetadataDump(self.date)

    def output(self):
        return WarehouseTarget(paths.ingest_estimate(staged_snapshot(self.date)))

    def run(self):
        estimate = costs.estimate(warehouse(), self.date, config.settings())
        log.info('Bulk ingest of %s will cost about: %s', self.date, costs.describe(estimate))
        self.set_status_message(f'estimate: {costs.describe(estimate)}')
        with warehouse().open_write(self.output().path) as f:
            f.write(json.dumps(estimate, indent=1).encode())


class IngestChunk(luigi.Task):
    date = DateParameter()
    chunk = luigi.IntParameter()
    resources = {'s3_download': 1}  # [resources] in luigi.cfg: one chunk at a time, as in the seed

    def requires(self):
        return IngestEstimate(self.date)

    def output(self):
        return WarehouseTarget(paths.success(paths.chunk(staged_snapshot(self.date), self.chunk)))

    def run(self):
        settings = config.settings()
        chunks = settings['ingest']['chunks']
        if not 0 <= self.chunk < chunks:
            raise ValueError(f'chunk {self.chunk} does not exist: ingest.chunks is {chunks}, so 0..{chunks - 1}')
        with warehouse().open_read(self.input().path) as f:
            self.total = json.load(f)['tracks_per_chunk'][self.chunk]
        ingest = ChunkIngest(warehouse(), settings, paths.chunk(staged_snapshot(self.date), self.chunk),
                             lambda: dump.chunk_rows(warehouse(), self.date, self.chunk, chunks),
                             progress=self.show_progress)
        ingest.store.check()
        if settings['ingest']['runner'] == 'worker':
            counts = ingest.run()
        else:
            counts = self.run_job(ingest, settings)
        log.info('%s done: %s written, %s missing, %s failed, %s requests, %.1f MB, $%.4f', ingest,
                 counts.written, counts.missing, counts.failed, counts.requests, counts.bytes_downloaded / 1e6,
                 counts.dollars)

    def run_job(self, ingest, settings):
        """The chunk as the seed's map-only job, one pending part per input line."""
        from pipeline.jobs.mr_ingest_chunk import MRIngestChunk  # mrjob: see tasks/jobs.py
        with tempfile.NamedTemporaryFile('w', suffix='.jsonl') as manifest:
            for number, rows, duplicates in ingest.pending_parts():
                manifest.write(json.dumps({'part': number, 'rows': rows, 'duplicates': duplicates}) + '\n')
            manifest.flush()
            with jobs.run(self, MRIngestChunk, settings['ingest']['runner'], manifest.name,
                          ['--directory', ingest.directory]) as (job, runner):
                for _, part_counts in job.parse_output(runner.cat_output()):
                    ingest.counts.add(Counts(**part_counts))
                    self.show_progress(ingest.counts, 0)
        return ingest.finish()

    def show_progress(self, counts, seconds):
        # Each call may be a round trip to luigid: once a second is plenty.
        if time.monotonic() - getattr(self, 'shown', 0.0) < 1.0 and counts.tracks < self.total:
            return
        self.shown = time.monotonic()
        rate = counts.bytes_downloaded / 1e6 / seconds if seconds else 0.0
        self.set_status_message(
            f'chunk {self.chunk + 1}/{config.ingest().chunks}: {counts.tracks:,} of {self.total:,} tracks, '
            f'{counts.missing:,} missing, {counts.failed:,} failed, {rate:.1f} MB/s')
        self.set_progress_percentage(round(100 * counts.tracks / self.total, 1) if self.total else 100)


class BulkIngest(luigi.Task):
    """The full analysis snapshot of a date, from S3; its _SUCCESS holds the totals."""
    date = DateParameter()

    def requires(self):
        return [IngestChunk(self.date, chunk) for chunk in range(config.ingest().chunks)]

    def output(self):
        return WarehouseTarget(paths.success(full_snapshot(self.date)))

    def complete(self):
        # A later full snapshot holds all of it: kept or deleted, it is never made again.
        return super().complete() or analysis_sets.superseded(warehouse(), config.warehouse().project, self.date)

    def run(self):
        totals = Counts()
        waiting = collections.Counter()
        for chunk, target in enumerate(self.input()):
            with warehouse().open_read(target.path) as f:
                totals.add(Counts(**json.load(f)))
            waiting.update(ledger.write_bulk(warehouse(), paths.chunk(staged_snapshot(self.date), chunk), self.date,
                                             config.retry().max_days))
        self.set_status_message('keeping the keys of the dump for the first incremental set')
        analysis_sets.write_dump_keys(warehouse(), staged_snapshot(self.date), self.date, config.ingest().chunks,
                                      AnalysisStore.shared(config.settings()['s3']).key)
        analysis_sets.publish(warehouse(), full_snapshot(self.date), dict(asdict(totals), waiting=dict(waiting)))
        log.info('Full snapshot %s: %s', full_snapshot(self.date), asdict(totals))
