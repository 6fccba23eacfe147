"""`make bench`: figures measured side by side in one run, against one local S3 server.

    python -m bench [--tracks 600] [--only scale|cassandra] [--scale 100000 1000000]

Not a test: it prints numbers and ratios, and asserts nothing about speed.
"""
import argparse
import datetime
import gzip
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import luigi

from luigi.tools.range import RangeDaily

from bench import cassandra
from hadoop import minicluster
from pipeline import analysis_sets, attributes, compaction, config, dump, fs, local_s3, paths, records, sample
from tasks import BulkIngest, DailyAttributes, IncrementalAnalysis

DATE = datetime.date(2014, 9, 1)
ONE_DAY = datetime.timedelta(days=1)


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


def incremental_step(work, catalog, new):
    """One daily incremental step over a catalog of `catalog` tracks with `new` new ones. The full snapshot
    holds tiny stand-in analyses: the step must never read them, only the track-ID index."""
    root = work / f'incremental-{catalog}'
    configure({'warehouse': {'root': root}})
    settings = config.settings()
    wh = fs.open_warehouse(settings['warehouse'])
    chunks = settings['ingest']['chunks']
    by_chunk = [[] for _ in range(chunks)]
    held = range(10 ** 6, 10 ** 6 + catalog)  # stand-ins, never fetched; the new tracks are 0 .. new - 1
    for n in held:
        row = sample.dump_row(n)
        by_chunk[dump.chunk_of(row['track_id'], chunks)].append(
            {'track_id': row['track_id'], 'echonest_id': row['echonest_id'], 'analysis': '{}'})
    snapshot = paths.full_snapshot('echonest', DATE)
    for chunk, stand_ins in enumerate(by_chunk):
        compaction.write_parts(wh, paths.chunk(snapshot, chunk), stand_ins, 0, settings['ingest'])
        with wh.open_write(paths.success(paths.chunk(snapshot, chunk))) as f:
            f.write(json.dumps({'written': len(stand_ins)}).encode())
    with wh.open_write(paths.success(snapshot)) as f:
        f.write(b'{}')
    dump.write(wh, DATE + ONE_DAY, (sample.dump_row(n) for n in itertools.chain(held, range(new))))
    finding = timed(lambda: analysis_sets.new_rows_by_chunk(wh, DATE + ONE_DAY, [snapshot], chunks))
    step = timed(lambda: luigi.build([IncrementalAnalysis(DATE + ONE_DAY)], local_scheduler=True,
                                     log_level='WARNING'))
    return step, finding


def incrementals_and_compaction(work, n, new):
    print('\n== Incremental sets and compaction ==')
    small, large = 10_000, 100_000
    (t_small, f_small), (t_large, f_large) = incremental_step(work, small, new), incremental_step(work, large, new)
    print(f'daily incremental step, {new} new tracks: catalog {small:,}: {t_small:.2f} s, '
          f'catalog {large:,}: {t_large:.2f} s, ratio {t_large / t_small:.2f}')
    print(f'  of which finding the new tracks (a pass over the dump and the track-ID index, no analysis read): '
          f'{f_small:.2f} s and {f_large:.2f} s, {(f_large - f_small) / (large - small) * 1e6:.1f} us per catalog track')

    root = work / 'warehouse-deflate'
    configure({'warehouse': {'root': root}})
    settings = config.settings()
    wh = fs.open_warehouse(settings['warehouse'])
    sample.populate(settings, DATE, 2, n, new, upload_analyses=False)
    assert luigi.build([IncrementalAnalysis(DATE + ONE_DAY)], local_scheduler=True, log_level='WARNING')
    out = paths.staging(paths.full_snapshot('echonest', DATE + 2 * ONE_DAY))
    seconds = timed(lambda: [compaction.compact_chunk(
        wh, settings['ingest'], c, paths.full_snapshot('echonest', DATE),
        [paths.incremental_set('echonest', DATE + ONE_DAY)], out) for c in range(settings['ingest']['chunks'])])
    size = sum(p.stat().st_size for p in (root / out.lstrip('/')).rglob('*') if p.is_file())
    source = root / paths.full_snapshot('echonest', DATE).lstrip('/')
    copy_seconds = timed(lambda: shutil.copytree(source, work / 'plain-copy'))
    copied = sum(p.stat().st_size for p in (work / 'plain-copy').rglob('*') if p.is_file())
    print(f'compaction of the {n}-track snapshot and one incremental set: {size / 1e6:.1f} MB in {seconds:.2f} s, '
          f'{size / 1e6 / seconds:.0f} MB/s')
    files = [str(p.relative_to(root)) for p in source.rglob('*') if p.is_file()]
    durable_seconds = timed(lambda: [fs.copy(wh, f'/{f}', f'/durable-copy/{f}') for f in files])
    for name, s in (('shutil.copytree', copy_seconds), ('pipeline.fs.copy, each file fsynced and renamed', durable_seconds)):
        print(f'plain copy of the snapshot ({name}): {copied / 1e6:.1f} MB in {s:.2f} s, {copied / 1e6 / s:.0f} MB/s; '
              f'ratio compaction / copy {size / seconds / (copied / s):.2f}')


