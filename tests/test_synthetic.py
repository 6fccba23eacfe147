import functools
import json
import re
import statistics
import time
from pathlib import Path

import pytest

from pipeline.synthetic import echonest_id, spotify_track_id, synthetic_analysis

SAMPLES = Path(__file__).resolve().parents[1].parent / 'shared' / 'samples' / 'echonest'
ERAS = ('echonest', 'spotify')
FINGERPRINTS = ('codestring', 'echoprintstring', 'synchstring', 'rhythmstring')


@functools.cache
def real_documents(era):
    paths = sorted(SAMPLES.glob(f'{era}-era_*.analysis.json'))
    assert paths, f'no real {era}-era sample in {SAMPLES}'
    return [json.loads(p.read_text()) for p in paths]


def real_segment_reference(era):
    # Spotify-era documents fetched from 2021 on (Rumble) carry loudness_end on every segment, as we generate.
    docs = real_documents(era)
    if era == 'spotify':
        docs = [d for d in docs if all('loudness_end' in s for s in d['segments'])]
    return docs[0]


@functools.cache
def doc(seed, era, duration=240.0):
    return synthetic_analysis(seed, era, duration)


def compact(document):
    return json.dumps(document, separators=(',', ':'))


def decimals(x):
    text = repr(x)
    return len(text.split('.')[1]) if '.' in text else 0


@pytest.mark.parametrize('era', ERAS)
def test_keys_match_real_documents_of_the_era(era):
    generated = doc(1, era)
    for real in real_documents(era):
        assert set(generated) == set(real)
        assert list(generated['meta']) == list(real['meta'])
        assert list(generated['track']) == list(real['track'])
        assert set(generated['sections'][0]) == set(real['sections'][0])
        for name in ('bars', 'beats', 'tatums'):
            assert set(generated[name][0]) == set(real[name][0])


@pytest.mark.parametrize('era', ERAS)
def test_segment_keys_match_real_document(era):
    real = real_segment_reference(era)
    generated = doc(2, era)
    assert {tuple(s) for s in generated['segments']} == {tuple(s) for s in real['segments']}
    # In the echonest era only the last segment carries loudness_end, as in the real document.
    assert ('loudness_end' in generated['segments'][-1]) and (
        era == 'spotify' or all('loudness_end' not in s for s in generated['segments'][:-1]))


@pytest.mark.parametrize('era', ERAS)
def test_segments_are_well_formed(era):
    d = doc(3, era)
    segments = d['segments']
    assert 800 <= len(segments) <= 1400  # one segment per ~0.25 s, give or take the track's character
    for s in segments:
        assert len(s['pitches']) == 12 and len(s['timbre']) == 12
        assert all(0.0 <= p <= 1.0 for p in s['pitches']) and max(s['pitches']) == 1.0
        assert 0.0 <= s['confidence'] <= 1.0
        assert 0.0 <= s['loudness_max_time'] <= s['duration']
        assert -60.0 <= s['loudness_start'] and -60.0 <= s['loudness_max'] <= 3.0
    starts = [s['start'] for s in segments]
    assert starts[0] == 0.0 and all(a < b for a, b in zip(starts, starts[1:]))
    for a, b in zip(segments, segments[1:]):
        assert a['start'] + a['duration'] == pytest.approx(b['start'], abs=1e-9)
    assert segments[-1]['start'] + segments[-1]['duration'] == pytest.approx(240.0, abs=0.01)


@pytest.mark.parametrize('era', ERAS)
def test_first_segment_is_silence_until_fade_in(era):
    d = doc(4, era)
    first = d['segments'][0]
    assert first['confidence'] == 0.0
    assert first['loudness_max'] <= -59.9 and first['loudness_start'] <= -59.9
    assert first['duration'] == d['track']['end_of_fade_in'] > 0.0
    assert d['segments'][1]['loudness_max'] > -59.9


@pytest.mark.parametrize('era', ERAS)
def test_values_are_rounded_like_real_data(era):
    d = doc(5, era)
    for s in d['segments']:
        assert max(decimals(s[k]) for k in ('start', 'duration', 'loudness_max_time')) <= 5
        assert max(decimals(s[k]) for k in ('confidence', 'loudness_start', 'loudness_max')) <= 3
        assert max(decimals(x) for x in s['pitches'] + s['timbre']) <= 3
    for name in ('bars', 'beats', 'tatums', 'sections'):
        for item in d[name]:
            assert decimals(item['start']) <= 5 and decimals(item['duration']) <= 5
            assert decimals(item['confidence']) <= 3
    track = d['track']
    assert max(decimals(track[k]) for k in ('loudness', 'tempo', 'key_confidence', 'mode_confidence')) <= 3


