"""Realistic synthetic Echo Nest analysis documents, to fill a local S3 server for demos, tests and benchmarks.

Shaped after the real documents in ../shared/samples/echonest/: the "echonest" era (analyzer 3.2.2) and the
"spotify" era (analyzer 4.0.0). Standard library only, and fast: about 13 ms for a 240 s document.
"""
import base64
import hashlib
import math
import random

ERAS = ('echonest', 'spotify')

# Times are generated as integers of 10 µs, so starts and durations add up exactly and print with 5 decimals.
TICKS = 100_000
SAMPLE_RATE = 22_050

_ALNUM36 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'
_BASE62 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'

# Krumhansl-Kessler key profiles: how strongly each pitch class belongs to a major / minor key.
_MAJOR_PROFILE = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
_MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)
# Diatonic triads (root offset, third, fifth) most songs move between, most common first.
_MAJOR_CHORDS = ((0, 4, 7), (7, 11, 2), (5, 9, 0), (9, 0, 4), (2, 5, 9))
_MINOR_CHORDS = ((0, 3, 7), (5, 8, 0), (7, 11, 2), (8, 0, 3), (3, 7, 10))

# Timbre means and spreads of dimensions 1..11, read off a loud electronic and a quiet orchestral real document;
# dimension 0 follows the segment's loudness instead.
_ELECTRONIC_MU = (15.0, -40.0, 20.0, 15.0, -40.0, 0.0, -2.0, -2.0, 8.0, -9.0, 3.0)
_ACOUSTIC_MU = (-90.0, 12.0, -22.0, 38.0, -32.0, -8.0, 4.0, -5.0, 1.0, -1.0, 12.0)
_ELECTRONIC_SD = (70.0, 60.0, 55.0, 32.0, 40.0, 26.0, 28.0, 20.0, 24.0, 22.0, 17.0)
_ACOUSTIC_SD = (58.0, 54.0, 30.0, 31.0, 15.0, 28.0, 13.0, 25.0, 12.0, 8.0, 18.0)
# The analyzer's timbre of digital silence, almost identical in every real document.
_SILENCE_TIMBRE = (171.13, 9.469, -28.48, 57.491, -50.067, 14.833, 5.359, -27.228, 0.973, -10.64, -7.228)
# (rnd() - rnd()) has standard deviation 1/sqrt(6): scale by this to get a unit spread cheaply.
_TRI = 6 ** 0.5

_GENRES = ('House', 'Pop', 'Rock', 'Electronic', 'Hip-Hop', 'Jazz', 'Classical', 'Soundtrack', 'Folk', 'Metal',
           'R&B', 'Country', 'Reggae', 'Blues', 'Techno', 'Ambient', 'Indie', 'Soul', 'Latin', 'Other')
_SYLLABLES = ('ka', 'lo', 'mi', 'ra', 'ten', 'vo', 'zu', 'bel', 'dor', 'an', 'el', 'fin', 'gar', 'ho', 'is',
              'jun', 'mar', 'nel', 'or', 'pa', 'qui', 'sol', 'tra', 'ux', 'wen', 'yl')
_WORDS = ('love', 'night', 'rain', 'fire', 'heart', 'city', 'dream', 'light', 'river', 'gold', 'shadow', 'road',
          'summer', 'storm', 'echo', 'silver', 'ocean', 'dance', 'home', 'star', 'tears', 'rumble', 'give',
          'up', 'for', 'in', 'the', 'of', 'my', 'your', 'blue', 'wild', 'electric', 'slow', 'forever')


def _clamp(x, lo, hi):
    return lo if x < lo else hi if x > hi else x


def _r3(x):
    return round(x * 1000) / 1000


def _digest(kind, seed):
    # Domain-separated so that a track's Echo Nest and Spotify ids are unrelated.
    return int.from_bytes(hashlib.blake2b(str(seed).encode(), digest_size=16, person=kind).digest(), 'big')


def _encode(number, alphabet, width):
    base = len(alphabet)
    chars = []
    for _ in range(width):
        number, digit = divmod(number, base)
        chars.append(alphabet[digit])
    return ''.join(reversed(chars))