def daily_attributes(work):
    print('\n== Daily attributes ==')
    documents = [json.dumps(d) for _, d in conftest_samples()]
    documents += [json.dumps(sample.synthetic_analysis(n, 'spotify', 240.0)) for n in range(30)]
    parsed = [json.loads(d) for d in documents]
    compute_only = len(parsed) / timed(lambda: [attributes.compute_attributes(d) for d in parsed])
    with_parse = len(documents) / timed(lambda: [attributes.compute_attributes(json.loads(d)) for d in documents])
    print(f'calculator, one process: {compute_only:,.0f} tracks/s from parsed documents, '
          f'{with_parse:,.0f} tracks/s from JSON text ({len(documents)} real-size documents)')

    first = timed(lambda: luigi.build([DailyAttributes(DATE)], local_scheduler=True, log_level='WARNING'))
    incremental = timed(lambda: luigi.build([DailyAttributes(DATE + ONE_DAY)], local_scheduler=True,
                                            log_level='WARNING'))
    wh = fs.open_warehouse(config.settings()['warehouse'])
    wh.remove(paths.attribute_snapshot('echonest', DATE + ONE_DAY))
    attributes.CALCULATOR_VERSION += 1  # the same day again, every track recomputed
    recompute = timed(lambda: luigi.build([DailyAttributes(DATE + ONE_DAY)], local_scheduler=True,
                                          log_level='WARNING'))
    attributes.CALCULATOR_VERSION -= 1
    print(f'DailyAttributes, first day (computes all): {first:.2f} s; incremental day: {incremental:.2f} s; '
          f'full recompute of the same day: {recompute:.2f} s; ratio incremental / recompute '
          f'{incremental / recompute:.2f}')

    year = RangeDaily(of=DailyAttributes, start=DATE, stop=DATE + datetime.timedelta(days=365))
    bulk = timed(year.requires)
    one_by_one = timed(lambda: [DailyAttributes(DATE + k * ONE_DAY).complete() for k in range(365)])
    print(f'RangeDaily over a year: its requirements in {bulk * 1000:.0f} ms (bulk_complete, one listing); '
          f'365 complete() calls take {one_by_one * 1000:.0f} ms')
    schedule = timed(lambda: luigi.build([year], local_scheduler=True, workers=0, log_level='WARNING'))
    print(f'RangeDaily scheduling a year of DailyAttributes (and the analysis sets behind them), no run: '
          f'{schedule:.1f} s')


def local_against_hdfs(work, tracks):
    """BulkIngest, then the next day (its incremental set and two attributes snapshots), on a local
    directory and on HDFS (the test cluster)."""
    print('\n== The warehouse on a local directory and on HDFS (WebHDFS, the Hadoop test cluster) ==')
    minicluster.fetch_jars()
    with minicluster.running(work / 'hadoop', mapreduce=False) as cluster:
        print(f'HDFS test cluster up in {cluster.startup_seconds:.1f} s, JVM resident {cluster.rss_bytes / 2**20:.0f} MiB')
        rows = []
        for kind in ('local', 'webhdfs'):
            configure({'warehouse': {'kind': kind, 'root': work / 'side-by-side', 'webhdfs_url': cluster.webhdfs_url,
                                     'user': 'hadoop'}, 'ingest': {'codec': 'deflate'}})
            sample.populate(config.settings(), DATE, 2, tracks, 20, upload_analyses=False)
            ingest_seconds = timed(lambda: luigi.build([BulkIngest(DATE)], local_scheduler=True, log_level='WARNING'))
            attributes_seconds = timed(lambda: luigi.build([DailyAttributes(DATE + ONE_DAY)], local_scheduler=True,
                                                           log_level='WARNING'))
            rows.append((kind, ingest_seconds, attributes_seconds))
        configure({'warehouse': {'kind': 'local'}})
    print(f'{"":10} {"BulkIngest s":>13} {"tracks/s":>9} {"next day s":>11}')
    for kind, ingest_seconds, attributes_seconds in rows:
        print(f'{kind:10} {ingest_seconds:13.2f} {tracks / ingest_seconds:9.1f} {attributes_seconds:11.2f}')
    print(f'ratio HDFS / local: ingest {rows[1][1] / rows[0][1]:.2f}, attributes {rows[1][2] / rows[0][2]:.2f}')


def measured(command, env, log):
    """(seconds, peak resident bytes of the largest process) of a command, its children included: a small
    Python parent reads its children's rusage (Linux gives ru_maxrss in KiB)."""
    probe = ('import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; '
             'print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024); sys.exit(code)')
    start = time.perf_counter()
    done = subprocess.run([sys.executable, '-c', probe, *command], env=env, stdout=subprocess.PIPE,
                          stderr=log, text=True, cwd=Path(__file__).resolve().parents[1])
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f'{" ".join(command)} exited with {done.returncode}: see {log.name}')
    return seconds, int(done.stdout.split()[-1])


