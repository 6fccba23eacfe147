"""Sample data: fill the configured bucket with synthetic analyses and publish metadata dumps.

    python -m pipeline.sample --start 2014-09-01 --days 7 --tracks 400 --new-per-day 20

Track n of the catalog is the same on every run (everything derives from n). The catalog of day k
holds tracks 0 .. tracks + k * new_per_day. Among them, on purpose: tracks with no analysis in S3,
a few corrupt documents (truncated, malformed, bad gzip, another track's), gzip-encoded documents,
and objects in the bucket that are not analyses at all.
"""
import argparse
import concurrent.futures
import datetime
import gzip
import json
import random

from pipeline import config, dump, fs, s3
from pipeline.synthetic import echonest_id, spotify_track_id, synthetic_analysis

CORRUPTIONS = ('truncated_json', 'malformed_json', 'bad_gzip', 'wrong_track')


def track(n):
    rng = random.Random(n)
    era = 'echonest' if n % 3 == 0 else 'spotify'
    return {'track_id': spotify_track_id(n), 'echonest_id': echonest_id(n),
            'analysis_version': '3' if era == 'echonest' else '4',
            'duration_ms': round(rng.uniform(60, 360) * 1000), 'era': era}


def has_analysis(n):
    return n % 37 != 5


def corruption(n):
    return CORRUPTIONS[(n // 61) % len(CORRUPTIONS)] if n % 61 == 29 else None


def dump_row(n):
    return {k: v for k, v in track(n).items() if k != 'era'}


def document(n):
    """The bytes stored for track n, and their Content-Encoding."""
    t = track(n)
    fault = corruption(n)
    duration = t['duration_ms'] / 1000 * (2.5 if fault == 'wrong_track' else 1)
    body = json.dumps(synthetic_analysis(n, t['era'], duration), separators=(',', ':')).encode()
    if fault == 'truncated_json':
        return body[:len(body) // 2], None
    if fault == 'malformed_json':
        return body.replace(b'"segments":', b'"segments"=', 1), None
    if fault == 'bad_gzip':
        return gzip.compress(body)[:-64], 'gzip'
    if n % 4 == 1:
        return gzip.compress(body, 6), 'gzip'
    return body, None


def upload(client, bucket, key_template, n):
    if has_analysis(n):
        body, encoding = document(n)
        extra = {'ContentEncoding': encoding} if encoding else {}
        client.put_object(Bucket=bucket, Key=key_template.format(**dump_row(n)), Body=body, **extra)
    if n % 5 == 0:
        # Not analyses: what else such a bucket holds.
        client.put_object(Bucket=bucket, Key=f'previews/{echonest_id(n)}.mp3', Body=random.Random(n).randbytes(2048))
        client.put_object(Bucket=bucket, Key=f'TR/{echonest_id(n)}/{dump_row(n)["analysis_version"]}/status.json',
                          Body=b'{"status":"complete"}')


def populate(settings, start, days, tracks, new_per_day, first_track=0, upload_analyses=True):
    """Upload the analyses of tracks first_track .. catalog size of the last day, and publish the dumps."""
    last = tracks + (days - 1) * new_per_day
    if upload_analyses:
        bucket, key_template = settings['s3']['bucket'], settings['s3']['key_template']
        client = s3.client(settings['s3'], max_pool_connections=16)
        if bucket not in {b['Name'] for b in client.list_buckets()['Buckets']}:
            client.create_bucket(Bucket=bucket)
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda n: upload(client, bucket, key_template, n), range(first_track, last)))
    warehouse = fs.open_warehouse(settings['warehouse'])
    for k in range(days):
        date = start + datetime.timedelta(days=k)
        dump.write(warehouse, date, (dump_row(n) for n in range(tracks + k * new_per_day)))
    return last


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--start', type=datetime.date.fromisoformat, default=datetime.date(2014, 9, 1))
    parser.add_argument('--days', type=int, default=7)
    parser.add_argument('--tracks', type=int, default=400, help='catalog size on the first day')
    parser.add_argument('--new-per-day', type=int, default=20)
    args = parser.parse_args()
    settings = config.settings()
    last = populate(settings, args.start, args.days, args.tracks, args.new_per_day)
    print(f'{last} tracks in s3://{settings["s3"]["bucket"]}, dumps for {args.days} days from {args.start} '
          f'in {fs.open_warehouse(settings["warehouse"])}')


if __name__ == '__main__':
    main()
