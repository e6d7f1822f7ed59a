"""The bundled multimodal dataset ml-100k-mm, built from the ml-100k that ships with RecBole."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from recbole_denoise.data import build_ml100k_mm
from recbole_denoise.data.convert.writer import ConversionError

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "ml100k_mm"
COMMITTED = REPO / "dataset" / "ml-100k-mm"


def modality(out: Path, name: str, file_suffix: str):
    tokens = (out / f"{out.name}.{name}.tokens").read_text().splitlines()
    return tokens, np.load(out / f"{out.name}.{file_suffix}", allow_pickle=False)


def words_of(out: Path, token: str):
    tokens, pairs = modality(out, "title", "title_words.npy")
    return sorted(pairs[pairs[:, 0] == tokens.index(token), 1].tolist())


def test_fixture_build_rows(tmp_path):
    out = tmp_path / "ml-100k-mm"
    summary = build_ml100k_mm.build(out, source=FIXTURE, quiet=True)
    assert summary.rows_read == 7 and summary.rows_kept == 7 and summary.dropped == {}

    tokens, genre = modality(out, "genre", "genre.npy")
    assert tokens == ["10", "20", "30", "40", "50", "60"]  # 60 has no interaction: still written
    # columns: Action, Comedy, Drama, Horror, Sci-Fi, War, unknown
    assert genre.dtype == np.float32 and genre.shape == (6, 7)
    assert genre[tokens.index("30")].tolist() == [1, 1, 0, 0, 1, 0, 0]
    assert genre[tokens.index("40")].tolist() == [0, 0, 0, 0, 0, 0, 1]

    tokens, year = modality(out, "year", "year.npy")
    assert year.shape == (6, 7 + 1)  # decades 1930s..1990s + scaled year (1931 -> 0, 1998 -> 1)
    np.testing.assert_allclose(year[tokens.index("20")], [0, 0, 0, 1, 0, 0, 0, 37 / 67], rtol=1e-6)
    # year field "V": the title's "(1989)"; missing year: no decade, the median known year (1975)
    np.testing.assert_allclose(year[tokens.index("30")], [0, 0, 0, 0, 0, 1, 0, 58 / 67], rtol=1e-6)
    np.testing.assert_allclose(year[tokens.index("40")], [0] * 7 + [44 / 67], rtol=1e-6)

    config = yaml.safe_load((out / "ml-100k-mm.yaml").read_text())
    assert config["item_modalities"]["title"]["n_words"] == 11
    # sorted vocabulary: alpha and beta delta gamma's omega return teil the zweiter épsilon
    assert words_of(out, "10") == [0, 1, 5, 8]
    assert words_of(out, "30") == [4, 6]  # no "1989": the year suffix is not a title word
    assert words_of(out, "50") == [3, 3, 10]  # one pair per occurrence
    assert words_of(out, "40") == []  # the placeholder title has no words


def test_real_build_matches_the_committed_dataset_and_loads(tmp_path):
    out = tmp_path / "ml-100k-mm"
    summary = build_ml100k_mm.build(out, quiet=True)
    assert (summary.stats["users"], summary.stats["items"], summary.rows_kept) == (943, 1682, 100000)

    ml100k = build_ml100k_mm.recbole_ml100k_dir()
    assert (out / "ml-100k-mm.inter").read_bytes() == (ml100k / "ml-100k.inter").read_bytes()
    tokens, genre = modality(out, "genre", "genre.npy")
    assert genre.shape == (1682, 19) and len(tokens) == 1682
    assert genre[tokens.index("1")].sum() == 3  # Toy Story: Animation, Children's, Comedy
    tokens, year = modality(out, "year", "year.npy")
    assert year.shape == (1682, 9)  # 1920s..1990s + scaled year
    assert year[tokens.index("1412"), 7] == 1  # year field "V", title "(1995)"
    assert year[tokens.index("675"), 0] == 1 and year[tokens.index("675"), 8] == 0  # 1922, the earliest

    # the committed folder is exactly what the builder writes
    assert COMMITTED.is_dir(), "run: python -m recbole_denoise.data.build_ml100k_mm --out dataset/ml-100k-mm"
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in COMMITTED.iterdir())
    for name in names:
        if name != "conversion.json":
            assert (out / name).read_bytes() == (COMMITTED / name).read_bytes(), name
    fresh, committed = (json.loads((d / "conversion.json").read_text()) for d in (out, COMMITTED))
    assert {k: v for k, v in fresh.items() if k != "out"} == {k: v for k, v in committed.items() if k != "out"}
    assert sum(p.stat().st_size for p in COMMITTED.iterdir()) < 4_000_000


def test_committed_dataset_loads_with_the_package_config():
    from recbole_denoise.config import Config
    from recbole_denoise.utils import create_dataset

    config = Config(model="BPR", dataset="ml-100k-mm",
                    config_dict={"state": "ERROR", "data_path": str(COMMITTED.parent), "show_progress": False})
    assert config["topk"] == [10, 20] and config["valid_metric"] == "Recall@10"
    assert sorted(config["item_modalities"]) == ["genre", "title", "year"]
    dataset = create_dataset(config)
    assert (dataset.user_num, dataset.item_num, dataset.inter_num) == (943 + 1, 1682 + 1, 100000)


@pytest.mark.parametrize(
    "file_name, line, text, field, found",
    [
        ("ml-100k.item", 3, "20\tBeta (Zweiter Teil)\t1968", "columns", "expected 4 tab-separated columns"),
        ("ml-100k.inter", 4, "2\t10\t7\t880000200", "rating", "expected a number from 1 to 5, found '7'"),
        ("ml-100k.inter", 6, "3\t\t1\t880000400", "item_id", "missing id"),
    ],
)
def test_malformed_line_names_file_line_and_field(tmp_path, file_name, line, text, field, found):
    source = tmp_path / "source"
    shutil.copytree(FIXTURE, source)
    lines = (source / file_name).read_text().splitlines()
    lines[line - 1] = text
    (source / file_name).write_text("\n".join(lines) + "\n")
    with pytest.raises(ConversionError) as caught:
        build_ml100k_mm.build(tmp_path / "out" / "ml-100k-mm", source=source, quiet=True)
    message = str(caught.value)
    assert file_name in message and f"line {line}" in message and f"field '{field}'" in message
    assert found in message
    assert not (tmp_path / "out").exists()


def test_cli_refuses_to_overwrite_without_the_flag(tmp_path):
    def cli(*extra):
        return subprocess.run(
            [sys.executable, "-m", "recbole_denoise.data.build_ml100k_mm", "--out", str(tmp_path / "ml-100k-mm"),
             "--ml100k", str(FIXTURE), *extra],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        )

    first = cli()
    assert first.returncode == 0, first.stderr
    assert "title features: 13 (item, word) pairs over 5 of 6 items, 11 words" in first.stdout
    again = cli("--quiet")
    assert again.returncode == 1 and "--overwrite" in again.stderr
    assert cli("--overwrite", "--quiet").returncode == 0
