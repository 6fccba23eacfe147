"""Every dataset path of the warehouse, in one place: /project/dataset/date as in the rest of Hadoop."""

METADATA_DUMP = '/metadata/dump'
SUCCESS = '_SUCCESS'


def day(date):
    return date.strftime('%Y-%m-%d')


def metadata_dump(date):
    return f'{METADATA_DUMP}/{day(date)}'


def full_snapshot(project, date):
    return f'{analysis_sets(project, "full")}/{day(date)}'


def incremental_set(project, date):
    return f'{analysis_sets(project, "incremental")}/{day(date)}'


def analysis_sets(project, kind):
    """The directory holding every set of a kind ('full' or 'incremental'), one per date."""
    return f'/{project}/analysis/{kind}'


def attribute_snapshots(project):
    return f'/{project}/attributes'


def attribute_snapshot(project, date):
    return f'{attribute_snapshots(project)}/{day(date)}'


def attribute_part(chunk_dir, date, number):
    """A part of an attributes snapshot's chunk, named by the date of the snapshot that wrote it: a part
    carried to later snapshots keeps its name, so a name identifies a content across snapshots."""
    return f'{chunk_dir}/part-{date.strftime("%Y%m%d")}-{number:05d}.avro'


def attribute_rejects(chunk_dir):
    """Where a chunk's tracks with no attributes are listed with their reason, in parts named alike."""
    return f'{chunk_dir}/_rejects'


def superseded(project, kind, date):
    """Where a deleted set's index, failures and counts stay: what it held is still known."""
    return f'/{project}/analysis/superseded/{kind}/{day(date)}'


def superseded_of(analysis_set):
    head, kind, date = analysis_set.rsplit('/', 2)
    return f'{head}/superseded/{kind}/{date}'


def staging(directory):
    """Where a set is written before it is renamed into place: a dated directory exists only when
    complete, so one listing tells which dates are done. Hidden from Hadoop's globs by its dot."""
    head, _, tail = directory.rpartition('/')
    return f'{head}/.staging-{tail}'


def chunk(analysis_set, number):
    return f'{analysis_set}/chunk-{number:02d}'


def part(chunk_dir, number):
    return f'{chunk_dir}/part-{number:05d}.avro'


def part_failures(chunk_dir, number):
    return f'{chunk_dir}/_failures/part-{number:05d}.avro'


def part_ids(chunk_dir, number):
    """The track IDs written in a part, one a line: the index that says what a set holds."""
    return f'{chunk_dir}/_ids/part-{number:05d}.ids'


def part_stopped(chunk_dir, number):
    """Left by a part its failure threshold stopped: the failures listed beside it are known to a re-run."""
    return f'{chunk_dir}/_stopped/part-{number:05d}'


def part_counts(chunk_dir, number):
    return f'{chunk_dir}/_counts/part-{number:05d}.json'


def ledger(chunk_dir):
    """The chunk's tracks not written as of its set's date, with their retry schedule (ledger_entry.avsc)."""
    return f'{chunk_dir}/_ledger/part-00000.avro'


def dump_keys(chunk_dir):
    """The chunk's tracks in the dump of its set's date, each with a checksum of its S3 key, one a line: what
    the next day's set compares its dump with, in place of reading this one again."""
    return f'{chunk_dir}/_dump_keys'


def listing(directory):
    """The tracks a set's daily listing found in S3, once per set: a re-run fetches the same tracks."""
    return f'{directory}/_LISTED'


def retry_now(project):
    """A request to try every listed track again in the next incremental set (python -m pipeline.ledger)."""
    return f'/{project}/analysis/_RETRY_NOW'


def success(directory):
    return f'{directory}/{SUCCESS}'


def ingest_estimate(snapshot):
    return f'{snapshot}/_ESTIMATE.json'
