"""Daily audio attributes of a track, computed from its Echo Nest analysis.

tempo, key, mode, time_signature and loudness are copied from `track`, and duration_ms is
round(track.duration * 1000), as the Echo Nest and Spotify published them. The other seven attributes are
estimates in [0, 1] of the published ones, each a logistic of a few summary features of the analysis:

    L       track.loudness (dB)
    rate    segments per second of track: onsets per second
    B, F, A mean timbre[1], timbre[2], timbre[3] over segments: brightness, flatness, attack
            (timbre[0] is loudness, already covered by L)
    flux    mean |change| of timbre[1..3] between consecutive segments: how fast the sound changes
    density mean pitch value (pitches peak at 1): 1/12 for one pure pitch class, 1 for noise
    floor   mean loudness_start (dB): the level the sound falls back to between onsets
    beat_confidence, beat_jitter
            mean beat confidence; mean |difference of consecutive beat durations| / mean beat duration
            (local variance, so a deliberate tempo change does not count as irregular)
    tempo_fit
            1 for tempo 90..130 BPM, falling linearly to 0 at 40 BPM outside that range; 0 for tempo 0

Every term is centred on a typical value, so a feature a document lacks (no beats, no pitches, no
loudness_start) takes its centre and contributes nothing. The formula of each estimator is in its docstring.
The samples in ../shared/samples/echonest show how close the estimates come to the published values.
"""
import math

CALCULATOR_VERSION = 1

ATTRIBUTE_NAMES = (
    'tempo', 'key', 'mode', 'time_signature', 'loudness', 'duration_ms',
    'acousticness', 'danceability', 'energy', 'instrumentalness', 'liveness', 'speechiness', 'valence',
)

_COPIED = ('tempo', 'key', 'mode', 'time_signature', 'loudness')

# Centres of the features (typical of recorded music); a missing feature takes its centre.
_DENSITY_CENTRE = 0.4
_FLOOR_CENTRE = -20.0
_FLUX_CENTRE = 90.0
_BEAT_CONFIDENCE_CENTRE = 0.4
_BEAT_JITTER_CENTRE = 0.005


class UncomputableAnalysis(ValueError):
    """The analysis lacks what every attribute needs; the message says what, for the rejects output."""


def compute_attributes(analysis):
    """The attributes of ATTRIBUTE_NAMES for one analysis document (a dict as parsed from JSON)."""
    track, segments = _required_parts(analysis)
    duration = track['duration']
    features = _segment_features(segments, duration)
    features.update(_beat_features(analysis.get('beats')))
    features['L'] = track['loudness']
    features['tempo'] = track['tempo']
    features['tempo_fit'] = _tempo_fit(track['tempo'])
    features['major'] = _major(track)

    attributes = {name: track[name] for name in _COPIED}
    attributes['duration_ms'] = round(duration * 1000)
    for name, estimator in _ESTIMATORS:
        attributes[name] = round(_logistic(estimator(**features)), 4)
    return {name: attributes[name] for name in ATTRIBUTE_NAMES}


def acousticness(*, B, A, L, **_):
    """σ(-B/40 - A/25 - (L + 12)/5 - 1)

    Acoustic instruments are dark (low timbre[1]), attack softly (low timbre[3]) and are mastered quieter.
    """
    return -B / 40 - A / 25 - (L + 12) / 5 - 1


def danceability(*, beat_confidence, beat_jitter, tempo_fit, **_):
    """σ(4 (beat_confidence - 0.4) + (1 - beat_jitter / 0.005) + (tempo_fit - 0.5))

    Dance music has a beat the analyzer is sure of, beats of steady length, and a tempo of 90-130 BPM.
    """
    return (4 * (beat_confidence - _BEAT_CONFIDENCE_CENTRE) + (1 - beat_jitter / _BEAT_JITTER_CENTRE)
            + (tempo_fit - 0.5))


def energy(*, L, rate, B, **_):
    """σ((L + 12)/5 + (rate - 4)/3 + B/100)

    Energetic tracks are loud, dense with onsets and bright.
    """
    return (L + 12) / 5 + (rate - 4) / 3 + B / 100


def instrumentalness(*, flux, density, floor, **_):
    """σ(1 - (flux - 90)/25 - (density - 0.4)/0.1 - (floor + 20)/3)

    A voice moves timbre at syllable rate (flux), lights many pitch classes through formants and glides
    (density) and sits above the backing, keeping the level up between onsets (floor).
    """
    return 1 - (flux - _FLUX_CENTRE) / 25 - (density - _DENSITY_CENTRE) / 0.1 - (floor - _FLOOR_CENTRE) / 3


def liveness(*, F, floor, **_):
    """σ(-2.5 + F/25 + (floor + 20)/8)

    Audience and room noise flatten the spectrum (timbre[2]) and fill the gaps between onsets (floor).
    """
    return -2.5 + F / 25 + (floor - _FLOOR_CENTRE) / 8


def speechiness(*, density, flux, **_):
    """σ(-3 + (density - 0.4)/0.3 + (flux - 90)/100)

    Speech is unpitched (dense chroma) and changes timbre at syllable rate; -3 puts music near 0.05.
    """
    return -3 + (density - _DENSITY_CENTRE) / 0.3 + (flux - _FLUX_CENTRE) / 100