def echonest_id(seed: int) -> str:
    # 36**16 > 2**82: keeping 82+ bits of a 128-bit hash makes a collision between seeds practically impossible.
    return 'TR' + _encode(_digest(b'echonest-id', seed) % 36 ** 16, _ALNUM36, 16)


def spotify_track_id(seed: int) -> str:
    # 62**22 > 2**128, so the whole hash fits; like real Spotify ids the first character is then 0..7.
    return _encode(_digest(b'spotify-id', seed), _BASE62, 22)


def _fingerprint(r, chars):
    # The real strings are url-safe base64 of zlib data (hence the 'eJx' start); random bytes look the same.
    return base64.urlsafe_b64encode(b'\x78\x9c' + r.randbytes(max(16, int(chars * 0.75) - 2))).decode()


def _name(r, words):
    return ' '.join(''.join(r.choice(_SYLLABLES) for _ in range(r.randint(1, 3))).capitalize()
                    for _ in range(words))


def _title(r):
    return ' '.join(r.choice(_WORDS) for _ in range(r.randint(1, 4))).title()


def _character(r):
    # Drawn before anything that depends on era or duration, so a seed keeps its character across both.
    c = {}
    energy = r.betavariate(2.0, 1.4)
    acoustic = _clamp(1.0 - energy + r.gauss(0.0, 0.18), 0.0, 1.0)
    c['energy'], c['acoustic'] = energy, acoustic
    c['tonal'] = r.uniform(0.15, 1.0)
    c['groove'] = _clamp(0.5 * energy + 0.6 * r.random() - 0.1 * acoustic, 0.0, 1.0)

    loudness = -3.0 - 24.0 * (1.0 - energy) ** 1.6 + r.gauss(0.0, 1.5)
    if r.random() < 0.03:  # the odd very quiet recording (field recordings, early classical)
        loudness -= r.uniform(5.0, 15.0)
    c['loudness'] = _clamp(loudness, -45.0, -1.0)

    u = r.random()
    if u < 0.01:  # the analyzer found no pulse at all
        tempo = 0.0
    elif energy > 0.6 and acoustic < 0.3:
        tempo = _clamp(r.gauss(126.0, 12.0), 60.0, 200.0)
    else:
        tempo = _clamp(r.gauss(118.0, 28.0), 40.0, 230.0)
    c['tempo'] = _r3(tempo)
    c['tempo_confidence'] = 0.0 if tempo == 0.0 else _r3(_clamp(0.15 + 0.75 * c['groove'] + r.gauss(0.0, 0.2),
                                                                 0.0, 1.0))

    u = r.random()
    ts = 4 if u < 0.82 else 3 if u < 0.92 else 1 if u < 0.95 else 5 if u < 0.99 else 7
    c['time_signature'] = ts
    c['time_signature_confidence'] = (0.0 if tempo == 0.0 else 1.0 if r.random() < 0.35
                                      else _r3(r.random() ** 0.7))

    # Key and mode are also used for the harmony of the segments, even when the track reports -1.
    c['root'] = r.randrange(12)
    c['major'] = r.random() < 0.62
    if r.random() < 0.01:  # nothing detected
        c['key'], c['key_confidence'], c['mode'], c['mode_confidence'] = -1, 0.0, -1, 0.0
    else:
        c['key'] = c['root']
        c['key_confidence'] = _r3(_clamp(c['tonal'] * r.uniform(0.3, 1.1), 0.0, 1.0))
        c['mode'] = 1 if c['major'] else 0
        c['mode_confidence'] = _r3(_clamp(c['tonal'] * r.uniform(0.2, 1.0), 0.0, 1.0))

    # Segment-level behaviour: quiet acoustic tracks have soft, slow attacks and dark timbre.
    c['seg_mean'] = _clamp(r.uniform(0.19, 0.31) - 0.04 * (energy - 0.5), 0.12, 0.4)
    c['seg_sd'] = r.uniform(2.0, 3.5) + 2.5 * acoustic * r.random()
    c['depth'] = 3.0 + 12.0 * energy * (1.0 - 0.6 * acoustic) * r.uniform(0.6, 1.2)
    c['attack'] = 0.02 + 0.07 * acoustic * r.uniform(0.6, 1.3)
    c['seg_conf'] = 0.2 + 0.45 * energy * (1.0 - 0.5 * acoustic) + r.uniform(-0.05, 0.15)
    c['pitch_floor'] = 0.02 + 1.2 * (1.0 - c['tonal']) * r.random()
    c['timbre_mu'] = [a * acoustic + e * (1.0 - acoustic) + r.gauss(0.0, 20.0 if k == 0 else 10.0)
                      for k, (e, a) in enumerate(zip(_ELECTRONIC_MU, _ACOUSTIC_MU))]
    c['timbre_sd'] = [(a * acoustic + e * (1.0 - acoustic)) * r.uniform(0.75, 1.25)
                      for e, a in zip(_ELECTRONIC_SD, _ACOUSTIC_SD)]
    c['swing'] = r.uniform(0.58, 0.67) if r.random() < 0.12 else 0.5
    c['jitter'] = 0.004 + 0.05 * acoustic * r.random()
    # Fingerprint characters per second (per onset for the code string), as in the real documents.
    c['fingerprint_rates'] = (r.uniform(5.5, 9.0), r.uniform(85.0, 105.0), r.uniform(8.0, 30.0),
                              r.uniform(35.0, 45.0))
    return c


