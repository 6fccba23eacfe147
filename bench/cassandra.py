"""The attributes served from Cassandra, at 100k and 1M tracks: `python -m bench --only cassandra`.

One Cassandra node (cassandra_node/, -Xmx1g) on this machine. For each catalog size, a full attributes
snapshot in the layout of the daily job (20 chunks, parts of [attributes] part_tracks) and the next
day's (100 new tracks, 20 re-analysed, 10 gone: the parts holding them rewritten, as the daily job
does): the load of each (rows/s), lookups by track, ranges and nearest neighbours (p50, p99), and the
recall@10 of ANN against an exact search. Attributes are drawn at random in their real ranges: what
is measured is the serving, not the calculator.
"""
import datetime
import heapq
import math
import os
import random
import statistics
import time

import luigi

import cassandra_node
from pipeline import analysis_sets, attribute_loader, config, dump, fs, paths, records
from pipeline.attribute_store import ESTIMATES, AttributeStore, features
from pipeline.synthetic import spotify_track_id

FIRST = datetime.date(2014, 9, 1)
CHUNKS = 20


def attributes(n, version=1, seed=0):
    r = random.Random(n * 7919 + seed)
    record = {'track_id': spotify_track_id(n), 'calculator_version': version,
              'tempo': round(min(250.0, max(40.0, r.gauss(120, 28))), 3), 'key': r.randrange(-1, 12),
              'mode': r.choice((1, 1, 0, -1)), 'time_signature': r.choice((3, 4, 4, 4, 5)),
              'loudness': round(r.uniform(-30, -2), 3), 'duration_ms': r.randrange(60_000, 420_000)}
    record.update({name: round(r.betavariate(2, 3), 4) for name in ESTIMATES})
    return record


def write_snapshot(wh, date, parts, part_tracks):
    """parts: {(chunk, name or None for new): [n, ...]}; parts of one date as the daily job writes them."""
    snapshot = paths.attribute_snapshot('echonest', date)
    staging = paths.staging(snapshot)
    counter = {}
    names = {}
    for (chunk, name), numbers in parts.items():
        if name is None:
            for start in range(0, len(numbers), part_tracks):
                number = counter[chunk] = counter.get(chunk, -1) + 1
                name = f'part-{date:%Y%m%d}-{number:05d}.avro'
                with wh.open_write(f'{paths.chunk(staging, chunk)}/{name}') as f:
                    records.write_indexed(f, 'attributes', (attributes(n, seed=numbers.seed(n))
                                                            for n in numbers[start:start + part_tracks]),
                                          config.settings()['ingest'])
                names[(chunk, name)] = numbers[start:start + part_tracks]
        else:  # carried over: a hard link, as the daily job does
            wh.link(f'{paths.chunk(paths.attribute_snapshot("echonest", FIRST), chunk)}/{name}',
                    f'{paths.chunk(staging, chunk)}/{name}')
            names[(chunk, name)] = numbers
    tracks = sum(map(len, names.values()))
    analysis_sets.publish(wh, snapshot, {'calculator_version': 1, 'tracks': tracks, 'rejected': 0})
    return names


class Numbers(list):
    """Track numbers of a part, and the seed of each one's attributes (a re-analysis gives others)."""

    def __init__(self, numbers, reanalysed=()):
        super().__init__(numbers)
        self.reanalysed = set(reanalysed)

    def seed(self, n):
        return 1 if n in self.reanalysed else 0


def percentiles(samples):
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e3, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3


def timed_each(function, arguments):
    times = []
    for argument in arguments:
        start = time.perf_counter()
        function(argument)
        times.append(time.perf_counter() - start)
    return percentiles(times)