def valence(*, major, B, tempo, **_):
    """σ(-2 + major + B/50 + clamp((tempo - 120)/60, -1, 1)), tempo 0 counting as 120

    Happy-sounding music is in a major key, bright and fast; `major` is +mode_confidence for major,
    -mode_confidence for minor, 0 for no mode detected.
    """
    pace = _clamp((tempo - 120) / 60, -1.0, 1.0) if tempo > 0 else 0.0
    return -2 + major + B / 50 + pace


_ESTIMATORS = (
    ('acousticness', acousticness),
    ('danceability', danceability),
    ('energy', energy),
    ('instrumentalness', instrumentalness),
    ('liveness', liveness),
    ('speechiness', speechiness),
    ('valence', valence),
)


def _required_parts(analysis):
    if not isinstance(analysis, dict):
        raise UncomputableAnalysis(f'analysis is not a JSON object but {type(analysis).__name__}')
    track = analysis.get('track')
    if not isinstance(track, dict):
        raise UncomputableAnalysis('analysis has no track object')
    for name in ('duration',) + _COPIED:
        if name not in track:
            raise UncomputableAnalysis(f'analysis has no track.{name}')
        if not _is_number(track[name]):
            raise UncomputableAnalysis(f'analysis track.{name} is not a number: {track[name]!r}')
    if not 0 < track['duration'] < math.inf:
        raise UncomputableAnalysis(f'analysis track.duration is not a positive number: {track["duration"]!r}')
    segments = analysis.get('segments')
    if not isinstance(segments, list):
        raise UncomputableAnalysis('analysis has no segments list')
    if not segments:
        raise UncomputableAnalysis('analysis has an empty segments list')
    return track, segments


def _segment_features(segments, duration):
    """rate, B, F, A, flux, density and floor in one pass over the segments."""
    brightness = flatness = attack = flux = 0.0
    density = floor = 0.0
    pitched = floored = 0
    previous = None
    for index, segment in enumerate(segments):
        timbre = segment.get('timbre') if isinstance(segment, dict) else None
        if type(timbre) is not list or len(timbre) != 12:
            raise UncomputableAnalysis(f'analysis segment {index} has no timbre of 12 numbers')
        try:
            sum(timbre)  # raises TypeError unless all 12 are numbers
            t1, t2, t3 = timbre[1], timbre[2], timbre[3]
            brightness += t1
            flatness += t2
            attack += t3
            if previous is not None:
                flux += abs(t1 - previous[1]) + abs(t2 - previous[2]) + abs(t3 - previous[3])
            previous = timbre
            pitches = segment.get('pitches')
            if type(pitches) is list and len(pitches) == 12:
                density += sum(pitches)
                pitched += 1
            start = segment.get('loudness_start')
            if start is not None:
                floor += start
                floored += 1
        except TypeError:
            raise UncomputableAnalysis(f'analysis segment {index} has a value that is not a number') from None
    count = len(segments)
    return {
        'rate': count / duration,
        'B': brightness / count,
        'F': flatness / count,
        'A': attack / count,
        'flux': flux / (count - 1) if count > 1 else _FLUX_CENTRE,
        'density': density / (12 * pitched) if pitched else _DENSITY_CENTRE,
        'floor': floor / floored if floored else _FLOOR_CENTRE,
    }


def _beat_features(beats):
    """beat_confidence and beat_jitter; their centres when the analyzer found too few beats."""
    confidences, durations = [], []
    for beat in beats if isinstance(beats, list) else ():
        if not isinstance(beat, dict):
            continue
        confidence, duration = beat.get('confidence'), beat.get('duration')
        if confidence is not None:
            confidences.append(confidence)
        if duration is not None:
            durations.append(duration)
    try:
        confidence = sum(confidences) / len(confidences) if confidences else _BEAT_CONFIDENCE_CENTRE
        total = sum(durations)
        jitter = _BEAT_JITTER_CENTRE
        if len(durations) > 1 and total > 0:
            steps = sum(abs(b - a) for a, b in zip(durations, durations[1:]))
            jitter = steps / (len(durations) - 1) / (total / len(durations))
    except TypeError:
        raise UncomputableAnalysis('analysis beats have a value that is not a number') from None
    return {'beat_confidence': confidence, 'beat_jitter': jitter}


def _tempo_fit(tempo):
    if tempo <= 0:  # the analyzer found no pulse
        return 0.0
    distance = max(90 - tempo, tempo - 130, 0)
    return max(0.0, 1 - distance / 40)


def _major(track):
    mode = track['mode']
    confidence = track.get('mode_confidence')
    if not _is_number(confidence):
        confidence = 0.5  # a mode given without its confidence is half trusted
    return {1: confidence, 0: -confidence}.get(mode, 0.0)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _clamp(value, low, high):
    return min(max(value, low), high)


def _logistic(z):
    if z != z:  # NaN from a NaN or infinite input: no evidence either way
        return 0.5
    return 1 / (1 + math.exp(-_clamp(z, -60.0, 60.0)))
