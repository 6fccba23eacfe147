"""What the warehouse holds, date by date, from the _SUCCESS files the datasets already have.

    python -m pipeline.status                                  every date from the first snapshot on
    python -m pipeline.status --date 2014-09-07
    python -m pipeline.status --start 2014-09-01 --stop 2014-09-08    (stop excluded, as RangeDaily)

For each date: whether the metadata dump is published; the analysis set (full or incremental; complete,
being written, deleted by a compaction with its counts kept, or not there) with its tracks, written,
missing, failed, waiting (in the ledger, to be tried again) and downloaded bytes; the attributes
snapshot with its tracks and rejected ones.
"""
import argparse
import datetime

from pipeline import analysis_sets, config, fs, paths
from pipeline.analysis_sets import Calendar

ONE_DAY = datetime.timedelta(days=1)
COLUMNS = ('date', 'dump', 'analysis set', 'tracks', 'written', 'missing', 'failed', 'waiting', 'MB',
           'attributes', 'tracks', 'rejected')


def _state(warehouse, directory, done):
    """(state, counts of its _SUCCESS or {}) of a dated dataset directory."""
    date = datetime.date.fromisoformat(directory.rpartition('/')[2])
    if date in done:
        return 'complete', analysis_sets.read_success(warehouse, directory)
    if analysis_sets.is_complete(warehouse, paths.superseded_of(directory)):
        return 'deleted', analysis_sets.read_success(warehouse, paths.superseded_of(directory))
    if warehouse.exists(paths.staging(directory)):
        return 'being written', {}
    return '-', {}


def rows(warehouse, project, calendar, dates):
    """One tuple of COLUMNS per date. Each dataset's directory is listed once, not once per date."""
    listed = {kind: set(analysis_sets.complete_dates(warehouse, paths.analysis_sets(project, kind)))
              for kind in ('full', 'incremental')}
    attributes_done = set(analysis_sets.complete_dates(warehouse, paths.attribute_snapshots(project)))
    for date in dates:
        dump = 'published' if warehouse.exists(paths.success(paths.metadata_dump(date))) else '-'
        kind = 'full' if calendar.is_full(date) else 'incremental'
        directory = (paths.full_snapshot if kind == 'full' else paths.incremental_set)(project, date)
        state, counts = _state(warehouse, directory, listed[kind])
        snapshot, attributes = _state(warehouse, paths.attribute_snapshot(project, date), attributes_done)
        megabytes, waiting = counts.get('bytes_downloaded'), counts.get('waiting')
        yield (paths.day(date), dump, f'{kind}, {state}', counts.get('tracks', ''), counts.get('written', ''),
               counts.get('missing', ''), counts.get('failed', ''), sum(waiting.values()) if waiting else '',
               f'{megabytes / 1e6:.1f}' if megabytes is not None else '',
               snapshot, attributes.get('tracks', ''), attributes.get('rejected', ''))


def last_date(warehouse, project):
    """The newest date any dataset has: the dumps, the analysis sets, the attributes snapshots."""
    listings = [paths.METADATA_DUMP, paths.attribute_snapshots(project),
                paths.analysis_sets(project, 'full'), paths.analysis_sets(project, 'incremental')]
    return max((d for listing in listings for d in analysis_sets.complete_dates(warehouse, listing)), default=None)


def table(lines):
    lines = [tuple(str(v) for v in line) for line in lines]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    return '\n'.join('  '.join(v.rjust(w) if v[:1].isdigit() and i else v.ljust(w)
                               for i, (v, w) in enumerate(zip(line, widths))).rstrip() for line in lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--date', type=datetime.date.fromisoformat)
    parser.add_argument('--start', type=datetime.date.fromisoformat)
    parser.add_argument('--stop', type=datetime.date.fromisoformat)
    args = parser.parse_args()
    settings = config.settings()
    warehouse = fs.open_warehouse(settings['warehouse'])
    project = settings['warehouse']['project']
    calendar = Calendar(settings['analysis']['first_snapshot'], settings['analysis']['full_every_days'])
    start = max(args.date or args.start or calendar.first, calendar.first)
    stop = args.date + ONE_DAY if args.date else args.stop or (last_date(warehouse, project) or start) + ONE_DAY
    dates = [start + k * ONE_DAY for k in range((stop - start).days)]
    print(f'{warehouse}, /{project}')
    print(table([COLUMNS, *rows(warehouse, project, calendar, dates)]))


if __name__ == '__main__':
    main()
