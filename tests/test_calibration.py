"""The estimated attributes over real analyses: the calibration corpus (248 Echo Nest analyses of about
2010 and the published values of 242 other tracks, in ../shared/calibration/) and the samples with
published values. Properties of the whole corpus only: no test reads one corpus track's expected value."""
import functools
import itertools

import pytest

from bench import calibration
from pipeline.attributes import ATTRIBUTE_NAMES, analysis_features, compute_attributes

ESTIMATED = ATTRIBUTE_NAMES[6:]
LEVEL_BOUND = ('acousticness', 'energy', 'valence')  # the attributes that use the master's loudness
# How far a corpus quantile of the estimates may be from the published one, and the share pinned near 0
# or 1 beyond the published share.
QUANTILE_TOLERANCE = {0.1: 0.1, 0.5: 0.1, 0.9: 0.15}
PINNED_TOLERANCE = 0.05


@functools.cache
def corpus():
    """For each corpus analysis: its estimates, its features, and its estimates when cut in finer
    segments and when mastered louder (as analyses of another era would differ). Read once."""
    return [(compute_attributes(analysis), analysis_features(analysis)[1],
             compute_attributes(calibration.finer_segments(analysis)),
             compute_attributes(calibration.louder_master(analysis)))
            for _, analysis in calibration.corpus_analyses()]


@functools.cache
def published():
    return calibration.published_features()


@functools.cache
def samples():
    return [(name, values, compute_attributes(analysis)) for name, analysis, values in calibration.samples()]


def test_the_corpus_is_there():
    assert len(corpus()) == 248
    assert all(len(values) == 242 for values in published().values())
    assert len(samples()) == 3


@pytest.mark.parametrize('name', ESTIMATED)
def test_estimates_bounded_over_the_corpus(name):
    assert all(0.0 <= estimates[name] <= 1.0 for estimates, *_ in corpus())


@pytest.mark.parametrize('name', ESTIMATED)
def test_quantiles_near_published(name):
    ours = [estimates[name] for estimates, *_ in corpus()]
    for p, tolerance in QUANTILE_TOLERANCE.items():
        estimated, theirs = calibration.quantile(ours, p), calibration.quantile(published()[name], p)
        assert abs(estimated - theirs) <= tolerance, (p, estimated, theirs)


@pytest.mark.parametrize('name', ESTIMATED)
def test_few_pinned_unless_published_are(name):
    low, high = calibration.pinned([estimates[name] for estimates, *_ in corpus()])
    published_low, published_high = calibration.pinned(published()[name])
    assert low <= published_low + PINNED_TOLERANCE
    assert high <= published_high + PINNED_TOLERANCE


@pytest.mark.parametrize('name', ESTIMATED)
def test_estimates_spread_over_the_corpus(name):
    """A constant estimate would pass the bounds above for a narrow attribute: it must order tracks."""
    ours = [estimates[name] for estimates, *_ in corpus()]
    assert len(set(ours)) > len(ours) // 2
    assert calibration.quantile(ours, 0.9) - calibration.quantile(ours, 0.1) > 0.05


@pytest.mark.parametrize('name', ESTIMATED)
def test_finer_segments_change_nothing(name):
    """An analyzer that cuts the same sound into more segments gives the same estimates."""
    changes = [abs(finer[name] - estimates[name]) for estimates, _, finer, _ in corpus()]
    assert sum(changes) / len(changes) < 0.01
    assert max(changes) < 0.05


@pytest.mark.parametrize('name', ESTIMATED)
def test_a_louder_master_moves_only_what_loudness_means(name):
    changes = [louder[name] - estimates[name] for estimates, _, _, louder in corpus()]
    mean = sum(map(abs, changes)) / len(changes)
    if name not in LEVEL_BOUND:
        assert mean < 0.005
    else:  # louder is more energetic and less acoustic, but 4 dB is no change of music
        assert mean < 0.15
        direction = -1 if name == 'acousticness' else 1
        assert all(direction * change >= 0 for change in changes)


def test_samples_of_both_eras_land_inside_the_corpus():
    """The features of the Spotify-era (2021) and Echo Nest-era samples lie within the range of the
    2010 corpus, give or take half its p10..p90 range: the same scale, whatever the analyzer."""
    values = {}
    for _, features, _, _ in corpus():
        for name, value in features.items():
            if value is not None:
                values.setdefault(name, []).append(value)
    for name, analysis, _ in calibration.samples():
        for feature, value in analysis_features(analysis)[1].items():
            corpus_values = values[feature]
            margin = (calibration.quantile(corpus_values, 0.9) - calibration.quantile(corpus_values, 0.1)) / 4
            assert min(corpus_values) - margin <= value <= max(corpus_values) + margin, (name, feature, value)


def test_samples_in_the_published_order_and_close():
    """Pairs of samples whose published values differ by more than 0.1 are mostly in the published order,
    and those that differ by more than 0.5 always; the mean absolute error is small."""
    right = wrong = 0
    for name in ESTIMATED:
        for (_, a, ours_a), (_, b, ours_b) in itertools.combinations(samples(), 2):
            difference = a[name] - b[name]
            if abs(difference) > 0.1:
                in_order = difference * (ours_a[name] - ours_b[name]) > 0
                right, wrong = right + in_order, wrong + (not in_order)
                assert in_order or abs(difference) <= 0.5, (name, a[name], b[name])
    assert right >= 3 * wrong, (right, wrong)
    errors = {name: sum(abs(values[name] - ours[name]) for _, values, ours in samples()) / len(samples())
              for name in ESTIMATED}
    assert sum(errors.values()) / len(errors) < 0.15, errors
    assert max(errors.values()) < 0.35, errors
