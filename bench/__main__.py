"""`make bench`: figures measured side by side in one run, against one local S3 server.

    python -m bench [--tracks 600] [--only ingest|year|scale|cassandra|calibration] [--scale 100000 1000000]

and the calibration report of the estimated attributes (`python -m bench.calibration`, runnable alone).

Not a test: it prints numbers and ratios, and asserts nothing about speed.
"""
import argparse
import collections
import datetime
import functools
import gzip
import itertools
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import luigi

from luigi.tools.range import RangeDaily

from bench import calibration, cassandra, year
from hadoop import minicluster
from pipeline import analysis_sets, attributes, compaction, config, dump, fs, ledger, local_s3, paths, records, sample
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


def cpu_seconds():
    """CPU seconds used so far by this process and its descendants, as {'server': the S3 server's,
    'client': all others'}; what a descendant reaped (the ingest's workers: the fork server's) included."""
    used = {'server': 0.0, 'client': sum(u.ru_utime + u.ru_stime for u in map(
        resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))}  # the children it reaped
    children = collections.defaultdict(list)
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            head, fields = stat.read_text().rsplit(')', 1)  # "pid (name" and "state ppid ..."
        except OSError:
            continue  # ended meanwhile
        children[int(fields.split()[1])].append((int(head.split(' (')[0]), head, fields.split()))
    pending = [os.getpid()]
    while pending:
        for pid, head, fields in children[pending.pop()]:
            pending.append(pid)
            ticks = sum(map(int, fields[11:15]))  # utime, stime, cutime, cstime
            used['server' if 'moto_server' in head else 'client'] += ticks / os.sysconf('SC_CLK_TCK')
    return used


def timed_cpu(function):
    """(seconds, CPU seconds of the client, of the S3 server) of `function()`."""
    before, start = cpu_seconds(), time.perf_counter()
    function()
    seconds, after = time.perf_counter() - start, cpu_seconds()
    return seconds, after['client'] - before['client'], after['server'] - before['server']


def snapshot_parts(root):
    return (root / paths.full_snapshot('echonest', DATE).lstrip('/')).glob('chunk-*/part-*.avro')


def bulk_ingest(root, tracks, command=False, **ingest_options):
    """BulkIngest of DATE into a new warehouse `root`: (seconds, CPU seconds of the client and of the S3
    server, the snapshot's totals, packed bytes). In this process, or with `command` as typed:
    `luigi --module tasks BulkIngest`, a process of its own that starts, imports and schedules."""
    configure({'warehouse': {'root': root}, 'ingest': ingest_options})
    sample.populate(config.settings(), DATE, 1, tracks, 0, upload_analyses=False)
    if command:
        parser, settings = luigi.configuration.get_config(), root.with_suffix('.cfg')
        sections = {'warehouse': ['root'], 's3': ['endpoint_url', 'bucket'], 'ingest': parser.options('ingest'),
                    'analysis': ['first_snapshot']}
        settings.write_text(''.join(f'[{section}]\n' + ''.join(f'{o} = {parser.get(section, o)}\n' for o in options)
                                    for section, options in sections.items()) + '[core]\nlog_level = WARNING\n')
        luigi_command = [str(Path(sys.executable).with_name('luigi')), '--module', 'tasks', 'BulkIngest',
                         '--date', DATE.isoformat(), '--local-scheduler']
        run = functools.partial(subprocess.run, luigi_command, check=True, env=dict(
            os.environ, LUIGI_CONFIG_PATH=str(settings)), cwd=Path(__file__).resolve().parents[1])
    else:
        run = functools.partial(luigi.build, [BulkIngest(DATE)], local_scheduler=True, log_level='WARNING')
    seconds, cpu, server_cpu = timed_cpu(run)
    totals = json.loads((root / paths.success(paths.full_snapshot('echonest', DATE)).lstrip('/')).read_text())
    return seconds, (cpu, server_cpu), totals, sum(p.stat().st_size for p in snapshot_parts(root))


def aws_s3_cp(target, endpoint, bucket, include='*/full.json'):
    """`aws s3 cp --recursive` of the analyses (the keys matching `include`) into `target`: (seconds, CPU
    seconds of the client and of the S3 server, files, bytes)."""
    aws = [str(Path(sys.executable).with_name('aws')), 's3', 'cp', '--recursive', '--quiet', '--endpoint-url',
           endpoint, f's3://{bucket}/TR/', str(target), '--exclude', '*', '--include', include]
    seconds, cpu, server_cpu = timed_cpu(lambda: subprocess.run(aws, check=True))
    files = list(target.rglob('full.json'))
    return seconds, (cpu, server_cpu), len(files), sum(p.stat().st_size for p in files)


