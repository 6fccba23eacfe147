"""The analysis sets after the bulk ingest: daily incremental sets and periodic full snapshots."""
import datetime
import json
import logging
import time
from dataclasses import asdict

import luigi

from pipeline import analysis_sets, compaction, config, paths
from pipeline.analysis_sets import Calendar
from pipeline.ingest import ChunkIngest, Counts
from pipeline.jobs.mr_compact_chunk import MRCompactChunk
from pipeline.s3 import AnalysisStore
from tasks import jobs
from tasks.ingest import BulkIngest, MetadataDump
from tasks.targets import DateParameter, WarehouseTarget, warehouse

log = logging.getLogger('luigi-interface')
ONE_DAY = datetime.timedelta(days=1)


def calendar():
    return Calendar(config.analysis().first_snapshot, config.analysis().full_every_days)


def project():
    return config.warehouse().project


def analysis_set(date):
    """The task that makes the analysis set of `date`, whichever kind that date has."""
    if date == calendar().first:
        return BulkIngest(date)
    if calendar().is_full(date):
        return FullAnalysisSnapshot(date)
    return IncrementalAnalysis(date)


def analysis_set_path(date):
    return (paths.full_snapshot if calendar().is_full(date) else paths.incremental_set)(project(), date)


class AnalysisSet(luigi.WrapperTask):
    """`luigi --module tasks AnalysisSet --date D`: the set of that date, whichever it is."""
    date = DateParameter()

    def requires(self):
        return analysis_set(self.date)


class IncrementalAnalysis(luigi.Task):
    """The analyses of the dump's tracks that no current set holds yet: new ones, late ones, failed ones."""
    date = DateParameter()

    def requires(self):
        calendar().check(self.date - ONE_DAY)
        return {'dump': MetadataDump(self.date), 'yesterday': analysis_set(self.date - ONE_DAY)}

    def output(self):
        return WarehouseTarget(paths.success(paths.incremental_set(project(), self.date)))

    def complete(self):
        return bool(self.bulk_complete([self.date]))

    @classmethod
    def bulk_complete(cls, dates):
        """Two listings for any number of dates: the incremental sets, and the full snapshots that
        supersede every set up to their date."""
        wh = warehouse()
        done = set(analysis_sets.complete_dates(wh, paths.analysis_sets(project(), 'incremental')))
        latest_full = max(analysis_sets.complete_full_snapshots(wh, project()), default=None)
        return [d for d in dates if d in done or (latest_full is not None and d <= latest_full)]

    def run(self):
        settings = config.settings()
        wh = warehouse()
        directory = paths.incremental_set(project(), self.date)
        staging = paths.staging(directory)
        current = calendar().current_sets(project(), self.date)
        self.set_status_message(f'finding new tracks in the dump of {self.date} against {len(current)} sets')
        spills = analysis_sets.new_rows_by_chunk(wh, self.date, current, settings['ingest']['chunks'])
        self.total = sum(sum(1 for _ in spill) for spill in spills)
        self.done = Counts()
        store = AnalysisStore.shared(settings['s3'], settings['ingest']['duration_tolerance_s'])
        store.check()
        for chunk, spill in enumerate(spills):
            def rows(spill=spill):
                spill.seek(0)
                return (json.loads(line) for line in spill)
            ingest = ChunkIngest(wh, settings, paths.chunk(staging, chunk), rows, self.show_progress, store)
            self.done.add(ingest.run())
        log.info('Incremental set %s: %s tracks no set held (new, late or failed before): %d written, '
                 '%d missing, %d failed', directory, self.total, self.done.written, self.done.missing, self.done.failed)
        analysis_sets.publish(wh, directory, asdict(self.done))

    def show_progress(self, counts, seconds):
        tracks = self.done.tracks + counts.tracks
        # Each call may be a round trip to luigid: once a second is plenty, and the last one.
        if time.monotonic() - getattr(self, 'shown', 0.0) < 1.0 and tracks < self.total:
            return
        self.shown = time.monotonic()
        self.set_status_message(f'incremental set {self.date}: {tracks:,} of {self.total:,} tracks to fetch, '
                                f'{self.done.missing + counts.missing:,} missing, '
                                f'{self.done.failed + counts.failed:,} failed')
        self.set_progress_percentage(round(100 * tracks / self.total, 1) if self.total else 100)


class FullAnalysisSnapshot(luigi.Task):
    """The last full snapshot merged with the incremental sets after it; then the obsolete sets go."""
    date = DateParameter()

    def requires(self):
        if not calendar().is_full(self.date) or self.date == calendar().first:
            raise ValueError(f'{self.date} is not a compaction day: full snapshots are made every '
                             f'{calendar().every} days after {calendar().first} ([analysis] in luigi.cfg)')
        return IncrementalAnalysis(self.date)

    def output(self):
        directory = paths.full_snapshot(project(), self.date)
        return {'snapshot': WarehouseTarget(paths.success(directory)),
                'cleaned': WarehouseTarget(f'{directory}/_OBSOLETE_SETS_DELETED')}

    def complete(self):
        return super().complete() or analysis_sets.superseded(warehouse(), project(), self.date)

    def run(self):
        wh = warehouse()
        previous = self.date - datetime.timedelta(days=calendar().every)
        incrementals = [paths.incremental_set(project(), previous + k * ONE_DAY)
                        for k in range(1, calendar().every + 1)]
        out = paths.full_snapshot(project(), self.date)
        if not self.output()['snapshot'].exists():
            analysis_sets.publish(wh, out, self.compact(out, previous, incrementals))
        self.set_status_message(f'{out} complete; deleting the sets it makes obsolete')
        removed = compaction.remove_obsolete(wh, project(), self.date, config.analysis().keep_full_snapshots)
        log.info('Full snapshot %s complete; deleted %s', out, removed or 'nothing')
        with wh.open_write(self.output()['cleaned'].path) as f:
            f.write(json.dumps(removed, indent=1).encode())
        self.set_progress_percentage(100)

    def compact(self, out, previous, incrementals):
        """Each chunk a map task, which reads and writes the warehouse itself; the driver sees counts only."""
        runner = config.analysis().runner
        chunks = config.ingest().chunks
        self.set_status_message(f'compacting {out}: {chunks} chunks ({runner} runner), from the full snapshot '
                                f'of {previous} and {len(incrementals)} incremental sets')
        return jobs.run_chunks(self, MRCompactChunk, runner, (
            {'chunk': chunk, 'previous_full': paths.full_snapshot(project(), previous),
             'incrementals': incrementals, 'out': paths.staging(out)} for chunk in range(chunks)))
