"""The calibration report of the seven estimated attributes (also part of `make bench`).

    python -m bench.calibration [--png var/calibration.png]

Over the calibration corpus (../shared/calibration/: 248 real Echo Nest analyses of about 2010, and the
published features of 242 other tracks): each attribute's p10 / median / p90 beside the published ones,
the share pinned near 0 and 1, the samples' published and estimated values, the offset and gain a fit
of the corpus's quantiles to the published ones would choose, the centres and spreads of the features,
and how far the estimates move when the same music is cut into finer segments or mastered louder, as
analyses of another era would differ.
Then a PNG of the estimated against the published distribution of each attribute.
"""
import argparse
import csv
import gzip
import json
import math
import statistics
from pathlib import Path

from pipeline import attributes

SHARED = Path(__file__).resolve().parents[1].parent / 'shared'
CORPUS = SHARED / 'calibration' / 'msd'
PUBLISHED = SHARED / 'calibration' / 'published_features.csv'
SAMPLES = SHARED / 'samples' / 'echonest'
ESTIMATED = attributes.ATTRIBUTE_NAMES[6:]
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
PINNED = 0.01  # a value below 0.01 or above 0.99 is "pinned"


def corpus_analyses():
    """(Echo Nest track ID, analysis) of each corpus document, one at a time."""
    for path in sorted(CORPUS.glob('*.analysis.json.gz')):
        with gzip.open(path, 'rt') as f:
            yield path.name.split('.')[0], json.load(f)


def published_features():
    """{attribute: [published values]} of the 242 tracks."""
    with open(PUBLISHED, newline='') as f:
        rows = list(csv.DictReader(f))
    return {name: [float(row[name]) for row in rows] for name in ESTIMATED}


def samples():
    """(name, analysis, published attributes) of each sample, whichever of its two shapes it comes in."""
    for path in sorted(SAMPLES.glob('*.analysis.json')):
        name = path.name.removesuffix('.analysis.json')
        features, summary = SAMPLES / f'{name}.features.json', SAMPLES / f'{name}.audio_summary.json'
        if features.exists():
            values = json.loads(features.read_text())
            values = values[0] if isinstance(values, list) else values
        else:
            values = json.loads(summary.read_text())['response']['track']['audio_summary']
        yield name, json.loads(path.read_text()), values


def quantile(values, p):
    return statistics.quantiles(values, n=100, method='inclusive')[round(p * 100) - 1]


def pinned(values):
    return sum(v < PINNED for v in values) / len(values), sum(v > 1 - PINNED for v in values) / len(values)


def rank_agreement(published, estimated):
    """The share of pairs of samples that the estimates put in the published order (ties count half)."""
    pairs = [(i, j) for i in range(len(published)) for j in range(i + 1, len(published))
             if published[i] != published[j]]
    agree = sum(1.0 if (published[i] - published[j]) * (estimated[i] - estimated[j]) > 0
                else 0.5 if estimated[i] == estimated[j] else 0.0 for i, j in pairs)
    return agree / len(pairs) if pairs else 1.0


def fitted_offset_gain(sums, published):
    """The offset and gain whose logistic puts the corpus's quantiles of Σ weight × term on the
    published quantiles: least squares in logit space, over the quantiles whose published value is not
    pinned (a pinned one says only "near 0", and its logit would outweigh the others)."""
    points = [(quantile(sums, p), quantile(published, p)) for p in QUANTILES]
    xs, ys = zip(*[(x, math.log(v / (1 - v))) for x, v in points if PINNED <= v <= 1 - PINNED])
    slope, intercept = statistics.linear_regression(xs, ys)
    return intercept, slope


def finer_segments(analysis):
    """The same music as an analyzer that cuts finer would describe it: every segment in two halves of
    the same sound, the second rising 1 dB to its peak."""
    segments = []
    for segment in analysis['segments']:
        half = segment['duration'] / 2
        segments += [dict(segment, duration=half),
                     dict(segment, start=segment['start'] + half, duration=half,
                          loudness_start=segment['loudness_max'] - 1)]
    return dict(analysis, segments=segments)


def louder_master(analysis, db=4.0):
    """The same music mastered `db` louder, as a remaster of the 2010s would be."""
    track = dict(analysis['track'], loudness=analysis['track']['loudness'] + db)
    segments = [dict(segment, loudness_start=segment['loudness_start'] + db,
                     loudness_max=segment['loudness_max'] + db) for segment in analysis['segments']]
    return dict(analysis, track=track, segments=segments)


def corpus_estimates():
    """{attribute: [estimates]}, {attribute: [Σ weight × term]}, {feature: [values]}, and the mean |change|
    of each attribute when the corpus is cut in finer segments and when it is mastered louder."""
    estimates = {name: [] for name in ESTIMATED}
    sums = {name: [] for name in ESTIMATED}
    features = {name: [] for name in attributes.FEATURES}
    finer, louder = dict.fromkeys(ESTIMATED, 0.0), dict.fromkeys(ESTIMATED, 0.0)
    count = 0
    for _, analysis in corpus_analyses():
        values = attributes.compute_attributes(analysis)
        _, found = attributes.analysis_features(analysis)
        terms = attributes.feature_terms(found)
        cut, loud = (attributes.compute_attributes(f(analysis)) for f in (finer_segments, louder_master))
        for name, (_, _, weights) in attributes.ESTIMATES.items():
            estimates[name].append(values[name])
            sums[name].append(attributes.weighted_sum(terms, weights))
            finer[name] += abs(cut[name] - values[name])
            louder[name] += abs(loud[name] - values[name])
        for name, value in found.items():
            if value is not None:
                features[name].append(value)
        count += 1
    return (estimates, sums, features, {name: total / count for name, total in finer.items()},
            {name: total / count for name, total in louder.items()})


