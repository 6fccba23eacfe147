"""Every dataset path of the warehouse, in one place: /project/dataset/date as in the rest of Hadoop."""

METADATA_DUMP = '/metadata/dump'
SUCCESS = '_SUCCESS'


def day(date):
    return date.strftime('%Y-%m-%d')


def metadata_dump(date):
    return f'{METADATA_DUMP}/{day(date)}'


def full_snapshot(project, date):
    return f'/{project}/analysis/full/{day(date)}'


def chunk(snapshot, number):
    return f'{snapshot}/chunk-{number:02d}'


def part(chunk_dir, number):
    return f'{chunk_dir}/part-{number:05d}.avro'


def part_failures(chunk_dir, number):
    return f'{chunk_dir}/_failures/part-{number:05d}.avro'


def part_counts(chunk_dir, number):
    return f'{chunk_dir}/_counts/part-{number:05d}.json'


def success(directory):
    return f'{directory}/{SUCCESS}'


def ingest_estimate(snapshot):
    return f'{snapshot}/_ESTIMATE.json'
