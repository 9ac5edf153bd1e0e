"""The model pages: what each shows (summary, comparison, metrics, plots, card), the plots served,
and a hostile card shown as text."""
import json
import re
import shutil

import pytest

from main import create_app
from page_forms import page_text, post_form


def test_model_pages_are_linked_from_home_and_results(client):
    home = page_text(client.get("/"))
    assert 'href="/models/sentiment"' in home and 'href="/models/similarity"' in home
    result = page_text(post_form(client, "/similarity", {"sentence1": "좋다", "sentence2": "싫다"}))
    assert '<a href="/models/similarity">모델 정보</a>' in result
    result = page_text(post_form(client, "/sentiment", {"text": "좋다"}))
    assert '<a href="/models/sentiment">모델 정보</a>' in result


@pytest.mark.parametrize("task, title, plots", [
    ("sentiment", "감정 분석", ["confusion_matrix.png", "reliability.png", "accuracy_by_length.png"]),
    ("similarity", "문장 유사도", ["predicted_vs_gold.png", "score_distributions.png",
                               "threshold_metrics.png"]),
])
def test_model_page(client, carded_models, task, title, plots):
    response = client.get(f"/models/{task}")
    text = page_text(response)
    assert response.status_code == 200 and f"<h1>모델 정보: {title}</h1>" in text
    assert f"<td>{task}-tiny</td>" in text and "ElectraForSequenceClassification" in text
    parameters = client.get(f"/api/v1/models/{task}").json["parameters"]
    assert f"<td>{parameters:,}</td>" in text
    assert "Synthetic sentences (tests/conftest.py)." in text  # the card's data section
    assert "<td>synthetic.tsv</td>" in text  # the metrics table
    for name in plots:
        assert f'<img src="/models/{task}/plots/{name}"' in text
    assert f"<h3>{task}-tiny</h3>" in text  # the card, its headings under the page's own


def test_model_page_summary_and_comparison_come_first(tiny_config, carded_models, tmp_path):
    directory = tmp_path / "similarity-tiny"  # the name the model goes by
    shutil.copytree(carded_models["similarity"], directory)
    summary = {"what": "두 문장이 얼마나 비슷한지 매기는 모델", "how": "KorSTS로 미세조정",
               "notes": ["<b>주의</b>"]}
    (directory / "summary_ko.json").write_text(json.dumps(summary, ensure_ascii=False),
                                               encoding="utf-8")
    (directory / "evaluations.json").write_text(json.dumps([
        {"model": "similarity-tiny", "model_path": str(directory), "data": "x/korsts/sts-dev.tsv",
         "metrics": {"spearman": 0.8503, "n": 1500}},
        {"model": "tfidf-char-cosine", "data": "x/korsts/sts-dev.tsv",
         "metrics": {"spearman": 0.7427}}]))
    client = create_app({**tiny_config, "SIMILARITY_MODEL": str(directory)}).test_client()
    text = page_text(client.get("/models/similarity"))
    assert text.index("두 문장이 얼마나 비슷한지 매기는 모델") < text.index("KorSTS로 미세조정")
    assert "&lt;b&gt;주의&lt;/b&gt;" in text  # a note is text, never HTML
    rows = re.findall(r'<tr class="(\w+)"><td>([^<]+)</td><td>([^<]+)</td>\s*<td>([\d.]+)</td>',
                      text)
    assert rows[:2] == [("this", "similarity-tiny", "이 모델", "0.8503"),
                        ("baseline", "글자 n-gram TF-IDF 코사인 유사도", "기준선", "0.7427")]
    assert ("published", "KoELECTRA-Base-v3", "공개 수치", "0.8553") in rows
    # The developers' part (English card, every evaluation) is folded away, after the plots.
    details = text.index('<details class="card">')
    assert text.index("평가 그림") < details < text.index("<h3>similarity-tiny</h3>")
    assert text.index('<table class="metrics">') > details
    assert '<details class="card" open' not in text
    assert json.loads(client.get("/api/v1/models/similarity").data)["summary"] == summary


def test_model_page_without_a_summary_says_so(client, carded_models):
    text = page_text(client.get("/models/sentiment"))
    assert "한국어 요약(<code>summary_ko.json</code>)이 없습니다" in text
    assert "이 데이터로 잰 이 모델의 점수가 없습니다" in text  # synthetic.tsv is not NSMC test
    assert '<td>KcELECTRA-base-v2022</td><td>공개 수치</td>' in text and "91.97%" in text


@pytest.mark.parametrize("url", [
    "/models/sentiment/plots/predicted_vs_gold.png",  # a plot of the other task
    "/models/sentiment/plots/README.md", "/models/sentiment/plots/config.json",
    "/models/sentiment/plots/..%2Fconfig.json", "/models/sentiment/plots/../config.json",
    "/models/translation/plots/confusion_matrix.png", "/models/translation",
])
def test_only_known_plots_are_served(client, carded_models, url):
    response = client.get(url)
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_plot_is_served_as_png(client, carded_models):
    response = client.get("/models/sentiment/plots/confusion_matrix.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


HOSTILE_CARD = """---
license: mit
---
# <script>alert(1)</script> card

<img src=x onerror=alert(2)>

<div onclick="alert(3)">raw block</div>

[a link](javascript:alert(4)) and ![tracker](https://example.com/pixel.png)
and ![a plot](plots/confusion_matrix.png)

| metric | value |
|---|---|
| accuracy | <b>0.9</b> |

## Training data

NSMC <iframe src="https://example.com"></iframe>
"""


def test_card_html_is_shown_as_text(tiny_config, tiny_models, tmp_path):
    directory = tmp_path / "hostile"
    shutil.copytree(tiny_models["sentiment"], directory)
    (directory / "README.md").write_text(HOSTILE_CARD, encoding="utf-8")
    client = create_app({**tiny_config, "SENTIMENT_MODEL": str(directory)}).test_client()
    response = client.get("/models/sentiment")
    main = page_text(response).split("<main>")[1]
    for raw in ("<script>alert", "<img src=x", "<div onclick", "<iframe", "<b>0.9",
                'href="javascript:', "example.com/pixel.png", "license: mit"):
        assert raw not in main, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt; card" in main
    assert "&lt;iframe" in main and "<table>" in main  # the table itself is Markdown: rendered
    assert "tracker" in main  # an image from elsewhere: its alt text only
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
