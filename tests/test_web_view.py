"""The central scheduler's web view in a real browser: our own luigid, a daily run against it, headless Chromium.

Debian's chromium and chromium-driver (`make browser`); never a downloaded browser. The screenshots are kept in
var/test-artifacts/, whatever the outcome.
"""
import datetime
import os
import re
import urllib.parse
from pathlib import Path

import luigi.tools.deps
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from pipeline import config, sample
from tasks import DailyAttributes
from tests.conftest import REPOSITORY, luigi_command, luigid_tasks

DATE = datetime.date(2014, 9, 1)
ARTIFACTS = REPOSITORY / 'var' / 'test-artifacts'
CHROMIUM, CHROMEDRIVER = Path('/usr/bin/chromium'), Path('/usr/bin/chromedriver')
DONE_COLOUR = '#00DD00'  # graph.js: statusColors.DONE, the fill of a node's circle


@pytest.fixture
def browser(tmp_path):
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing and not os.environ.get('CI'):  # under CI, the browser test must run: it fails below instead
        pytest.skip(f'the web view test needs {" and ".join(missing)}: `make browser` (required under CI)')
    assert not missing, f'{" and ".join(missing)} missing: `make browser` installs Debian\'s chromium-driver'
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync',
                 f'--user-data-dir={tmp_path / "chromium-profile"}', '--window-size=1400,1000',
                 # No host but loopback: the visualiser's CSS asks fonts.googleapis.com for its font, and the
                 # history pages cdnjs.cloudflare.com for d3 and nvd3.
                 '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1']:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f'web-view-{name}.png'
    driver.save_screenshot(str(path))
    print(f'\nscreenshot: {path}')


def history_rows(driver):
    """(name, status, {parameter: value}) of each row of a history table (recent.html)."""
    rows = []
    for row in driver.find_elements(By.XPATH, '//table[contains(@class, "table-striped")]/tbody/tr'):
        name, _host, _last_action, status, parameters = row.find_elements(By.XPATH, './td')
        pairs = [[td.get_attribute('textContent').strip() for td in tr.find_elements(By.XPATH, './td')]
                 for tr in parameters.find_elements(By.XPATH, './/tr')]
        rows.append((name.get_attribute('textContent').strip(), status.get_attribute('textContent').strip(),
                     dict(pairs)))
    return rows


def test_the_web_view_shows_a_daily_run_done_in_its_graph_and_its_history(cfg, tmp_path, browser, luigid):
    url = f'http://127.0.0.1:{luigid}'
    for old in ARTIFACTS.glob('web-view-*.png'):
        old.unlink()
    day = DATE + datetime.timedelta(days=1)
    sample.populate(config.settings(), DATE, 2, 30, 3)
    run = luigi_command(cfg, tmp_path, 'DailyAttributes', '--date', str(day), scheduler_port=luigid)
    output = run.communicate(timeout=300)[0]
    root = DailyAttributes(day)
    expected = {t.task_id: t for t in luigi.tools.deps.find_deps(root, None)}
    families = {t.task_family for t in expected.values()}
    assert families == {'DailyAttributes', 'IncrementalAnalysis', 'MetadataDump', 'BulkIngest', 'IngestChunk',
                        'IngestEstimate'}

    # The dependency graph of DailyAttributes: the default visType, svg (graph.js). Its nodes are <g> elements,
    # a circle filled with the status colour and <a class="graph-node-a" data-task-status=...> with the family.
    # (graph.js's addClass("node") is lost on SVG elements with the visualiser's jQuery 1.10.)
    links = '#graphPlaceholder svg a.graph-node-a'
    try:
        browser.get(f'{url}/static/visualiser/index.html#tab=graph&taskId={urllib.parse.quote(root.task_id)}')
        WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, links)) >= len(expected))
    finally:
        screenshot(browser, 'graph')  # a failed run too: the graph shows which task failed
        assert run.returncode == 0, output[-3000:]
    assert browser.find_element(By.ID, 'dependencyTitle').text == f'DailyAttributes(date={day})'
    shown = {}
    for link in browser.find_elements(By.CSS_SELECTOR, links):
        circle = link.find_element(By.XPATH, '../*[local-name()="circle"]')
        shown[link.get_attribute('data-task-id')] = (link.get_attribute('textContent'),
                                                      link.get_attribute('data-task-status'),
                                                      circle.get_attribute('fill').upper())
    assert set(shown) == set(expected)
    assert {task_id: (t.task_family, 'DONE', DONE_COLOUR) for task_id, t in expected.items()} == shown
    assert browser.find_element(By.ID, 'searchError').text == ''

    # The task history of the last 24 hours: one row for each task of the graph, done.
    try:
        browser.get(f'{url}/history')
        WebDriverWait(browser, 30).until(lambda d: history_rows(d))
    finally:
        screenshot(browser, 'history')
    rows = history_rows(browser)
    assert ('DailyAttributes', 'DONE', {'date': str(day)}) in rows
    assert sorted((name, status, sorted(params.items())) for name, status, params in rows) == sorted(
        (t.task_family, 'DONE', sorted(t.to_str_params().items())) for t in expected.values())

    try:
        browser.get(f'{url}/history/by_name/DailyAttributes')
        WebDriverWait(browser, 30).until(lambda d: history_rows(d))
    finally:
        screenshot(browser, 'history-DailyAttributes')
    assert sorted(history_rows(browser), key=str) == [('DailyAttributes', 'DONE', {'date': str(DATE)}),
                                                      ('DailyAttributes', 'DONE', {'date': str(day)})]


def test_each_long_task_leaves_a_status_message_a_person_understands(cfg, tmp_path, luigid):
    sample.populate(config.settings(), DATE, 2, 30, 3)
    run = luigi_command(cfg, tmp_path, 'DailyAttributes', '--date', str(DATE + datetime.timedelta(days=1)),
                        scheduler_port=luigid)
    output = run.communicate(timeout=300)[0]
    assert run.returncode == 0, output[-3000:]
    done = luigid_tasks(luigid, 'DONE').values()
    shown = {(task['name'], task['status_message'], task['progress_percentage']) for task in done}
    patterns = {
        'IngestEstimate': r'estimate: 30 tracks, 30 GET requests, 0\.0 GB, \$0\.00',
        'IngestChunk': r'chunk [1-4]/4: (\d+) of \1 tracks, \d+ missing, \d+ failed, [\d.]+ MB/s',
        'IncrementalAnalysis': r'incremental set 2014-09-02: \d+ written of \d+ fetched; \d+ new, \d+ re-analysed or '
                               r'changed; retried \d+ missing; waiting \d+ missing(, \d+ \w+)*',
        'DailyAttributes': r'writing /echonest/attributes/2014-09-0[12]',
    }
    for name, pattern in patterns.items():
        messages = [(message, progress) for task, message, progress in shown if task == name]
        assert messages and all(re.fullmatch(pattern, message or '') for message, _ in messages), (name, messages)
    assert {progress for task, _, progress in shown if task in ('IngestChunk', 'IncrementalAnalysis')} == {100}
