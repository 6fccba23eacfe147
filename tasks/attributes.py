"""The daily attributes snapshot: yesterday's attributes joined with today's analysis set."""
import logging

import luigi

from pipeline import analysis_sets, attribute_snapshots, attributes, config, fs, paths
from tasks import jobs
from tasks.analysis import ONE_DAY, analysis_set, analysis_set_path, calendar, project
from tasks.targets import DateParameter, WarehouseTarget, warehouse

log = logging.getLogger('luigi-interface')


def snapshot(date):
    return paths.attribute_snapshot(project(), date)


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

    def base_date(self):
        """The date of the attributes snapshot to reuse: yesterday, or on a compaction day the newest there is."""
        if not calendar().is_full(self.date):
            return self.date - ONE_DAY
        earlier = [d for d in analysis_sets.complete_dates(warehouse(), paths.attribute_snapshots(project()))
                   if d < self.date]
        return max(earlier, default=None)

    def sets_to_compute(self, base_date, recompute):
        """The analysis sets every track of which is computed today: the incremental sets after the base
        snapshot (today's alone, but on a compaction day); with no base or a new calculator version, every
        current set."""
        if not recompute:
            return [paths.incremental_set(project(), base_date + k * ONE_DAY)
                    for k in range(1, (self.date - base_date).days + 1)]
        if calendar().is_full(self.date):
            return [analysis_set_path(self.date)]
        return calendar().current_sets(project(), self.date + ONE_DAY)

    def specs(self, base, sets):
        """One line per chunk for the job: see attribute_snapshots.join_chunk."""
        wh = warehouse()
        indexes = [analysis_sets.kept_index(wh, directory) for directory in sets]
        sources = [directory for directory, index in zip(sets, indexes) if index == directory]
        if len(sources) < len(sets):  # sets deleted by a compaction: a newer full snapshot has their tracks
            sources.append(paths.full_snapshot(project(), max(analysis_sets.complete_full_snapshots(wh, project()))))
        staging = paths.staging(snapshot(self.date))
        for chunk in range(config.ingest().chunks):
            yield {'chunk': chunk, 'base': base and paths.chunk(base, chunk), 'out': paths.chunk(staging, chunk),
                   'date': str(self.date), 'compute': [paths.chunk(index, chunk) for index in indexes],
                   'sources': [paths.chunk(source, chunk) for source in sources],
                   'compact': calendar().is_full(self.date), 'part_tracks': config.attributes().part_tracks}

    def run(self):
        wh = warehouse()
        version = attributes.CALCULATOR_VERSION
        base_date = self.base_date()
        base = base_date and snapshot(base_date)
        recompute = not base or analysis_sets.read_success(wh, base)['calculator_version'] != version
        if base and recompute:
            log.info('A new calculator version: recomputing every track')
        sets = self.sets_to_compute(base_date, recompute)
        staging = paths.staging(snapshot(self.date))
        wh.remove(staging)  # what a killed run left
        if isinstance(wh, fs.LocalWarehouse) and not (recompute or calendar().is_full(self.date)) \
                and analysis_sets.read_success(wh, analysis_sets.kept_index(wh, sets[0]))['written'] == 0:
            # Nothing new, nothing to recompute: today's snapshot is yesterday's files, linked (no job).
            files = [path for chunk in attribute_snapshots.snapshot_files(wh, base).values() for path in chunk]
            for path in files:
                wh.link(path, staging + path[len(base):])
            counts = {k: v for k, v in analysis_sets.read_success(wh, base).items() if k in ('tracks', 'rejected')}
            counts.update(computed=0, kept=counts['tracks'] + counts['rejected'], files_carried=len(files),
                          files_written=0)
        else:
            counts = self.run_job(base, sets, version)
        totals = {'calculator_version': version, 'base': base, **counts}
        analysis_sets.publish(wh, snapshot(self.date), totals)
        log.info('Attributes snapshot %s: %s', snapshot(self.date), totals)

    def run_job(self, base, sets, version):
        """Each chunk a map task, which reads and writes the warehouse itself; the driver sees counts only."""
        from pipeline.jobs.mr_daily_attributes import MRDailyAttributes  # mrjob: see tasks/jobs.py
        runner = config.attributes().runner
        self.set_status_message(f'joining {base or "no attributes yet"} with the analysis set of {self.date} '
                                f'({runner} runner, {config.ingest().chunks} chunks)')
        counts = jobs.run_chunks(self, MRDailyAttributes, runner, self.specs(base, sets),
                                 ['--calculator-version', str(version)])
        self.set_status_message(f'writing {snapshot(self.date)}')
        return counts
