"""The daily attributes snapshot: yesterday's attributes joined with today's analysis set."""
import json
import logging
import tempfile

import luigi

from pipeline import analysis_sets, attributes, config, fs, paths, records
from pipeline.jobs.mr_daily_attributes import MRDailyAttributes
from tasks import jobs
from tasks.analysis import ONE_DAY, analysis_set, analysis_set_path, calendar, project
from tasks.targets import DateParameter, WarehouseTarget, warehouse

log = logging.getLogger('luigi-interface')


def snapshot(date):
    return paths.attribute_snapshot(project(), date)


def index_entries(wh, directory, kind, rank, wanted):
    for chunk in range(config.ingest().chunks):
        chunk_dir = paths.chunk(directory, chunk)
        for part in analysis_sets.indexed_parts(wh, chunk_dir):
            yield {'kind': kind, 'chunk': chunk_dir, 'part': part, 'rank': rank, 'wanted': wanted}


class DailyAttributes(luigi.Task):
    """A full dump of every analysed track's attributes. A compaction day needs no yesterday (its analysis
    set holds every track), so the chain of days behind a date is at most one compaction cycle long."""
    date = DateParameter()

    def requires(self):
        calendar().check(self.date)
        needs = {'analysis': analysis_set(self.date)}
        if not calendar().is_full(self.date):
            needs['yesterday'] = DailyAttributes(self.date - ONE_DAY)
        return needs

    def output(self):
        return WarehouseTarget(paths.success(snapshot(self.date)))

    def complete(self):
        return bool(self.bulk_complete([self.date]))

    @classmethod
    def bulk_complete(cls, dates):
        """One listing for any number of dates: a snapshot is renamed into place once complete."""
        done = set(analysis_sets.complete_dates(warehouse(), paths.attribute_snapshots(project())))
        return [d for d in dates if d in done]

    def base(self):
        """The attributes snapshot to reuse: yesterday's, or on a compaction day the newest there is."""
        if not calendar().is_full(self.date):
            return snapshot(self.date - ONE_DAY)
        earlier = [d for d in analysis_sets.complete_dates(warehouse(), paths.attribute_snapshots(project()))
                   if d < self.date]
        return snapshot(max(earlier)) if earlier else None

    def manifest(self, base, recompute):
        """One line per input file of the join: the base snapshot and its rejects, and the track-ID
        index of the analysis sets: today's, or every current one when the calculator changed."""
        wh = warehouse()
        if base:
            yield {'kind': 'attributes', 'path': paths.part(base, 0)}
            yield {'kind': 'rejects', 'path': paths.rejects(base)}
        if calendar().is_full(self.date) or not recompute:
            sets = [analysis_set_path(self.date)]
        else:
            log.info('A new calculator version: recomputing every track')
            sets = calendar().current_sets(project(), self.date + ONE_DAY)
        superseded = False
        for rank, directory in enumerate(sets):
            kept = analysis_sets.kept_index(wh, directory)
            # A set deleted by a compaction: its index says which tracks; a newer snapshot has them.
            superseded = superseded or kept != directory
            yield from index_entries(wh, kept, 'index' if kept == directory else 'wanted', rank, wanted=True)
        if superseded:
            latest = max(analysis_sets.complete_full_snapshots(wh, project()))
            yield from index_entries(wh, paths.full_snapshot(project(), latest), 'index', len(sets), wanted=False)

    def run(self):
        wh = warehouse()
        version = attributes.CALCULATOR_VERSION
        base = self.base()
        staging = paths.staging(snapshot(self.date))
        counts = {'calculator_version': version, 'tracks': 0, 'rejected': 0, 'base': base}
        base_counts = analysis_sets.read_success(wh, base) if base else {'calculator_version': version}
        recompute = base_counts['calculator_version'] != version
        today = analysis_sets.kept_index(wh, analysis_set_path(self.date))
        if not (recompute or calendar().is_full(self.date)) and analysis_sets.read_success(wh, today)['written'] == 0:
            # Nothing new and nothing to recompute: today's snapshot is yesterday's.
            for path in (paths.part(base, 0), paths.rejects(base)):
                fs.copy(wh, path, path.replace(base, staging))
            counts.update(tracks=base_counts['tracks'], rejected=base_counts['rejected'], copied=True)
            analysis_sets.publish(wh, snapshot(self.date), counts)
            return
        runner_name = config.attributes().runner
        self.set_status_message(f'joining {base or "no attributes yet"} with the analysis set of {self.date} '
                                f'({runner_name} runner)')
        with tempfile.NamedTemporaryFile('w', suffix='.jsonl') as manifest, \
                tempfile.TemporaryFile('w+') as rejects:
            for entry in self.manifest(base, recompute):
                manifest.write(json.dumps(entry) + '\n')
            manifest.flush()
            with jobs.run(self, MRDailyAttributes, runner_name, manifest.name,
                          ['--calculator-version', str(version)]) as (job, runner):
                self.set_status_message(f'writing {snapshot(self.date)}')

                def kept():
                    for _, (what, record) in job.parse_output(runner.cat_output()):
                        if what == 'keep':
                            counts['tracks'] += 1
                            yield record
                        else:
                            counts['rejected'] += 1
                            rejects.write(json.dumps(record) + '\n')
                with wh.open_write(paths.part(staging, 0)) as f:
                    records.write(f, 'attributes', kept(), config.settings()['ingest'])
                counts['job_counters'] = runner.counters()
            rejects.seek(0)
            with wh.open_write(paths.rejects(staging)) as f:
                records.write(f, 'attribute_reject', (json.loads(line) for line in rejects))
        analysis_sets.publish(wh, snapshot(self.date), counts)
        log.info('Attributes snapshot %s: %s', snapshot(self.date), counts)