def _chords(c):
    profile = _MAJOR_PROFILE if c['major'] else _MINOR_PROFILE
    root = c['root']
    base = [0.12 * profile[(pc - root) % 12] / 6.35 for pc in range(12)]
    chords = []
    for triad in (_MAJOR_CHORDS if c['major'] else _MINOR_CHORDS):
        weights = base[:]
        for i, step in enumerate(triad):
            weights[(root + step) % 12] += (1.0, 0.8, 0.85)[i]
        chords.append(weights)
    return chords


def _section_bounds(r, total):
    # Sections every ~20-30 s; a remainder shorter than 10 s joins the last one.
    bounds, t = [0], 0
    while True:
        t += int(_clamp(r.gauss(25.0, 6.0), 10.0, 45.0) * TICKS)
        if t > total - 10 * TICKS:
            return bounds
        bounds.append(t)


def _beats(r, c, start, end):
    tempo = c['tempo']
    beats, tatums, bars = [], [], []
    if tempo == 0.0:  # no pulse: the analyzer leaves bars, beats and tatums empty
        return bars, beats, tatums
    rnd = r.random
    period = 60.0 / tempo * TICKS
    jitter, swing = c['jitter'], c['swing']
    mean_conf = 0.1 + 0.7 * c['groove']
    t = start + int(rnd() * period)
    starts = []
    while True:
        d = int(period * (1.0 + jitter * (rnd() - 0.5)))
        if t + d > end:
            break
        conf = _r3(_clamp(mean_conf + 0.6 * (rnd() - 0.5), 0.0, 1.0))
        beats.append({'start': t / TICKS, 'duration': d / TICKS, 'confidence': conf})
        half = int(d * swing)
        tatums.append({'start': t / TICKS, 'duration': half / TICKS, 'confidence': conf})
        tatums.append({'start': (t + half) / TICKS, 'duration': (d - half) / TICKS, 'confidence': conf})
        starts.append(t)
        t += d
    if beats:  # the analyzer is unsure of the last beat, as the music dies away
        beats[-1]['confidence'] = tatums[-1]['confidence'] = tatums[-2]['confidence'] = _r3(
            beats[-1]['confidence'] * 0.3)
    ts = c['time_signature']
    starts.append(t)
    # Whole bars only, the first one on a downbeat somewhere among the first beats.
    for i in range(r.randrange(ts), len(starts) - ts, ts):
        conf = _r3(_clamp(0.5 + 0.5 * (rnd() - 0.5) + 0.3 * (c['groove'] - 0.5), 0.0, 1.0))
        bars.append({'start': starts[i] / TICKS, 'duration': (starts[i + ts] - starts[i]) / TICKS,
                     'confidence': conf})
    if bars and rnd() < 0.5:
        bars[-1]['confidence'] = 0.0
    return bars, beats, tatums


