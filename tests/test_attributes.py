import functools
import json
import math
from pathlib import Path

import pytest

from pipeline.attributes import (
    ATTRIBUTE_NAMES, CALCULATOR_VERSION, UncomputableAnalysis, analysis_features, compute_attributes, feature_terms,
)

SAMPLES = Path(__file__).resolve().parents[1].parent / 'shared' / 'samples' / 'echonest'

TEARS = 'spotify-era_7nWUDDCpTDYle0Ppi8i5K1_tears-in-rain'
RUMBLE = 'spotify-era_1GfBLbAhZUWdseuDqhocmn_rumble'
EDX = 'echonest-era_TRAWOGC14E8320817F_give-it-up-for-love'
ALL = (TEARS, RUMBLE, EDX)

COPIED = ('tempo', 'key', 'mode', 'time_signature', 'loudness')
ESTIMATED = ATTRIBUTE_NAMES[6:]


@functools.cache
def analysis(name):
    return json.loads((SAMPLES / f'{name}.analysis.json').read_text())


@functools.cache
def published(name):
    """The published attributes, whichever of the three shapes the sample comes in, with duration_ms."""
    if name == EDX:
        summary = json.loads((SAMPLES / f'{name}.audio_summary.json').read_text())
        attributes = dict(summary['response']['track']['audio_summary'])
        attributes['duration_ms'] = round(attributes['duration'] * 1000)  # published in seconds
        return attributes
    features = json.loads((SAMPLES / f'{name}.features.json').read_text())
    return features[0] if isinstance(features, list) else features


@functools.cache
def computed(name):
    return compute_attributes(analysis(name))


def assert_estimates_bounded(attributes):
    for name in ESTIMATED:
        value = attributes[name]
        assert isinstance(value, float) and not math.isnan(value), (name, value)
        assert 0.0 <= value <= 1.0, (name, value)


def test_version_and_fields():
    assert type(CALCULATOR_VERSION) is int
    assert ATTRIBUTE_NAMES == (
        'tempo', 'key', 'mode', 'time_signature', 'loudness', 'duration_ms', 'acousticness', 'danceability',
        'energy', 'instrumentalness', 'liveness', 'speechiness', 'valence',
    )


@pytest.mark.parametrize('name', ALL)
def test_copied_attributes_equal_published(name):
    attributes = computed(name)
    assert tuple(attributes) == ATTRIBUTE_NAMES
    for field in COPIED:
        assert attributes[field] == published(name)[field], field
        assert type(attributes[field]) is type(published(name)[field]), field
    assert attributes['duration_ms'] == published(name)['duration_ms']
    assert type(attributes['duration_ms']) is int


@pytest.mark.parametrize('name', ALL)
def test_estimates_bounded(name):  # closeness to the published values: tests/test_calibration.py
    assert_estimates_bounded(computed(name))


@pytest.mark.parametrize('loud', [RUMBLE, EDX])
def test_acoustic_quiet_track_orders_like_published(loud):
    tears, other = computed(TEARS), computed(loud)
    assert published(TEARS)['acousticness'] > published(loud)['acousticness']
    assert tears['acousticness'] > other['acousticness']
    assert published(TEARS)['energy'] < published(loud)['energy']
    assert tears['energy'] < other['energy']


def test_deterministic_and_input_untouched():
    document = analysis(RUMBLE)
    before = json.dumps(document, sort_keys=True)
    first = compute_attributes(document)
    assert compute_attributes(json.loads(before)) == first
    assert compute_attributes(document) == first
    assert json.dumps(document, sort_keys=True) == before


def odd_document(**track_changes):
    """A one-second track of five segments, nothing detected, no beats, bars, tatums or sections."""
    real = analysis(TEARS)
    track = {key: value for key, value in real['track'].items() if not key.endswith('string')}
    track.update(duration=1.0, tempo=0.0, key=-1, mode=-1, time_signature=1, loudness=-31.5)
    track.update(track_changes)
    segments = [dict(segment) for segment in real['segments'][20:25]]
    for segment in segments:
        segment.pop('confidence', None)  # optional fields go missing in real data
        segment.pop('loudness_end', None)
    return {'meta': {}, 'track': track, 'bars': [], 'beats': [], 'tatums': [], 'sections': [],
            'segments': segments}


@pytest.mark.parametrize('time_signature', [1, 5, 7])
def test_odd_document_gives_attributes(time_signature):
    attributes = compute_attributes(odd_document(time_signature=time_signature))
    assert tuple(attributes) == ATTRIBUTE_NAMES
    assert (attributes['tempo'], attributes['key'], attributes['mode']) == (0.0, -1, -1)
    assert attributes['time_signature'] == time_signature
    assert attributes['loudness'] == -31.5
    assert attributes['duration_ms'] == 1000
    assert_estimates_bounded(attributes)