def ingest(work, tracks, endpoint, bucket, rounds=5):
    """`luigi --module tasks BulkIngest` as configured by turns with `aws s3 cp --recursive` of the same
    objects, each of all the tracks and of one (its start-up); then other settings once each, in this
    process; the packed sizes."""
    default, configured, processes, chunks = (config.ingest().codec, config.ingest().codec_level,
                                              config.ingest().processes, config.ingest().chunks)
    level = records.level(config.settings()['ingest'])
    # All the tracks in one chunk, as a production chunk's 1.75M tracks are one stream of GETs: chunks of
    # 150 tracks would each pay a ramp (the GETs in flight filling, the last blocks packing) that 1.75M amortise.
    configure({'ingest': {'chunks': 1}})
    print(f'\n== Bulk ingest: {tracks} tracks, 1 chunk, {config.s3().max_concurrency} concurrent GETs, codec '
          f'{default} {level} ==\n`luigi --module tasks BulkIngest` and `aws s3 cp --recursive`, each of all '
          f'the tracks and of one, by turns; then other settings in this running process')
    # One track, one file: each command's start-up, so that the rates once started come by difference.
    first = sample.dump_row(next(n for n in itertools.count() if sample.has_analysis(n)))
    first_key = config.s3().key_template.format_map(first).removeprefix('TR/')
    runs, ratios = [], collections.defaultdict(list)
    for n in range(rounds):
        ours = [bulk_ingest(work / f'warehouse-{n}-{size}', size, command=True) for size in (tracks, 1)]
        theirs = [aws_s3_cp(work / f'aws-s3-cp-{n}-{size}', endpoint, bucket, include)
                  for size, include in ((tracks, '*/full.json'), (1, first_key))]
        for (seconds, cpu, totals, _), name in zip(ours, (f'luigi ... BulkIngest #{n + 1}', '  the same, 1 track')):
            runs.append((name, seconds, cpu, totals['tracks'], totals['bytes_downloaded']))
        for (seconds, cpu, files, nbytes), name in zip(theirs, (f'aws s3 cp --recursive #{n + 1}', '  the same, 1 file')):
            runs.append((name, seconds, cpu, files, nbytes))
        (ours_s, _, totals, _), (ours_1, _, one, _) = ours
        (theirs_s, _, files, _), (theirs_1, _, file, _) = theirs
        ratios['as commands, start-up included'].append((totals['tracks'] / ours_s) / (files / theirs_s))
        ratios['once started (the 1-track run taken off)'].append(
            ((totals['tracks'] - one['tracks']) / (ours_s - ours_1)) / ((files - file) / (theirs_s - theirs_1)))
    packed_by_codec = {}
    for name, options in [(f'{default} {level}', {}), (f'{default} {level}, {chunks} chunks', {'chunks': chunks}),
                          (f'{default} {level}, processes = {int(processes != 1)}',  # workers, or none
                           {'processes': int(processes != 1)})] + [
            (f'{codec} {codec_level}' if codec_level else codec, {'codec': codec, 'codec_level': codec_level or ''})
            for codec, codec_level in (('zstandard', 1), ('zstandard', 4), ('zstandard', 5), ('zstandard', 6),
                                       ('deflate', 6), ('snappy', None)) if (codec, codec_level) != (default, level)]:
        seconds, cpu, totals, packed = bulk_ingest(work / f'warehouse-{len(runs)}', tracks, **options)
        runs.append((f'BulkIngest ({name})', seconds, cpu, totals['tracks'], totals['bytes_downloaded']))
        configure({'ingest': {'codec': default, 'codec_level': '' if configured is None else configured,
                              'processes': processes, 'chunks': 1}})
        if set(options) <= {'codec', 'codec_level'}:
            packed_by_codec[name] = packed
    configure({'ingest': {'chunks': chunks}})

    print(f'{"":36} {"seconds":>8} {"tracks/s":>9} {"MB/s":>7}   CPU ms a track: client, S3 server')
    for name, seconds, (cpu, server_cpu), count, nbytes in runs:
        print(f'{name:36} {seconds:8.2f} {count / seconds:9.1f} {nbytes / 1e6 / seconds:7.1f} '
              f'{cpu / count * 1e3:10.1f} {server_cpu / count * 1e3:8.1f}')
    for name, by_round in ratios.items():
        print(f'ratio BulkIngest / aws s3 cp, tracks/s, {name}, round by round: '
              f'{", ".join(f"{r:.2f}" for r in by_round)}; median {statistics.median(by_round):.2f}')
    print(f'requests: {totals["requests"]} for {totals["tracks"]} tracks '
          f'({totals["written"]} written, {totals["missing"]} missing, {totals["failed"]} failed)')

    compact = gzipped = 0
    for f in snapshot_parts(work / f'warehouse-0-{tracks}'):
        with open(f, 'rb') as fo:
            for record in records.read(fo, 'analysis'):
                text = record['analysis'].encode()
                compact += len(text)
                gzipped += len(gzip.compress(text, 6))
    print(f'\nsize of the {totals["written"]} written analyses:')
    print(f'{"compact JSON":28} {compact / 1e6:8.1f} MB  1.00')
    print(f'{"gzip -6 of each document":28} {gzipped / 1e6:8.1f} MB  {gzipped / compact:.3f}')
    for codec, packed in packed_by_codec.items():
        print(f'{"packed Avro, " + codec:28} {packed / 1e6:8.1f} MB  {packed / compact:.3f}')
    real_analyses_packed(packed_by_codec)