def serve(work, n, node, part_tracks):
    """The loads and queries at one catalog size: the figures, as a dict."""
    keyspace = f'bench_{n}'
    root = work / f'cassandra-{n}'
    parser = luigi.configuration.get_config()
    settings = {'warehouse': {'root': root}, 'cassandra': {'port': node.port, 'keyspace': keyspace}}
    for section, values in settings.items():
        for option, value in values.items():
            parser.set(section, option, str(value))
    wh = fs.open_warehouse(config.settings()['warehouse'])
    by_chunk = {}
    for k in range(n):
        by_chunk.setdefault(dump.chunk_of(spotify_track_id(k), CHUNKS), []).append(k)
    first = write_snapshot(wh, FIRST, {(c, None): Numbers(v) for c, v in by_chunk.items()}, part_tracks)
    rng = random.Random(n)
    reanalysed, gone = set(rng.sample(range(n), 20)), set(rng.sample(range(n), 10))
    second, new = {}, list(range(n, n + 100))
    for (chunk, name), numbers in first.items():
        if reanalysed & set(numbers) or gone & set(numbers):
            second.setdefault((chunk, None), Numbers([], reanalysed)).extend(k for k in numbers if k not in gone)
        else:
            second[(chunk, name)] = numbers
    for k in new:
        second.setdefault((dump.chunk_of(spotify_track_id(k), CHUNKS), None), Numbers([], reanalysed)).append(k)
    write_snapshot(wh, FIRST + datetime.timedelta(days=1), second, part_tracks)

    figures = {}
    with AttributeStore() as store:
        start = time.perf_counter()
        attribute_loader.load(store, wh, 'echonest', FIRST)
        figures['full'] = time.perf_counter() - start
        start = time.perf_counter()
        counts = attribute_loader.load(store, wh, 'echonest', FIRST + datetime.timedelta(days=1))
        figures['day'] = time.perf_counter() - start
        figures['day_counts'] = counts
        ids = [spotify_track_id(k) for k in rng.sample(sorted(set(range(n)) - gone), 2000)]
        figures['lookup'] = timed_each(store.track, ids)
        windows = [rng.uniform(80, 160) for _ in range(200)]
        figures['range'] = timed_each(lambda low: store.in_range({'tempo': (low, low + 4), 'energy': (0.6, None)},
                                                                 limit=20), windows)
        figures['range_key'] = timed_each(lambda low: store.in_range({'tempo': (low, low + 10)}, key=5, mode=1,
                                                                     limit=20), windows)
        queries = [features(attributes(k + 10 * n)) for k in range(100 if n <= 100_000 else 30)]
        found = {}
        figures['ann'] = timed_each(lambda q: found.__setitem__(tuple(q), store.similar(vector=q, k=10)), queries)
        figures['ann_key'] = timed_each(lambda q: store.similar(vector=q, k=10, key=5), queries[:30])
    # Exact search over the loaded snapshot (day 2) for the recall of ANN.
    vectors = [(spotify_track_id(k), features(attributes(k, seed=int(k in reanalysed))))
               for k in [*range(n), *new] if k not in gone]
    hits = 0
    for q in queries:
        exact = {t for _, t in heapq.nsmallest(10, ((math.dist(v, q), t) for t, v in vectors))}
        hits += len(exact & {r['track_id'] for r, _ in found[tuple(q)]})
    figures['recall'] = hits / (10 * len(queries))
    return figures


def bench(work, sizes=(100_000, 1_000_000)):
    print('\n== Serving from Cassandra: python -m bench --only cassandra ==')
    cassandra_node.fetch_jars()
    part_tracks = config.settings()['attributes']['part_tracks']
    with cassandra_node.running(work / 'cassandra-node') as node:
        print(f'one node, Cassandra 5.0.8, -Xmx{node.heap}, up in {node.startup_seconds:.1f} s, '
              f'{os.cpu_count()} cores; parts of {part_tracks:,} tracks, {CHUNKS} chunks')
        print(f'{"tracks":>10} {"full load s":>11} {"rows/s":>8} {"day s":>6} {"day rows":>9} '
              f'{"lookup p50/p99 ms":>18} {"range p50/p99":>14} {"range+key":>12} {"ANN p50/p99":>12} '
              f'{"ANN+key":>12} {"recall@10":>9}')
        for n in sizes:
            f = serve(work, n, node, part_tracks)
            day = f['day_counts']
            print(f'{n:>10,} {f["full"]:>11.1f} {n / f["full"]:>8,.0f} {f["day"]:>6.1f} '
                  f'{day["written"] + day["deleted"]:>9,} {"%.2f/%.2f" % f["lookup"]:>18} '
                  f'{"%.1f/%.1f" % f["range"]:>14} {"%.1f/%.1f" % f["range_key"]:>12} '
                  f'{"%.1f/%.1f" % f["ann"]:>12} {"%.1f/%.1f" % f["ann_key"]:>12} {f["recall"]:>9.3f}', flush=True)
            print(f'{"":>10} the day: {day["files_written"]} parts written ({day["written"]:,} tracks changed, '
                  f'{day["unchanged"]:,} carried unchanged and skipped), {day["files_removed"]} removed, '
                  f'{day["deleted"]:,} tracks deleted; RSS of the node {node.rss_bytes() / 2**20:.0f} MiB')
