"""Fixtures: tiny random ELECTRA models with a tiny Korean WordPiece tokenizer; app and client."""
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

# Tests never reach the network nor read the developer's model cache. huggingface_hub reads
# these once, when it is first imported, so they are set before anything imports it.
HUB_CACHE = Path(tempfile.mkdtemp(prefix="test-hf-hub-"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_CACHE"] = str(HUB_CACHE)
# Nor do they write job files or feedback under the repository's instance/ folder: every app
# they create (and every gunicorn they start) uses this temporary one unless a test says otherwise.
TEST_INSTANCE = Path(tempfile.mkdtemp(prefix="test-instance-"))
os.environ["FLASK_BATCH_JOBS_DIR"] = str(TEST_INSTANCE / "jobs")
os.environ["FLASK_FEEDBACK_DATABASE_URL"] = f"sqlite:///{TEST_INSTANCE / 'feedback.db'}"

import pytest  # noqa: E402

pytest.register_assert_rewrite("contract", "live_server", "page_forms")  # helper modules' asserts explain
import torch  # noqa: E402
from transformers import AutoTokenizer, ElectraConfig, ElectraForSequenceClassification  # noqa: E402

from live_server import free_port, running  # noqa: E402
from main import create_app  # noqa: E402
from training.encoders.tokenizer import train_tokenizer  # noqa: E402
from training_helpers import NEGATIVE, POSITIVE, TINY_MODEL, review_rows, run_finetune, write_tsv  # noqa: E402

# The tiny models gain nothing from threads, and a long training may be using every core.
torch.set_num_threads(1)

CORPUS = [
    "이 영화 정말 재밌다!", "시간 낭비했다 다신 안 봄", "배우 연기는 좋은데 스토리가 너무 뻔하다",
    "오늘 날씨가 정말 좋네요", "오늘은 날씨가 맑고 화창하네요", "내일 오후 3시에 회의가 열립니다",
    "회의는 내일 오후 세 시에 시작합니다", "주식 시장이 크게 하락했다", "최고의 영화입니다 강력 추천",
    "지루하고 재미없어요", "음악이 아름답고 감동적이었다", "돈이 아깝다", "한국어 문장 이해 데모",
    "The movie was great", "ㅋㅋㅋ 웃겨요", "별로였어요 다시는 안 볼래요",
]


SNAPSHOT = "0123456789abcdef0123456789abcdef01234567"


def put_in_hub_cache(hub_cache, model_dir, repo_id):
    """Lay a model directory out the way the hub cache stores a download of repo_id."""
    repo = hub_cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(model_dir, repo / "snapshots" / SNAPSHOT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(SNAPSHOT)


def pytest_unconfigure(config):
    """Remove the temporary hub cache and instance folder."""
    shutil.rmtree(HUB_CACHE, ignore_errors=True)
    shutil.rmtree(TEST_INSTANCE, ignore_errors=True)


def build_tokenizer():
    """A WordPiece tokenizer trained on CORPUS with the project's own tokenizer recipe."""
    return train_tokenizer(CORPUS, vocab_size=400, min_frequency=1)


def save_tiny_model(directory, tokenizer, **task) -> Path:
    """Save a tiny random ELECTRA classifier and its tokenizer: a complete model directory."""
    config = ElectraConfig(
        vocab_size=len(tokenizer), embedding_size=32, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128, **task)
    with torch.random.fork_rng():  # seeded here, and other tests' random state left as it was
        torch.manual_seed(0)
        ElectraForSequenceClassification(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return Path(directory)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict:
    """Model directories by task: sentiment (2 labels) and similarity (1 regression output)."""
    root, tokenizer = tmp_path_factory.mktemp("models"), build_tokenizer()
    return {
        "sentiment": save_tiny_model(
            root / "sentiment-tiny", tokenizer, num_labels=2,
            id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1}),
        "similarity": save_tiny_model(
            root / "similarity-tiny", tokenizer, num_labels=1, problem_type="regression"),
    }


def similarity_copy(source, directory, symmetric, **serving) -> Path:
    """The tiny similarity model with its output spread around mid-scale (its random init gives
    nearly constant outputs, and the 0–5 clamp would hide them), the given pair-order choice and
    any other serving.json settings."""
    model = ElectraForSequenceClassification.from_pretrained(source)
    with torch.no_grad():
        model.classifier.out_proj.weight *= 1000
        model.classifier.out_proj.bias += 2.5
    model.save_pretrained(directory)
    AutoTokenizer.from_pretrained(source).save_pretrained(directory)
    (directory / "serving.json").write_text(json.dumps({"task": "similarity", "symmetric": symmetric, **serving}))
    return directory


@pytest.fixture(scope="session")
def pair_order_models(tiny_models, tmp_path_factory) -> dict:
    """Similarity model directories of the same weights: one pair order (plain) and both (symmetric)."""
    root = tmp_path_factory.mktemp("pair-order")
    return {name: similarity_copy(tiny_models["similarity"], root / name, name == "symmetric")
            for name in ("plain", "symmetric")}


def synthetic_outputs(task, n=200) -> dict:
    """Evaluation outputs of the kind training.evaluate.score collects, drawn at random (seeded)."""
    rng = random.Random(0)
    if task == "sentiment":
        labels = [rng.randint(0, 1) for _ in range(n)]
        positive = [min(max(label * 0.6 + rng.random() * 0.4, 0.0), 1.0) for label in labels]
        return {"labels": labels, "positive": positive, "predictions": [int(p >= 0.5) for p in positive],
                "lengths": [rng.randint(0, 140) for _ in range(n)]}
    gold = [rng.uniform(0, 5) for _ in range(n)]
    return {"gold": gold, "predicted": [min(max(g + rng.gauss(0, 1), 0.0), 5.0) for g in gold]}


def add_card_and_plots(directory, task) -> None:
    """Give a model directory what training.release.export leaves: plots, saved evaluations, a card."""
    from training import metrics
    from training.evaluate import plots
    from training.release import export
    outputs = synthetic_outputs(task)
    source = directory.parent / f"{directory.name}-evaluation"  # what training.evaluate.score writes
    plots.write_plots(task, outputs, source)
    names = export.copy_plots(source, directory, task)
    scored = (metrics.sentiment_metrics(outputs["labels"], outputs["predictions"])
              if task == "sentiment" else metrics.similarity_metrics(outputs["gold"], outputs["predicted"]))
    evaluation = source / "evaluation.json"
    evaluation.write_text(json.dumps({"model": directory.name, "data": "synthetic.tsv",
                                      "metrics": scored, "quantized": False}))
    export.save_evaluations([evaluation], directory)
    card = (f"# {directory.name}\n\nA tiny random model for the tests.\n\n## Data\n\n"
            f"Synthetic sentences (tests/conftest.py).\n" + export.plots_section(names))
    (directory / "README.md").write_text(card, encoding="utf-8")


@pytest.fixture(scope="session")
def carded_models(tiny_models) -> dict:
    """The tiny models with plots, saved evaluations and a model card added (as export does)."""
    for task, directory in tiny_models.items():
        if not (directory / "README.md").exists():
            add_card_and_plots(directory, task)
    return tiny_models


@pytest.fixture(scope="session")
def hub_cache() -> Path:
    """The session's offline hub cache: a model laid out there loads by its id."""
    import huggingface_hub.constants
    assert huggingface_hub.constants.HF_HUB_CACHE == str(HUB_CACHE), (
        "huggingface_hub was imported before conftest.py could set HF_HUB_CACHE")
    return HUB_CACHE


@pytest.fixture(scope="session")
def tiny_config(tiny_models) -> dict:
    """create_app's test config for the tiny models."""
    return {"TESTING": True, "SECRET_KEY": "test-secret",
            "SENTIMENT_MODEL": str(tiny_models["sentiment"]),
            "SIMILARITY_MODEL": str(tiny_models["similarity"])}


@pytest.fixture(scope="session")
def app(tiny_config):
    """One app on the tiny models for the session (views do not change it)."""
    return create_app(tiny_config)


@pytest.fixture
def client(app):
    """A test client for the session's app."""
    return app.test_client()


@pytest.fixture(scope="session")
def live_server(carded_models, tmp_path_factory):
    """gunicorn with 2 workers on the tiny models, on loopback; shared by load and browser tests.

    Set up the way a careless deployment would be: no FLASK_SECRET_KEY (gunicorn.conf.py makes
    one for every worker) and FLASK_DEBUG=1 (which the app must ignore under gunicorn). A small
    queue makes big batches from 32 clients overflow it now and then: deliberate 503s.
    """
    log = tmp_path_factory.mktemp("live-server") / "gunicorn.log"
    with running(carded_models, log, workers=2, FLASK_SECRET_KEY=None, FLASK_DEBUG="1",
                 FLASK_LOG_INPUTS=None, FLASK_QUEUE_MAX="48") as server:
        yield server


def postgres_bin_dir():
    """Where initdb and pg_ctl are: on PATH, else Debian's /usr/lib/postgresql/<version>/bin."""
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server in a temporary directory, reached on a Unix socket only.

    Its SQLAlchemy URL, for the database "postgres". Skipped, saying why, when there is no
    PostgreSQL (make test installs Debian's package as root) or it cannot start.
    """
    pytest.importorskip("psycopg", reason="psycopg is not installed (requirements.txt)")
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server (initdb): apt-get install postgresql "
                    "(make test does it when run as root)")
    directory = Path(tempfile.mkdtemp(prefix="test-pg-"))
    # PostgreSQL refuses to run as root: then it runs as nobody, in a directory nobody owns.
    as_user = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(directory, "nobody")
    pg_ctl = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(directory / "data")]
    try:
        run_quietly([*as_user, str(bin_dir / "initdb"), "-D", str(directory / "data"),
                     "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"])
        run_quietly([*pg_ctl, "-l", str(directory / "server.log"), "-w", "-t", "60", "-o",
                     f"-k {directory} -c listen_addresses='' -c fsync=off", "start"])
    except (OSError, subprocess.SubprocessError) as error:
        log = directory / "server.log"
        detail = log.read_text(errors="replace")[-300:] if log.exists() else ""
        shutil.rmtree(directory, ignore_errors=True)
        output = getattr(error, "output", None) or ""
        pytest.skip(f"PostgreSQL could not start: {error} {output} {detail}".strip())
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={directory}"
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(directory, ignore_errors=True)


def run_quietly(command) -> None:
    """Run command; CalledProcessError with its output when it fails."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise subprocess.CalledProcessError(done.returncode, command[-1],
                                            (done.stdout + done.stderr)[-300:])


class RedisServer:
    """A redis-server process on a loopback port, its append-only file fsynced at every write."""

    def __init__(self, binary, directory):
        self.directory, self.port = directory, free_port()
        self.command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                        str(directory), "--save", "", "--appendonly", "yes", "--appendfsync",
                        "always", "--logfile", str(directory / "server.log")]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self, seconds=20) -> None:
        """Start it and wait until it answers; RuntimeError with its log if it does not."""
        import redis
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        client, deadline = redis.Redis(port=self.port), time.monotonic() + seconds
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        log = self.directory / "server.log"
        self.stop()
        raise RuntimeError(log.read_text(errors="replace")[-300:] if log.exists() else "no log")

    def stop(self) -> None:
        """Kill it at once (SIGKILL, as a crash would)."""
        self.process.kill()
        self.process.wait(timeout=30)

    def restart(self) -> None:
        """A crash and a start on the same files."""
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def redis_server():
    """A throwaway Redis server (RedisServer) in a temporary directory.

    Skipped, saying why, when there is no redis-server (make test installs Debian's package as
    root) or it cannot start.
    """
    pytest.importorskip("rq", reason="rq is not installed (requirements.txt)")
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no Redis server (redis-server): apt-get install redis-server "
                    "(make test does it when run as root)")
    server = RedisServer(binary, Path(tempfile.mkdtemp(prefix="test-redis-")))
    try:
        server.start()
    except (OSError, RuntimeError) as error:
        shutil.rmtree(server.directory, ignore_errors=True)
        pytest.skip(f"Redis could not start: {error}")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)