def real_analyses_packed(codecs):
    """The packed size of the real analyses of the calibration corpus, in blocks of `block_bytes` as the
    ingest packs them, with each of `codecs` ('zstandard 4', 'snappy', ...)."""
    documents = [json.dumps(a, separators=(',', ':'), ensure_ascii=False).encode()
                 for _, a in calibration.corpus_analyses()]
    compact = sum(map(len, documents))
    batches, size = [[]], 0
    for document in documents:
        batches[-1].append({'track_id': '', 'echonest_id': '', 'analysis': document})
        size += len(document)
        if size >= config.ingest().block_bytes:
            batches, size = batches + [[]], 0
    print(f'\nsize of the {len(documents)} real analyses of ../shared/calibration/msd (about 2010):')
    print(f'{"compact JSON":28} {compact / 1e6:8.1f} MB  1.00')
    gzipped = sum(len(gzip.compress(d, 6)) for d in documents)
    print(f'{"gzip -6 of each document":28} {gzipped / 1e6:8.1f} MB  {gzipped / compact:.3f}')
    for name in codecs:
        codec, _, level = name.partition(' ')
        settings = dict(config.settings()['ingest'], codec=codec, codec_level=int(level) if level else None)
        packed = sum(len(records.block('analysis', b, settings)[1]) for b in batches if b)
        print(f'{"packed Avro, " + name:28} {packed / 1e6:8.1f} MB  {packed / compact:.3f}')


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
    dump.write(wh, DATE, (sample.dump_row(n) for n in held))
    dump.write(wh, DATE + ONE_DAY, (sample.dump_row(n) for n in itertools.chain(held, range(new))))
    # As the daily step does it: yesterday's keys (re-analysed tracks), as the bulk ingest leaves them, and
    # yesterday's ledger too.
    schedule = ledger.Schedule(settings['s3']['key_template'].format_map, DATE, snapshot)
    analysis_sets.write_dump_keys(wh, snapshot, DATE, chunks, schedule.key)
    finding = timed(lambda: analysis_sets.new_rows_by_chunk(wh, DATE + ONE_DAY, [snapshot], chunks, schedule))
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

    root = work / 'warehouse-0'
    configure({'warehouse': {'root': root}})
    settings = config.settings()
    wh = fs.open_warehouse(settings['warehouse'])
    sample.populate(settings, DATE, 2, n, new, upload_analyses=False)
    assert luigi.build([IncrementalAnalysis(DATE + ONE_DAY)], local_scheduler=True, log_level='WARNING')
    out = paths.staging(paths.full_snapshot('echonest', DATE + 2 * ONE_DAY))
    seconds = timed(lambda: [compaction.compact_chunk(
        wh, settings['ingest'], c, paths.full_snapshot('echonest', DATE),
        [paths.incremental_set('echonest', DATE + ONE_DAY)], out) for c in range(settings['ingest']['chunks'])])
    files = [p for p in (root / out.lstrip('/')).rglob('*') if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    written = sum(p.stat().st_size for p in files if p.stat().st_nlink == 1)  # the rest is linked, not copied
    print(f'compaction of the {n}-track snapshot and one incremental set: {size / 1e6:.1f} MB in {seconds:.2f} s, '
          f'of which {written / 1e6:.1f} MB written ({written / size:.3f}), the rest hard-linked')


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
    # A year of dumps not yet published is this measurement's premise, not 365 warnings' worth.
    interface = logging.getLogger('luigi-interface')
    level = interface.level
    interface.setLevel(logging.ERROR)
    schedule = timed(lambda: luigi.build([year], local_scheduler=True, workers=0, log_level='WARNING'))
    interface.setLevel(level)
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
        log.flush()
        raise SystemExit(f'{" ".join(command)} exited with {done.returncode}:\n{Path(log.name).read_text()[-3000:]}')
    return seconds, int(done.stdout.split()[-1])


CHUNKS = 20  # as in production: luigi.cfg's default


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
                            f'[analysis]\nfirst_snapshot = 2014-09-01\nfull_every_days = 7\n'
                            f'[ingest]\nchunks = {CHUNKS}\n'
                            f'[core]\nlog_level = WARNING\n')
        env = dict(os.environ, LUIGI_CONFIG_PATH=str(settings))
        with (work / f'catalog-{n}.log').open('w') as log:
            generated = measured([sys.executable, '-m', 'bench.catalog', '--tracks', str(n)], env, log)
            # The incremental set's anti-join alone, in this process.
            full = paths.full_snapshot('echonest', DATE)
            schedule = ledger.Schedule(config.s3().key_template.format_map, DATE, full)
            finding = timed(lambda: analysis_sets.new_rows_by_chunk(
                fs.LocalWarehouse(root), DATE + ONE_DAY, [full], CHUNKS, schedule))

            def luigi_run(task, date):
                return measured([luigi_bin, '--module', 'tasks', task, '--date', date, '--local-scheduler'], env, log)
            daily = luigi_run('DailyAttributes', '2014-09-02')
            snapshot = [p for p in (root / paths.attribute_snapshot('echonest', DATE + ONE_DAY).lstrip('/')).rglob('*')
                        if p.is_file()]
            daily_written = sum(p.stat().st_size for p in snapshot if p.stat().st_nlink == 1)
            snapshot_size = sum(p.stat().st_size for p in snapshot)
            start_up = luigi_run('DailyAttributes', '2014-09-02')  # done: Python, imports, scheduling alone
            shutil.rmtree(root / paths.attribute_snapshot('echonest', DATE + ONE_DAY).lstrip('/'))
            join = luigi_run('DailyAttributes', '2014-09-02')  # its incremental set done: the join alone
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
              f'{daily[0] / n * 1e6:.2f} us per catalog track, peak resident {daily[1] / 2**20:.0f} MiB; '
              f'attributes snapshot {snapshot_size / 1e6:.1f} MB ({snapshot_size / n:.0f} bytes a track), '
              f'{daily_written / 1e3:.1f} kB of it written, the rest hard-linked')
        print(f'    of which the join alone {join[0] - start_up[0]:.2f} s (peak resident {join[1] / 2**20:.0f} MiB), '
              f'starting the command {start_up[0]:.2f} s (the same command once done); finding the new tracks '
              f'(the anti-join of the incremental set, alone) {finding:.2f} s, '
              f'{finding / n * 1e6:.2f} us per catalog track')
        print(f'  FullAnalysisSnapshot 2014-09-08: {compaction[0]:.2f} s, '
              f'peak resident {compaction[1] / 2**20:.0f} MiB; '
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
    parser.add_argument('--only', choices=['ingest', 'year', 'scale', 'cassandra', 'calibration'],
                        help='only this part: the bulk ingest against aws s3 cp, the simulated year, the daily step '
                             'and compaction at catalog sizes --scale, Cassandra at those sizes, the calibration')
    parser.add_argument('--scale', type=int, nargs='+', default=[100_000, 1_000_000], help='catalog sizes')
    args = parser.parse_args()
    os.environ.setdefault('AWS_ACCESS_KEY_ID', 'testing')
    os.environ.setdefault('AWS_SECRET_ACCESS_KEY', 'testing')
    work = Path(tempfile.mkdtemp(prefix='bench-'))
    try:
        with local_s3.running(log_path=str(work / 'moto.log')) as endpoint:
            bucket = 'bench-analysis'
            # Four chunks, not twenty: per-chunk start-up is amortised over 1.75M tracks in production.
            configure({'s3': {'endpoint_url': endpoint, 'bucket': bucket}, 'warehouse': {'root': work / 'setup'},
                       'ingest': {'chunks': 4}, 'analysis': {'first_snapshot': DATE, 'full_every_days': 7}})
            if args.only in (None, 'ingest'):
                print(f'uploading {args.tracks + args.new} synthetic analyses to {endpoint} ...', flush=True)
                sample.populate(config.settings(), DATE, 1, args.tracks + args.new, 0)
                ingest(work, args.tracks, endpoint, bucket)
            if args.only is None:
                incrementals_and_compaction(work, args.tracks, args.new)
                daily_attributes(work)
                local_against_hdfs(work, args.tracks)
            if args.only in (None, 'year'):
                configure({'s3': {'bucket': 'bench-year'}, 'warehouse': {'root': work / 'year'}})
                year.run(DATE)
            if args.only in (None, 'scale'):
                at_scale(work, endpoint, args.scale)
            if args.only in (None, 'cassandra'):
                cassandra.bench(work, args.scale)
        if args.only in (None, 'calibration'):
            calibration.report('var/calibration.png')
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