@pytest.mark.parametrize('era', ERAS)
def test_rhythm_and_sections_follow_the_tempo(era):
    seed = next(s for s in range(100) if doc(s, era, 120.0)['track']['tempo'] > 0.0)
    d = doc(seed, era, 120.0)
    track = d['track']
    beats, tatums, bars = d['beats'], d['tatums'], d['bars']
    assert len(tatums) == 2 * len(beats)
    period = 60.0 / track['tempo']
    assert statistics.median(b['duration'] for b in beats) == pytest.approx(period, rel=0.05)
    assert len(beats) == pytest.approx(120.0 / period, rel=0.15)
    assert len(bars) == pytest.approx(len(beats) / track['time_signature'], abs=2)
    sections = d['sections']
    assert 3 <= len(sections) <= 7  # a new section every ~20-30 s
    assert sections[0]['start'] == 0.0
    assert sections[-1]['start'] + sections[-1]['duration'] == pytest.approx(120.0, abs=1e-6)


@pytest.mark.parametrize('era', ERAS)
def test_deterministic_per_seed(era):
    assert synthetic_analysis(7, era, 60.0) == synthetic_analysis(7, era, 60.0)
    assert synthetic_analysis(7, era, 60.0) != synthetic_analysis(8, era, 60.0)
    assert synthetic_analysis(-7, era, 60.0) != synthetic_analysis(7, era, 60.0)


@pytest.mark.parametrize('era', ERAS)
def test_size_of_a_240_second_document(era):
    for seed in range(5):
        size = len(compact(doc(seed, era)).encode())
        assert 250_000 <= size <= 700_000, (seed, size)


@pytest.mark.parametrize('era', ERAS)
def test_fingerprints_look_real_and_scale_with_duration(era):
    short, long = doc(6, era, 60.0), doc(6, era, 240.0)
    for name in FINGERPRINTS:
        assert re.fullmatch(r'eJ[A-Za-z0-9_-]+={0,2}', long['track'][name])
        assert 3.0 < len(long['track'][name]) / len(short['track'][name]) < 5.0
    share = sum(len(long['track'][n]) for n in FINGERPRINTS) / len(compact(long))
    assert 0.05 <= share <= 0.13


def test_music_character_varies_with_seed():
    docs = [doc(seed, 'spotify', 60.0) for seed in range(40)]
    loudness = [d['track']['loudness'] for d in docs]
    brightness = [statistics.mean(s['timbre'][1] for s in d['segments']) for d in docs]
    attack = [statistics.mean(s['loudness_max_time'] for s in d['segments']) for d in docs]
    assert max(loudness) - min(loudness) > 12.0
    assert max(brightness) - min(brightness) > 60.0
    assert max(attack) > 2 * min(attack)
    # Quiet tracks are the darker ones, as with acoustic music.
    quiet = sorted(range(40), key=loudness.__getitem__)
    assert statistics.mean(brightness[i] for i in quiet[:10]) < statistics.mean(brightness[i] for i in quiet[-10:])


def test_rare_real_values_occur_rarely():
    tracks = [synthetic_analysis(seed, 'spotify', 2.0) for seed in range(3000)]
    assert {d['track']['time_signature'] for d in tracks} == {1, 3, 4, 5, 7}
    no_key = [d for d in tracks if d['track']['key'] == -1]
    assert 0 < len(no_key) < 150 and all(d['track']['mode'] == -1 for d in no_key)
    no_tempo = [d for d in tracks if d['track']['tempo'] == 0.0]
    assert 6 <= len(no_tempo) <= 90
    assert all(not d['beats'] and not d['bars'] and not d['tatums'] for d in no_tempo)
    four = sum(d['track']['time_signature'] == 4 for d in tracks)
    assert four > 0.7 * len(tracks)


def test_very_short_track():
    d = synthetic_analysis(9, 'echonest', 1.0)
    assert 2 <= len(d['segments']) <= 10
    assert d['segments'][-1]['start'] + d['segments'][-1]['duration'] == pytest.approx(1.0, abs=1e-9)
    assert d['meta']['seconds'] == 1 and d['track']['num_samples'] == 22050


def test_invalid_arguments():
    with pytest.raises(ValueError):
        synthetic_analysis(1, 'spotify-era', 60.0)
    with pytest.raises(ValueError):
        synthetic_analysis(1, 'spotify', 0.0)


def test_generation_is_fast():
    timings = []
    for seed in range(5):
        began = time.perf_counter()
        synthetic_analysis(seed, 'spotify', 240.0)
        timings.append(time.perf_counter() - began)
    assert min(timings) < 0.05


def test_echonest_ids():
    ids = [echonest_id(seed) for seed in range(10_000)]
    assert all(re.fullmatch(r'TR[0-9A-Z]{16}', i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert echonest_id(42) == echonest_id(42) and echonest_id(-1) != echonest_id(1)


def test_spotify_track_ids():
    ids = [spotify_track_id(seed) for seed in range(10_000)]
    assert all(re.fullmatch(r'[0-9A-Za-z]{22}', i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert spotify_track_id(42) == spotify_track_id(42) and spotify_track_id(42) != echonest_id(42)[2:]