def _section(r, c, start, end, confidence, loudness):
    tempo = c['tempo']
    if tempo:
        sec_tempo = _r3(tempo + r.gauss(0.0, 0.3 + 2.0 * (1.0 - c['tempo_confidence'])))
        tempo_conf = _r3(_clamp(c['tempo_confidence'] + r.gauss(0.0, 0.2), 0.0, 1.0))
    else:
        sec_tempo = tempo_conf = 0.0
    if r.random() < c['tonal']:
        # Mostly the track's key, sometimes a modulation to the dominant or the relative key.
        key = (c['root'] + r.choice((0, 0, 0, 7, 9 if c['major'] else 3))) % 12
        key_conf = _r3(r.uniform(0.05, 1.0) * c['tonal'])
        mode = r.choice((1, 1, 0)) if c['major'] else r.choice((0, 0, 1))
        mode_conf = _r3(r.uniform(0.05, 0.9) * c['tonal'])
    else:  # the detector gives up on this stretch and says so with zero confidence
        key, key_conf, mode, mode_conf = 0, 0.0, 1, 0.0
    ts = c['time_signature']
    if r.random() < 0.85:
        ts_conf = 1.0 if r.random() < 0.6 else _r3(r.uniform(0.3, 1.0))
    else:
        ts, ts_conf = r.choice((3, 4, 5)), _r3(r.uniform(0.0, 0.9))
    return {'start': start / TICKS, 'duration': (end - start) / TICKS, 'confidence': confidence,
            'loudness': loudness, 'tempo': sec_tempo, 'tempo_confidence': tempo_conf,
            'key': key, 'key_confidence': key_conf, 'mode': mode, 'mode_confidence': mode_conf,
            'time_signature': ts, 'time_signature_confidence': ts_conf}