def at_scale(work, endpoint, sizes):
    """bench.catalog at each size, then the daily step of 2014-09-02 and the compaction of 2014-09-08,
    each `luigi` command in a process of its own as in production (20 chunks, inline runner)."""
    print('\n== At scale: python -m bench.catalog, then luigi --module tasks ... --local-scheduler ==')
    luigi_bin = str(Path(sys.executable).with_name('luigi'))
    rows = {}
    for n in sizes:
        root = work / f'catalog-{n}'
        settings = work / f'catalog-{n}.cfg'
        settings.write_text(f'[warehouse]\nroot = {root}\n[s3]\nendpoint_url = {endpoint}\nbucket = catalog-{n}\n'
                            f'[analysis]\nfirst_snapshot = 2014-09-01\nfull_every_days = 7\n[core]\nlog_level = WARNING\n')
        env = dict(os.environ, LUIGI_CONFIG_PATH=str(settings))
        with (work / f'catalog-{n}.log').open('w') as log:
            generated = measured([sys.executable, '-m', 'bench.catalog', '--tracks', str(n)], env, log)

            def luigi_run(task, date):
                return measured([luigi_bin, '--module', 'tasks', task, '--date', date, '--local-scheduler'], env, log)
            daily = luigi_run('DailyAttributes', '2014-09-02')
            luigi_run('DailyAttributes', '2014-09-07')  # the incremental sets the compaction merges
            compaction = luigi_run('FullAnalysisSnapshot', '2014-09-08')
            compaction_day = luigi_run('DailyAttributes', '2014-09-08')
        files = [p for p in (root / paths.full_snapshot('echonest', DATE + 7 * ONE_DAY).lstrip('/')).rglob('*')
                 if p.is_file()]
        written = sum(p.stat().st_size for p in files if p.stat().st_nlink == 1)  # not linked from 2014-09-01
        size = sum(p.stat().st_size for p in files)
        rows[n] = daily
        print(f'{n:,} tracks (generated in {generated[0]:.0f} s):')
        print(f'  DailyAttributes 2014-09-02 (its incremental set included): {daily[0]:.2f} s, '
              f'{daily[0] / n * 1e6:.2f} us per catalog track, peak resident {daily[1] / 2**20:.0f} MiB')
        print(f'  FullAnalysisSnapshot 2014-09-08: {compaction[0]:.2f} s, peak resident {compaction[1] / 2**20:.0f} MiB; '
              f'{written / 1e6:.1f} MB written of a {size / 1e6:.1f} MB snapshot: {written / size:.3f}')
        print(f'  DailyAttributes 2014-09-08 (a compaction day): {compaction_day[0]:.2f} s, '
              f'peak resident {compaction_day[1] / 2**20:.0f} MiB')
        shutil.rmtree(root, ignore_errors=True)
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        print(f'daily step {large:,} / {small:,}: time {rows[large][0] / rows[small][0]:.2f}, '
              f'per catalog track {rows[large][0] / large / (rows[small][0] / small):.2f}, '
              f'peak resident {rows[large][1] / rows[small][1]:.2f}')


def conftest_samples():
    samples = Path(__file__).resolve().parents[1].parent / 'shared' / 'samples' / 'echonest'
    return [(p.name, json.loads(p.read_text())) for p in sorted(samples.glob('*.analysis.json'))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--tracks', type=int, default=600)
    parser.add_argument('--new', type=int, default=100)
    parser.add_argument('--only', choices=['scale', 'cassandra'], help='run only this part')
    parser.add_argument('--scale', type=int, nargs='+', default=[100_000, 1_000_000], help='catalog sizes')
    args = parser.parse_args()
    os.environ.setdefault('AWS_ACCESS_KEY_ID', 'testing')
    os.environ.setdefault('AWS_SECRET_ACCESS_KEY', 'testing')
    work = Path(tempfile.mkdtemp(prefix='bench-'))
    try:
        with local_s3.running(log_path=str(work / 'moto.log')) as endpoint:
            if args.only == 'scale':
                at_scale(work, endpoint, args.scale)
                return
            if args.only == 'cassandra':
                cassandra.bench(work, args.scale)
                return
            bucket = 'bench-analysis'
            # Four chunks, not twenty: per-chunk start-up is amortised over 1.75M tracks in production.
            configure({'s3': {'endpoint_url': endpoint, 'bucket': bucket}, 'warehouse': {'root': work / 'setup'},
                       'ingest': {'chunks': 4}, 'analysis': {'first_snapshot': DATE, 'full_every_days': 7}})
            print(f'uploading {args.tracks + args.new} synthetic analyses to {endpoint} ...', flush=True)
            sample.populate(config.settings(), DATE, 1, args.tracks + args.new, 0)
            ingest(work, args.tracks, endpoint, bucket)
            incrementals_and_compaction(work, args.tracks, args.new)
            daily_attributes(work)
            local_against_hdfs(work, args.tracks)
            at_scale(work, endpoint, args.scale)
            cassandra.bench(work, args.scale)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