# The training tests' synthetic data, tokenizer and tiny fine-tuned models (training_helpers.py).
@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    """A miniature ../shared/data with the real file layouts."""
    root = tmp_path_factory.mktemp("data")
    header = ("id", "document", "label")
    write_tsv(root / "nsmc" / "ratings_train.txt", header, review_rows(200, 1) + [(999, "", 0)])
    write_tsv(root / "nsmc" / "ratings_test.txt", header, review_rows(40, 2) + [(998, '"따옴표로 시작', 1)])
    sts_header = ("genre", "filename", "year", "id", "score", "sentence1", "sentence2")
    pairs = [("main", "f", "2012", i, f"{(i % 6) * 5 / 5:.1f}", POSITIVE[i % 5], NEGATIVE[(i * 3) % 5])
             for i in range(60)]
    write_tsv(root / "korsts" / "sts-train.tsv", sts_header, pairs)
    write_tsv(root / "korsts" / "sts-dev.tsv", sts_header, pairs[:20])
    paws = [(i, POSITIVE[i % 5], POSITIVE[(i + 1) % 5], i % 2) for i in range(10)]
    write_tsv(root / "extra" / "paws" / "dev_2k.tsv", ("id", "sentence1", "sentence2", "label"), paws)
    write_tsv(root / "extra" / "paws" / "test_2k.tsv", ("id", "sentence1", "sentence2", "label"), paws)
    questions = [(NEGATIVE[i % 5], NEGATIVE[(i + 2) % 5], i % 2) for i in range(10)]
    for name in ("train.tsv", "dev.tsv"):
        write_tsv(root / "extra" / "question-pair" / name, ("question1", "question2", "is_duplicate"), questions)
    nli = [{"premise": POSITIVE[i % 5], "hypothesis": (POSITIVE if i % 3 == 0 else NEGATIVE)[(i + 1) % 5],
            "gold_label": ("entailment", "neutral", "contradiction")[i % 3]} for i in range(30)]
    (root / "klue-nli").mkdir()
    for part, rows in (("train", nli), ("dev", nli[:12])):
        (root / "klue-nli" / f"klue-nli-v1.1_{part}.json").write_text(json.dumps(rows, ensure_ascii=False))
    klue = ["sentence1,sentence2,label"] + [f"{a},{b},{score}" for _, _, _, _, score, a, b in pairs[:40]]
    (root / "klue-sts").mkdir()
    (root / "klue-sts" / "klue-sts-v1.1_train.csv").write_text("\n".join(klue) + "\n", encoding="utf-8")
    corpus = [row[1] for row in review_rows(300, 3)]
    (root / "pretrain").mkdir()
    (root / "pretrain" / "movie_reviews.txt").write_text("\n".join(corpus) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory):
    """A tiny WordPiece tokenizer trained on the synthetic reviews, saved with a tiny random ELECTRA
    classifier: the model directory the tests' fine-tuning runs start from (--init)."""
    texts = [row[1] for row in review_rows(300, 4)] * 3
    tokenizer = train_tokenizer(texts, vocab_size=200, min_frequency=1, limit_alphabet=500)
    path = tmp_path_factory.mktemp("tokenizer")
    tokenizer.save_pretrained(path)
    with torch.random.fork_rng():  # seeded here, and other tests' random state left as it was
        torch.manual_seed(0)
        config = ElectraConfig(vocab_size=len(tokenizer), **TINY_MODEL)
        ElectraForSequenceClassification(config).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def trained(tmp_path_factory, data_root, tokenizer_dir):
    """Tiny sentiment and similarity models fine-tuned from the tiny random model."""
    root = tmp_path_factory.mktemp("runs")
    for task in ("sentiment", "similarity"):
        run_finetune(task, data_root, tokenizer_dir, root / task)
    return root