def _segments_and_sections(r, c, era, total, fade_in, fade_out):
    rnd, log = r.random, math.log
    spotify = era == 'spotify'
    chords = _chords(c)
    floor = c['pitch_floor']
    spread = 1.0 - 0.5 * c['tonal']
    mu, sd = c['timbre_mu'], c['timbre_sd']
    sd_tri = [s * _TRI for s in sd]
    base = c['loudness'] - 1.0
    seg_sd_tri = c['seg_sd'] * _TRI
    mean_depth, attack, seg_conf = c['depth'], c['attack'], c['seg_conf']
    dur_min = 6_000  # 60 ms: the shortest segment the analyzer reports
    dur_scale = (c['seg_mean'] - 0.06) * TICKS / 2.0
    dur_max = 2 * TICKS
    fade_len = max(1, total - fade_out)

    bounds = _section_bounds(r, total)
    levels, section_mus = [], []
    for i in range(len(bounds)):
        offset = r.gauss(0.0, 1.0 + 3.0 * c['acoustic'] * r.random())
        if i == 0 and len(bounds) > 1 and r.random() < 0.5:  # a quiet intro
            offset -= r.uniform(2.0, 12.0)
        levels.append(base + offset)
        # Verse and chorus sound a little different: shift the timbre means per section.
        section_mus.append([m + 0.25 * s * (rnd() - rnd()) * _TRI for m, s in zip(mu, sd)])

    def pitches_and_timbre(chord, lmax, depth, sec):
        raw = [floor * rnd() + w * (1.0 - spread * rnd()) for w in chord]
        top = max(raw)
        pitches = [round(v / top * 1000) / 1000 for v in raw]
        smu = section_mus[sec]
        timbre = [round(_clamp(55.6 + 0.89 * lmax + 2.5 * _TRI * (rnd() - rnd()), 0.0, 60.0) * 1000) / 1000]
        timbre += [round((m + s * (rnd() - rnd())) * 1000) / 1000 for m, s in zip(smu, sd_tri)]
        # Brighter when louder, stronger attack dimension when the onset is sharper.
        timbre[1] = round((timbre[1] + 1.5 * (lmax - base)) * 1000) / 1000
        timbre[4] = round((timbre[4] + 2.0 * (depth - mean_depth)) * 1000) / 1000
        return pitches, timbre

    segments = []
    append = segments.append
    # Draw era-specific noise in both eras, so that one seed gives the same music in either era.
    silence_noise, silence_timbre0 = r.uniform(0.02, 0.05), 0.05 + 0.1 * rnd()
    silence = -60.0 if spotify else _r3(-60.0 + silence_noise)
    raw = [0.3 + 0.7 * rnd() for _ in range(12)]
    top = max(raw)
    first = {'start': 0.0, 'duration': fade_in / TICKS, 'confidence': 0.0, 'loudness_start': silence,
             'loudness_max_time': 0.0, 'loudness_max': silence}
    if spotify:
        first['loudness_end'] = 0.0
    first['pitches'] = [_r3(v / top) for v in raw]
    first['timbre'] = [0.0 if spotify else _r3(silence_timbre0)] + [_r3(v + rnd() - rnd()) for v in _SILENCE_TIMBRE]
    append(first)

    tail = int(min(r.uniform(0.5, 2.8), max(0.06, 0.25 * total / TICKS)) * TICKS)
    tail_start = total - tail
    sec, next_bound = 0, bounds[1] if len(bounds) > 1 else total + 1
    starts = [0]
    sums, counts = [0.0] * len(bounds), [0] * len(bounds)
    chord = chords[0]
    prev_lmax = -60.0
    t = fade_in
    while True:
        d = dur_min + int(dur_scale * -log((1.0 - rnd()) * (1.0 - rnd())))
        if d > dur_max:
            d = dur_max
        if t + d > tail_start:
            break
        if t >= next_bound:
            sec += 1
            starts.append(t)  # section boundaries fall on segment onsets
            next_bound = bounds[sec + 1] if sec + 1 < len(bounds) else total + 1
        if rnd() < 0.25:  # harmonic rhythm: the chord changes every few segments
            chord = chords[int(rnd() * rnd() * len(chords))]
        lmax = levels[sec] + seg_sd_tri * (rnd() - rnd())
        if t > fade_out:
            lmax -= 30.0 * (t - fade_out) / fade_len
        lmax = _clamp(lmax, -59.9, 1.9)
        depth = mean_depth * -log(1.0 - rnd())
        lstart = -60.0 if prev_lmax == -60.0 else max(-60.0, lmax - depth)
        lmt = int(min(0.8 * d, attack * TICKS * -log(1.0 - rnd())))
        conf = _clamp(seg_conf + 0.25 * (depth / mean_depth - 1.0) + 0.3 * (rnd() - 0.5), 0.0, 1.0)
        pitches, timbre = pitches_and_timbre(chord, lmax, depth, sec)
        seg = {'start': t / TICKS, 'duration': d / TICKS, 'confidence': round(conf * 1000) / 1000,
               'loudness_start': round(lstart * 1000) / 1000, 'loudness_max_time': lmt / TICKS,
               'loudness_max': round(lmax * 1000) / 1000}
        if spotify:
            seg['loudness_end'] = 0.0
        seg['pitches'] = pitches
        seg['timbre'] = timbre
        append(seg)
        sums[sec] += lmax
        counts[sec] += 1
        prev_lmax = lmax
        t += d

    # The last segment is the long decay into silence; every era marks it with loudness_end.
    d = total - t
    lmax = _clamp(levels[sec] - r.uniform(10.0, 25.0), -59.9, 0.0)
    depth = r.uniform(0.0, 6.0)
    pitches, timbre = pitches_and_timbre(chord, lmax, depth, sec)
    append({'start': t / TICKS, 'duration': d / TICKS, 'confidence': _r3(r.uniform(0.05, 0.5)),
            'loudness_start': _r3(max(-60.0, lmax - depth)),
            'loudness_max_time': int(min(0.5 * d, r.uniform(0.01, 0.08) * TICKS)) / TICKS,
            'loudness_max': _r3(lmax), 'loudness_end': -60.0 if spotify else silence,
            'pitches': pitches, 'timbre': timbre})
    sums[sec] += lmax
    counts[sec] += 1

    sections = []
    starts.append(total)
    for i in range(len(starts) - 1):
        loudness = _r3(sums[i] / counts[i]) if counts[i] else _r3(levels[i])
        confidence = 1.0 if i == 0 or r.random() < 0.4 else _r3(r.uniform(0.1, 1.0))
        sections.append(_section(r, c, starts[i], starts[i + 1], confidence, loudness))
    return segments, sections


