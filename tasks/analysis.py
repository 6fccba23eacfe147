"""The analysis sets after the bulk ingest: daily incremental sets and periodic full snapshots."""
import collections
import datetime
import json
import logging
import time
from dataclasses import asdict

import luigi

from pipeline import analysis_sets, compaction, config, ledger, paths
from pipeline.analysis_sets import Calendar
from pipeline.ingest import ChunkIngest, Counts
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
    """The analyses of the dump's tracks that no current set holds yet (new ones, and the ledger's tracks
    that are due), and of the tracks whose S3 key changed (re-analysed); then the ledger of the date."""
    date = DateParameter()

    def requires(self):
        calendar().check(self.date - ONE_DAY)
        return {'dump': MetadataDump(self.date), 'yesterday': analysis_set(self.date - ONE_DAY),
                'yesterday_dump': MetadataDump(self.date - ONE_DAY)}

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
        store = AnalysisStore.shared(settings['s3'])
        store.check()
        retry_request = wh.exists(paths.retry_now(project())) and self.read(wh, paths.retry_now(project()))
        schedule = ledger.Schedule(store.key, self.date - ONE_DAY, analysis_sets.kept_index(
            wh, ledger.set_of(project(), calendar().first, self.date - ONE_DAY)), bool(retry_request))
        self.set_status_message(f'finding new tracks in the dump of {self.date} against {len(current)} sets')
        plans = analysis_sets.new_rows_by_chunk(wh, self.date, current, settings['ingest']['chunks'], schedule,
                                                 staging)
        listing = self.listing(wh, store, plans, settings)
        for chunk, plan in enumerate(plans):
            plan.settle_probes(set(listing['found'].get(str(chunk), ())) if listing['listed'] else None, self.date)
        self.total = sum(sum(1 for _ in plan.rows()) for plan in plans)
        self.done = Counts(requests=dict(listing['requests']))
        self.waiting = collections.Counter()
        for chunk, plan in enumerate(plans):
            chunk_dir = paths.chunk(staging, chunk)
            ingest = ChunkIngest(wh, settings, chunk_dir, plan.rows, self.show_progress, store, plan.known())
            self.done.add(ingest.run())
            self.waiting.update(ledger.write(wh, chunk_dir, plan.entries(
                ledger.failures(wh, chunk_dir), self.date, settings['retry']['max_days'])))
        tried = sum((plan.tried for plan in plans), collections.Counter())
        retried = {reason: n for reason, n in tried.items() if reason not in ('new', 'changed', 'reanalysed')}
        totals = dict(asdict(self.done), new=tried['new'], changed=tried['changed'], reanalysed=tried['reanalysed'],
                      retried=retried, listed=listing['listed'], waiting=dict(self.waiting))
        message = (f'incremental set {self.date}: {self.done.written:,} written of {self.total:,} fetched; '
                   f'{tried["new"]:,} new, {tried["reanalysed"] + tried["changed"]:,} re-analysed or changed; '
                   f'retried {describe(retried)}; waiting {describe(self.waiting)}')
        log.info('%s', message)
        self.set_status_message(message)
        self.set_progress_percentage(100)
        analysis_sets.publish(wh, directory, totals)
        if retry_request and wh.exists(paths.retry_now(project())) \
                and self.read(wh, paths.retry_now(project())) == retry_request:
            wh.remove(paths.retry_now(project()))  # done; a request made since stays for the next set

    @staticmethod
    def read(wh, path):
        with wh.open_read(path) as f:
            return f.read()

    def listing(self, wh, store, plans, settings):
        """Whether the due tracks last seen missing are checked by listing, and what it found: a listing is
        kept in the staged set (_LISTED), so that a re-run fetches the same tracks."""
        path = paths.listing(paths.staging(paths.incremental_set(project(), self.date)))
        if wh.exists(path):
            return json.loads(self.read(wh, path))
        probes = sum(plan.tried['missing'] for plan in plans)
        catalog = sum(plan.catalog for plan in plans)
        result = {'listed': ledger.listing_pays(probes, catalog, settings['costs']), 'found': {}, 'requests': {}}
        if result['listed']:
            self.set_status_message(f'listing S3 for {probes:,} tracks last seen missing')
            before = store.requests
            found = ledger.listed(store, plans)
            result['found'] = {str(chunk): sorted(ids) for chunk, ids in found.items()}
            result['requests'] = {k: v - before.get(k, 0) for k, v in store.requests.items() if v - before.get(k, 0)}
            with wh.open_write(path) as f:  # without it, a re-run decides again, the same way
                f.write(json.dumps(result).encode())
        return result

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


def describe(by_reason):
    return ', '.join(f'{n:,} {reason}' for reason, n in sorted(by_reason.items()) if n) or 'none'


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
        from pipeline.jobs.mr_compact_chunk import MRCompactChunk  # mrjob: see tasks/jobs.py
        runner = config.analysis().runner
        chunks = config.ingest().chunks
        self.set_status_message(f'compacting {out}: {chunks} chunks ({runner} runner), from the full snapshot '
                                f'of {previous} and {len(incrementals)} incremental sets')
        return jobs.run_chunks(self, MRCompactChunk, runner, (
            {'chunk': chunk, 'previous_full': paths.full_snapshot(project(), previous),
             'incrementals': incrementals, 'out': paths.staging(out)} for chunk in range(chunks)))
