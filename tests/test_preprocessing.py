"""The KcELECTRA-style cleaner shared by serving and training."""
import subprocess
import sys
from pathlib import Path

import pytest
from soynlp.normalizer import repeat_normalize

import preprocessing
from preprocessing import clean, clean_if


@pytest.mark.parametrize("text, expected", [
    ("최고의 영화 😀👍🏽❤️", "최고의 영화"),                       # emoji, skin tones and variation selectors
    ("예고편 https://www.youtube.com/watch?v=abc&t=10 보세요", "예고편 보세요"),  # URL
    ("http://example.com", ""),                                   # nothing but a URL
    ("ㅋㅋㅋㅋㅋㅋ 너무 웃겨", "ㅋㅋ 너무 웃겨"),                    # repeats shortened to two
    ("ㅠㅠㅠㅠ 슬프다", "ㅠㅠ 슬프다"),
    ("漢字와 カタカナ 섞인 문장", "와 섞인 문장"),                    # Hanja and kana blanked out
    ("Marvel 영화 중 best!", "Marvel 영화 중 best!"),              # mixed English kept
    ("가격은 $10, 100% 만족~ (진짜)", "가격은 $10, 100% 만족~ (진짜)"),  # kept punctuation
    ("∼％· 기호", "∼％· 기호"),                                    # the full-width signs KcELECTRA keeps
    ("줄\n바꿈\t탭\x00널", "줄 바꿈 탭 널"),                       # control characters become spaces
    ("  띄어쓰기    많은   문장  ", "띄어쓰기 많은 문장"),            # runs of spaces collapsed, ends trimmed
    ("", ""),
    ("   \n\t ", ""),
    ("😀😀😀", ""),                                               # empty once cleaned
    ("★☆♥", ""),
])
def test_clean(text, expected):
    assert clean(text) == expected


def test_clean_is_idempotent():
    text = "진짜 ㅋㅋㅋㅋ 재밌음 😀 https://a.co/x 漢字"
    assert clean(clean(text)) == clean(text)


def test_clean_if_off_only_trims():
    assert clean_if("  그대로 😀 ㅋㅋㅋㅋ ", enabled=False) == "그대로 😀 ㅋㅋㅋㅋ"
    assert clean_if("  그대로 😀 ㅋㅋㅋㅋ ", enabled=True) == "그대로 ㅋㅋ"


def test_the_app_imports_soynlp_normalizer_without_pandas_or_scikit_learn():
    # soynlp/__init__.py would import them: about 70 MB in every serving worker.
    code = ("import sys, main, soynlp.normalizer; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'sklearn'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parent.parent)
    assert result.stdout.strip() == "[]"
    assert repeat_normalize is preprocessing.repeat_normalize
