"""A catalog at scale, without S3: what the pipeline would have left after the bulk ingest of 2014-09-01.

    python -m bench.catalog --tracks 1000000

into the warehouse and bucket of luigi.cfg (or LUIGI_CONFIG_PATH), which must not hold that bulk ingest yet:
the metadata dumps of 2014-09-01 to 2014-09-08 for a catalog of N tracks growing by 100 a day, the full
snapshot of 2014-09-01 and its attributes snapshot, and, in the bucket, the analyses of the later days' new
tracks. Then `luigi --module tasks DailyAttributes --date 2014-09-02` runs the real daily path, and
`--date 2014-09-08` a compaction. The analyses are small (2-4 s of music, 4-7 KB) and, in the full
snapshot, drawn from a few dozen documents of pipeline.synthetic: their size is not what is measured here.
"""
import argparse
import concurrent.futures
import datetime
import json
import time

from pipeline import analysis_sets, attribute_snapshots, attributes, compaction, config, dump, fs, paths, records, s3
from pipeline.synthetic import echonest_id, spotify_track_id, synthetic_analysis

FIRST, DAYS, NEW_PER_DAY = datetime.date(2014, 9, 1), 8, 100
DOCUMENTS = 64  # distinct analyses in the full snapshot


def era(n):
    return 'echonest' if n % 3 == 0 else 'spotify'


def seconds(n):
    return 2.0 + (n % DOCUMENTS) / DOCUMENTS * 2


def row(n):
    return {'track_id': spotify_track_id(n), 'echonest_id': echonest_id(n), 'duration_ms': round(seconds(n) * 1000),
            'analysis_version': '3' if era(n) == 'echonest' else '4'}


def analysis(n):
    return json.dumps(synthetic_analysis(n, era(n), seconds(n)), separators=(',', ':'))


def write_dumps(wh, tracks, chunks):
    """Each day's dump: the first day's rows in one part file (linked from day to day), the new ones in another.
    Returns the first day's tracks by chunk: [(n, track ID, Echo Nest ID)] each."""
    by_chunk = [[] for _ in range(chunks)]

    def first_rows():
        for n in range(tracks):
            r = row(n)
            by_chunk[dump.chunk_of(r['track_id'], chunks)].append((n, r['track_id'], r['echonest_id']))
            yield r
    first_part = f'{paths.metadata_dump(FIRST)}/part-00000.avro'
    with wh.open_write(first_part) as f:
        records.write(f, 'metadata_dump', first_rows())
    for day in range(DAYS):
        directory = paths.metadata_dump(FIRST + datetime.timedelta(days=day))
        if day:
            wh.link(first_part, f'{directory}/part-00000.avro')
            with wh.open_write(f'{directory}/part-00001.avro') as f:
                records.write(f, 'metadata_dump', map(row, range(tracks, tracks + day * NEW_PER_DAY)))
        with wh.open_write(paths.success(directory)) as f:
            f.write(b'')
    return by_chunk


def write_snapshots(wh, settings, by_chunk):
    """The full snapshot of the first day (with the keys of its dump, as the bulk ingest leaves them) and
    its attributes snapshot, a chunk at a time."""
    version, project = attributes.CALCULATOR_VERSION, settings['warehouse']['project']
    documents = [analysis(n) for n in range(DOCUMENTS)]
    computed = [attribute_snapshots.compute('', document, version)[1] for document in documents]
    full, attributes_snapshot = paths.full_snapshot(project, FIRST), paths.attribute_snapshot(project, FIRST)
    for chunk, tracks in enumerate(by_chunk):
        chunk_dir = paths.chunk(paths.staging(full), chunk)
        compaction.write_parts(wh, chunk_dir, ({'track_id': t, 'echonest_id': e, 'analysis': documents[n % DOCUMENTS]}
                                               for n, t, e in tracks), 0, settings['ingest'])
        with wh.open_write(paths.success(chunk_dir)) as f:
            f.write(json.dumps({'tracks': len(tracks), 'written': len(tracks)}).encode())
        attribute_snapshots.write_parts(
            wh, paths.chunk(paths.staging(attributes_snapshot), chunk), 'attributes',
            ({**computed[n % DOCUMENTS], 'track_id': t} for n, t, _ in tracks),
            FIRST, settings['attributes']['part_tracks'], settings['ingest'])
        print(f'chunk {chunk + 1}/{len(by_chunk)}: {len(tracks):,} tracks', flush=True)
    analysis_sets.write_dump_keys(wh, paths.staging(full), FIRST, len(by_chunk), s3.AnalysisStore(settings['s3']).key)
    total = sum(map(len, by_chunk))
    analysis_sets.publish(wh, full, {'tracks': total, 'written': total, 'missing': 0, 'failed': 0})
    analysis_sets.publish(wh, attributes_snapshot, {'calculator_version': version, 'tracks': total, 'rejected': 0,
                                                    'base': None})


def upload_new_tracks(settings, tracks):
    bucket = settings['s3']['bucket']
    client = s3.client(settings['s3'])
    if bucket not in {b['Name'] for b in client.list_buckets()['Buckets']}:
        client.create_bucket(Bucket=bucket)

    def upload(n):
        client.put_object(Bucket=bucket, Key=settings['s3']['key_template'].format(**row(n)), Body=analysis(n).encode())
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(upload, range(tracks, tracks + (DAYS - 1) * NEW_PER_DAY)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--tracks', type=int, required=True, help='catalog size on 2014-09-01')
    args = parser.parse_args()
    settings = config.settings()
    wh = fs.open_warehouse(settings['warehouse'])
    if settings['analysis']['first_snapshot'] != FIRST:
        raise SystemExit(f'[analysis] first_snapshot must be {FIRST} for this catalog')
    if analysis_sets.complete_dates(wh, paths.METADATA_DUMP):
        raise SystemExit(f'{wh} already holds metadata dumps: give the catalog an empty warehouse ([warehouse] root)')
    started = time.monotonic()
    upload_new_tracks(settings, args.tracks)
    write_snapshots(wh, settings, write_dumps(wh, args.tracks, settings['ingest']['chunks']))
    print(f'{args.tracks:,} tracks, dumps of {FIRST} to {FIRST + datetime.timedelta(days=DAYS - 1)}, the full and '
          f'attributes snapshots of {FIRST} in {wh}; {(DAYS - 1) * NEW_PER_DAY} new analyses in '
          f's3://{settings["s3"]["bucket"]} ({time.monotonic() - started:.0f} s)')


if __name__ == '__main__':
    main()