@pytest.mark.parametrize('change', [
    lambda d: d.pop('beats'),
    lambda d: d.update(beats=[{'start': 0.1, 'duration': 0.5}]),  # one beat, no confidence
    lambda d: d.update(segments=d['segments'][:1]),
    lambda d: [segment.pop('pitches') for segment in d['segments']],
    lambda d: [segment.pop('loudness_start') for segment in d['segments']],
    lambda d: d['track'].pop('mode_confidence'),
    lambda d: d['track'].update(mode=1, tempo=250.0, duration=3),
    lambda d: d['segments'][0]['timbre'].__setitem__(1, float('nan')),
    lambda d: d['segments'][0]['timbre'].__setitem__(1, float('inf')),
], ids=['no beats key', 'one beat', 'one segment', 'no pitches', 'no loudness_start', 'no mode_confidence',
        'fast major int duration', 'nan timbre', 'infinite timbre'])
def test_missing_and_extreme_values_still_bounded(change):
    document = odd_document()
    document['segments'] = [dict(segment, timbre=list(segment['timbre'])) for segment in document['segments']]
    change(document)
    assert_estimates_bounded(compute_attributes(document))


def test_a_feature_the_document_lacks_takes_its_centre():
    document = odd_document()
    for segment in document['segments']:
        del segment['loudness_start']
    features = analysis_features(document)[1]
    lacking = ('rise', 'onsets', 'beat', 'regularity')
    assert [features[name] for name in lacking] == [None] * 4
    assert [feature_terms(features)[name] for name in lacking] == [0.0] * 4


def test_a_silent_intro_changes_nothing():
    document = analysis(TEARS)
    first = document['segments'][0]
    silence = dict(first, start=0.0, duration=30.0, loudness_start=-60.0, loudness_max=-60.0)
    later = [dict(segment, start=segment['start'] + 30.0) for segment in document['segments']]
    quiet = dict(document, segments=[silence] + later)
    assert compute_attributes(quiet) == computed(TEARS)  # the same duration: only the segments differ


def without(path):
    """A change that deletes track.x or x from a copy of the odd document."""
    def change(document):
        holder = document['track'] if path.startswith('track.') else document
        del holder[path.removeprefix('track.')]
    return change


def replace(path, value):
    def change(document):
        holder = document['track'] if path.startswith('track.') else document
        holder[path.removeprefix('track.')] = value
    return change


def replace_segment(index, **fields):
    def change(document):
        document['segments'][index] = dict(document['segments'][index], **fields)
    return change


@pytest.mark.parametrize('change, message', [
    (without('track'), 'analysis has no track object'),
    (replace('track', 'TRAWOGC14E8320817F'), 'analysis has no track object'),
    (without('track.duration'), 'analysis has no track.duration'),
    (replace('track.duration', None), 'track.duration is not a number'),
    (replace('track.duration', 0.0), 'track.duration is not a positive number'),
    (replace('track.duration', float('nan')), 'track.duration is not a positive number'),
    (without('track.tempo'), 'analysis has no track.tempo'),
    (replace('track.key', '11'), 'track.key is not a number'),
    (without('segments'), 'analysis has no segments list'),
    (replace('segments', {}), 'analysis has no segments list'),
    (replace('segments', []), 'analysis has an empty segments list'),
    (replace_segment(2, timbre=[1.0] * 11), 'segment 2 has no timbre of 12 numbers'),
    (replace_segment(3, timbre=None), 'segment 3 has no timbre of 12 numbers'),
    (replace_segment(1, timbre=[1.0] * 11 + ['x']), 'segment 1 has a value that is not a number'),
    (replace_segment(4, loudness_start='-60'), 'segment 4 has a value that is not a number'),
    (replace('beats', [{'duration': '0.5'}, {'duration': 0.5}]), 'beats have a value that is not a number'),
])
def test_uncomputable_document_says_what_is_missing(change, message):
    document = odd_document()
    change(document)
    with pytest.raises(UncomputableAnalysis, match=message):
        compute_attributes(document)


@pytest.mark.parametrize('document', [None, [], 'analysis', 42])
def test_non_object_is_uncomputable(document):
    with pytest.raises(UncomputableAnalysis, match='analysis is not a JSON object'):
        compute_attributes(document)


def test_uncomputable_is_a_value_error_for_callers():
    assert issubclass(UncomputableAnalysis, ValueError)
    with pytest.raises(ValueError):
        compute_attributes({'track': {'duration': 1.0}})