def report(png):
    estimates, sums, features, finer, louder = corpus_estimates()
    published = published_features()
    cases = [(name, values, attributes.compute_attributes(analysis)) for name, analysis, values in samples()]
    print(f'\n== Calibration: {len(estimates["energy"])} Echo Nest analyses of about 2010 (../shared/calibration/msd) '
          f'against the published values of {len(published["energy"])} tracks ==')
    print(f'{"":17}{"p10 / median / p90, estimated":>31}{"published":>23}   {"< 0.01":>11}   {"> 0.99":>11}'
          f'   {"offset, gain: in the code":>25}  {"fitted":>12}  {"finer":>6} {"louder":>6}')
    for name in ESTIMATED:
        ours, theirs = estimates[name], published[name]
        low, high = pinned(ours)
        published_low, published_high = pinned(theirs)
        offset, gain, _ = attributes.ESTIMATES[name]
        fit_offset, fit_gain = fitted_offset_gain(sums[name], theirs)
        print(f'{name:17}{" / ".join(f"{quantile(ours, p):.3f}" for p in (0.1, 0.5, 0.9)):>31}'
              f'{" / ".join(f"{quantile(theirs, p):.3f}" for p in (0.1, 0.5, 0.9)):>23}'
              f'   {low:4.0%} / {published_low:4.0%}   {high:4.0%} / {published_high:4.0%}'
              f'   {offset:>11.2f}, {gain:.2f}  {fit_offset:6.2f}, {fit_gain:.2f}  {finer[name]:6.3f} {louder[name]:6.3f}')
    print('(< 0.01 and > 0.99: the share pinned, estimated / published; fitted: the offset and gain that put the'
          '\ncorpus\'s quantiles on the published ones; finer, louder: the mean |change| when every segment is cut'
          '\nin two, and when the master is 4 dB louder, as analyses of another era would differ)')

    print('\nsamples with published values (../shared/samples/echonest): published / estimated')
    print(f'{"":17}' + ''.join(f'{name.split("_")[-1][:20]:>22}' for name, _, _ in cases)
          + f'{"mean abs error":>16}{"order":>7}')
    for name in ESTIMATED:
        theirs = [values[name] for _, values, _ in cases]
        ours = [computed[name] for _, _, computed in cases]
        error = sum(abs(a - b) for a, b in zip(theirs, ours)) / len(cases)
        print(f'{name:17}' + ''.join(f'{f"{a:.3f} / {b:.3f}":>22}' for a, b in zip(theirs, ours))
              + f'{error:16.3f}{rank_agreement(theirs, ours):7.2f}')
    print('(order: the share of pairs of samples in the published order)')

    print('\nfeatures over the corpus: median, half the p10..p90 range; centre and spread in the code')
    for name, values in features.items():
        centre, spread = attributes.FEATURES[name]
        half = (quantile(values, 0.9) - quantile(values, 0.1)) / 2
        print(f'{name:12} {statistics.median(values):9.3f} {half:8.3f}   {centre:9.3f} {spread:8.3f}')
    if png:
        plot(estimates, published, cases, png)
        print(f'\nthe picture: {png}')


def plot(estimates, published, cases, png):
    """One panel per attribute: the corpus's estimates and the published values as histograms of the
    same bins, the samples as markers (published: circle, estimated: cross)."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(2, 4, figsize=(16, 7.5), constrained_layout=True)
    bins = [i / 20 for i in range(21)]
    for axis, name in zip(axes.flat, ESTIMATED):
        axis.hist(published[name], bins=bins, density=True, alpha=0.55, color='tab:green',
                  label=f'published ({len(published[name])} tracks)')
        axis.hist(estimates[name], bins=bins, density=True, histtype='step', linewidth=2, color='tab:blue',
                  label=f'estimated ({len(estimates[name])} analyses of 2010)')
        top = axis.get_ylim()[1]
        for n, (sample, values, computed) in enumerate(cases):
            colour = f'C{n + 3}'
            height = top * (0.92 - 0.07 * n)
            axis.plot([values[name]], [height], 'o', color=colour, markersize=7)
            axis.plot([computed[name]], [height], 'x', color=colour, markersize=9, markeredgewidth=2,
                      label=sample.split('_')[-1] if name == ESTIMATED[0] else None)
            axis.plot([values[name], computed[name]], [height, height], '-', color=colour, linewidth=1)
        axis.set_title(name)
        axis.set_xlim(0, 1)
        axis.set_yticks([])
    handles, labels = axes.flat[0].get_legend_handles_labels()
    axes.flat[-1].axis('off')
    axes.flat[-1].legend(handles, labels, loc='center', title='samples: o published, x estimated')
    figure.suptitle(f'Estimated (calculator version {attributes.CALCULATOR_VERSION}) against published distributions')
    Path(png).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(png, dpi=80)
    pyplot.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--png', default='var/calibration.png', help='where to write the picture; empty for none')
    report(parser.parse_args().png)


if __name__ == '__main__':
    main()