def synthetic_analysis(seed: int, era: str, duration: float) -> dict:
    if era not in ERAS:
        raise ValueError(f'era must be one of {ERAS}, not {era!r}')
    if not duration >= 0.5:
        raise ValueError(f'duration must be at least 0.5 s, not {duration!r}')
    # Random(n) seeds with abs(n): give negative seeds their own stream so that -1 and 1 differ.
    r = random.Random(seed if seed >= 0 else f'negative {seed}')
    c = _character(r)
    spotify = era == 'spotify'

    total = round(duration * TICKS)
    seconds = total / TICKS
    if r.random() < 0.45:
        fade_in = r.uniform(0.03, 0.3)
    else:
        fade_in = r.uniform(0.3, 1.5) if r.random() < 0.65 else r.uniform(1.5, 6.0)
    fade_in = int(min(fade_in, 0.15 * seconds) * TICKS)
    fade_out = max(fade_in, total - int(min(r.uniform(1.5, 12.0), 0.2 * seconds) * TICKS))

    segments, sections = _segments_and_sections(r, c, era, total, fade_in, fade_out)
    beat_end = max(fade_in, total - int(min(r.uniform(0.3, 2.5), 0.1 * seconds) * TICKS))
    bars, beats, tatums = _beats(r, c, fade_in, beat_end)

    code_rate, echoprint_rate, synch_rate, rhythm_rate = c['fingerprint_rates']
    if spotify:
        meta = {'analyzer_version': '4.0.0', 'platform': 'Linux', 'detailed_status': 'OK', 'status_code': 0,
                'timestamp': r.randrange(1_546_300_800, 1_704_067_200),
                'analysis_time': round(seconds * r.uniform(0.015, 0.035), 5),
                'input_process': 'libvorbisfile L+R 44100->22050'}
    else:
        artist, title = _name(r, r.randint(1, 2)), _title(r)
        meta = {'analyzer_version': '3.2.2', 'platform': 'Linux', 'detailed_status': 'OK',
                'filename': f'{artist} - {title}.mp3', 'artist': artist, 'album': _title(r), 'title': title,
                'genre': r.choice(_GENRES), 'bitrate': r.choice((128, 192, 256, 320, 320, 320)),
                'sample_rate': 44100 if r.random() < 0.9 else 48000, 'seconds': int(seconds), 'status_code': 0,
                'timestamp': r.randrange(1_325_376_000, 1_451_606_400),
                'analysis_time': round(seconds * r.uniform(0.015, 0.035), 5)}

    track = {'num_samples': int(seconds * SAMPLE_RATE), 'duration': seconds,
             'sample_md5': '' if spotify else r.randbytes(16).hex()}
    if not spotify:
        track['decoder'] = 'mpg123'
        track['decoder_version'] = 'mpg123 1.16.0'
    track.update({
        'offset_seconds': 0, 'window_seconds': 0, 'analysis_sample_rate': SAMPLE_RATE, 'analysis_channels': 1,
        'end_of_fade_in': fade_in / TICKS, 'start_of_fade_out': fade_out / TICKS,
        'loudness': _r3(c['loudness']), 'tempo': c['tempo'], 'tempo_confidence': c['tempo_confidence'],
        'time_signature': c['time_signature'], 'time_signature_confidence': c['time_signature_confidence'],
        'key': c['key'], 'key_confidence': c['key_confidence'],
        'mode': c['mode'], 'mode_confidence': c['mode_confidence'],
        'codestring': _fingerprint(r, len(segments) * code_rate), 'code_version': 3.15,
        'echoprintstring': _fingerprint(r, seconds * echoprint_rate), 'echoprint_version': 4.12,
        'synchstring': _fingerprint(r, seconds * synch_rate), 'synch_version': 1.0,
        'rhythmstring': _fingerprint(r, seconds * rhythm_rate), 'rhythm_version': 1.0,
    })
    return {'meta': meta, 'track': track, 'bars': bars, 'beats': beats, 'tatums': tatums,
            'sections': sections, 'segments': segments}
