"""`make bench`: figures measured side by side in one run, against one local S3 server.

    python -m bench [--tracks 600]

Not a test: it prints numbers and ratios, and asserts nothing about speed.
"""
import argparse
import datetime
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import luigi

from pipeline import config, local_s3, paths, records, sample
from tasks import BulkIngest

DATE = datetime.date(2014, 9, 1)


def configure(values):
    parser = luigi.configuration.get_config()
    for section, options in values.items():
        for option, value in options.items():
            parser.set(section, option, str(value))


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def snapshot_parts(root):
    return (root / paths.full_snapshot('echonest', DATE).lstrip('/')).glob('chunk-*/part-*.avro')


def ingest(work, tracks, endpoint, bucket):
    """BulkIngest against `aws s3 cp --recursive` of the same objects, and the packed size."""
    print(f'\n== Bulk ingest: {tracks} tracks, {config.ingest().chunks} chunks, '
          f'{config.s3().max_concurrency} concurrent GETs ==')
    results = {}
    for codec in ('deflate', 'zstandard', 'snappy'):
        root = work / f'warehouse-{codec}'
        configure({'warehouse': {'root': root}, 'ingest': {'codec': codec}})
        sample.populate(config.settings(), DATE, 1, tracks, 0, upload_analyses=False)
        seconds = timed(lambda: luigi.build([BulkIngest(DATE)], local_scheduler=True, log_level='WARNING'))
        totals = json.loads((root / paths.success(paths.full_snapshot('echonest', DATE)).lstrip('/')).read_text())
        results[codec] = (seconds, totals, sum(p.stat().st_size for p in snapshot_parts(root)))
    seconds, totals, _ = results['deflate']

    copy = work / 'aws-s3-cp'
    aws = [str(Path(sys.executable).with_name('aws')), 's3', 'cp', '--recursive', '--quiet', '--endpoint-url',
           endpoint, f's3://{bucket}/TR/', str(copy), '--exclude', '*', '--include', '*/full.json']
    aws_seconds = timed(lambda: subprocess.run(aws, check=True))
    aws_files = list(copy.rglob('full.json'))
    aws_bytes = sum(p.stat().st_size for p in aws_files)

    print(f'{"":28} {"seconds":>8} {"tracks/s":>9} {"MB/s":>7}')
    for codec, (s, t, _) in results.items():
        print(f'{"BulkIngest (" + codec + ")":28} {s:8.2f} {t["tracks"] / s:9.1f} {t["bytes_downloaded"] / 1e6 / s:7.1f}')
    print(f'{"aws s3 cp --recursive":28} {aws_seconds:8.2f} {len(aws_files) / aws_seconds:9.1f} '
          f'{aws_bytes / 1e6 / aws_seconds:7.1f}')
    print(f'ratio BulkIngest (deflate) / aws s3 cp, tracks/s: '
          f'{(totals["tracks"] / seconds) / (len(aws_files) / aws_seconds):.2f}')
    print(f'requests: {totals["requests"]} for {totals["tracks"]} tracks '
          f'({totals["written"]} written, {totals["missing"]} missing, {totals["failed"]} failed)')

    compact = gzipped = 0
    for f in snapshot_parts(work / 'warehouse-deflate'):
        with open(f, 'rb') as fo:
            for record in records.read(fo, 'analysis'):
                text = record['analysis'].encode()
                compact += len(text)
                gzipped += len(gzip.compress(text, 6))
    print(f'\nsize of the {totals["written"]} written analyses:')
    print(f'{"compact JSON":28} {compact / 1e6:8.1f} MB  1.00')
    print(f'{"gzip -6 of each document":28} {gzipped / 1e6:8.1f} MB  {gzipped / compact:.3f}')
    for codec, (_, _, packed) in results.items():
        print(f'{"packed Avro, " + codec:28} {packed / 1e6:8.1f} MB  {packed / compact:.3f}')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--tracks', type=int, default=600)
    args = parser.parse_args()
    os.environ.setdefault('AWS_ACCESS_KEY_ID', 'testing')
    os.environ.setdefault('AWS_SECRET_ACCESS_KEY', 'testing')
    work = Path(tempfile.mkdtemp(prefix='bench-'))
    try:
        with local_s3.running(log_path=str(work / 'moto.log')) as endpoint:
            bucket = 'bench-analysis'
            # Four chunks, not twenty: per-chunk start-up is amortised over 1.75M tracks in production.
            configure({'s3': {'endpoint_url': endpoint, 'bucket': bucket}, 'warehouse': {'root': work / 'setup'},
                       'ingest': {'chunks': 4}})
            print(f'uploading {args.tracks} synthetic analyses to {endpoint} ...', flush=True)
            sample.populate(config.settings(), DATE, 1, args.tracks, 0)
            ingest(work, args.tracks, endpoint, bucket)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
