"""Reading uploaded tables: encodings, delimiters, headers, bad files; writing result CSVs."""
import codecs
import csv
import io

import pytest

from batch_files import FileError, guess_columns, parse, result_cells, summarize, write_csv

REVIEWS = "document,label\n이 영화 정말 재밌다!,1\n\"쉼표, 따옴표 \"\"포함\"\"\",0\n"


@pytest.mark.parametrize("encoding, data, name", [
    ("utf-8", REVIEWS.encode("utf-8"), "UTF-8"),
    ("utf-8 with BOM", codecs.BOM_UTF8 + REVIEWS.encode("utf-8"), "UTF-8"),
    ("cp949", REVIEWS.encode("cp949"), "CP949 (EUC-KR)"),
    ("euc-kr", REVIEWS.encode("euc-kr"), "CP949 (EUC-KR)"),
    ("utf-16 (Excel unicode text)", REVIEWS.encode("utf-16"), "UTF-16"),
])
def test_korean_encodings_read_alike(encoding, data, name):
    table = parse(data)
    assert table.encoding == name
    assert table.columns == ["document", "label"]
    assert table.rows == [["이 영화 정말 재밌다!", "1"], ['쉼표, 따옴표 "포함"', "0"]]
    assert table.numbers == [2, 3]  # spreadsheet rows: the header is row 1


def test_tsv_is_read_without_quoting_like_nsmc():
    data = 'id\tdocument\tlabel\n1\t"따옴표로 시작하는 리뷰\t1\n2\t평범한 리뷰\t0\n'.encode()
    table = parse(data)
    assert table.delimiter == "\t" and table.columns == ["id", "document", "label"]
    assert table.rows[0] == ["1", '"따옴표로 시작하는 리뷰', "1"]


def test_blank_lines_inside_the_table_are_rows_and_keep_their_numbers():
    # Issue 30: blank rows used to vanish from one-column files. Only the empty lines before the
    # first line with content and after the last are no rows.
    table = parse("\ntext\n첫째\n\n\"\"\n   \n다섯째\n\n\n".encode())
    assert table.rows == [["첫째"], [], [""], ["   "], ["다섯째"]]
    assert table.numbers == [3, 4, 5, 6, 7]
    assert "빈 행 3개(4, 5, 6행)" in table.notes[0]


def test_a_file_of_blank_rows_has_no_data():
    with pytest.raises(FileError) as caught:
        parse('text\n""\n   \n\n'.encode())
    assert caught.value.code == "empty_file"


def test_without_header_every_row_is_data():
    table = parse("첫째\t가\n둘째\t나\n".encode(), header=False)
    assert table.columns == ["열 1", "열 2"] and len(table.rows) == 2 and table.numbers == [1, 2]


def test_header_names_are_made_unique_and_nonempty():
    assert parse(b"a,,a\n1,2,3\n").columns == ["a", "열 2", "a_2"]


def test_rows_longer_than_the_header_are_noted():
    table = parse("text\n하나,둘\n셋\n".encode())
    assert table.rows[0] == ["하나", "둘"]
    assert "2행" in table.notes[0]


@pytest.mark.parametrize("data, code, status", [
    (b"", "empty_file", 400),
    ("text\n".encode(), "empty_file", 400),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not_text", 400),
    (b"text\n\xff\xfe\xfa\xfb\x81\x20\n", "invalid_encoding", 400),
    ('text\n"닫히지 않은 따옴표\n'.encode() + b"a\x00b\n", "not_text", 400),
])
def test_unreadable_files_say_why(data, code, status):
    with pytest.raises(FileError) as caught:
        parse(data)
    assert caught.value.code == code and caught.value.status == status
    assert any("가" <= char <= "힣" for char in caught.value.message)


def test_too_many_rows_is_refused_with_the_limit():
    data = ("text\n" + "리뷰\n" * 11).encode()
    assert len(parse(data, max_rows=11).rows) == 11
    with pytest.raises(FileError) as caught:
        parse(data, max_rows=10)
    assert caught.value.code == "too_many_rows" and caught.value.status == 413
    assert "10행" in caught.value.message
    assert len(parse(("리뷰\n" * 10).encode(), header=False, max_rows=10).rows) == 10
    with pytest.raises(FileError):
        parse(("리뷰\n" * 11).encode(), header=False, max_rows=10)


def test_a_cell_over_the_csv_field_limit_names_its_line():
    data = ("text\n짧다\n" + "\"" + "가" * (csv.field_size_limit() + 1) + "\"\n").encode()
    with pytest.raises(FileError) as caught:
        parse(data)
    assert caught.value.code == "bad_csv" and "3번째 줄" in caught.value.message


REVIEW_CELLS = ["이 영화 정말 재밌다!", "시간 낭비했다 다신 안 봄", "배우 연기는 좋은데 스토리가 너무 뻔하다"]
OTHER_CELLS = ["오늘 날씨가 정말 좋네요", "내일 오후 3시에 회의가 열립니다", "주식 시장이 크게 하락했다"]


@pytest.mark.parametrize("columns, cells, task, expected", [
    # A known name wins whatever the cells hold; any letter case.
    (["id", "document", "label"], [["1", "2", "1"]], "sentiment", ["document"]),
    (["리뷰", "별점"], [["4", "5"]], "sentiment", ["리뷰"]),
    (["ID", "Text"], [["1", "2"]], "sentiment", ["Text"]),
    (["genre", "score", "sentence1", "sentence2"], [], "similarity", ["sentence1", "sentence2"]),
    # Else the column(s) that clearly hold text, never ids, numbers or short labels.
    (["id", "memo"], [["1", "2", "3"], REVIEW_CELLS], "sentiment", ["memo"]),
    (["memo", "id"], [REVIEW_CELLS, ["A-001", "A-002", "A-003"]], "sentiment", ["memo"]),
    (["아무거나", "b"], [REVIEW_CELLS, ["긍정", "부정", "부정"]], "sentiment", ["아무거나"]),
    (["열 1"], [["좋다", "싫다", "별로"]], "sentiment", ["열 1"]),  # nothing else to choose
    (["a", "b", "c"], [["1", "2", "3"], REVIEW_CELLS, OTHER_CELLS], "similarity", ["b", "c"]),
    (["열 1", "열 2"], [["좋다", "싫다"], ["좋아", "싫어"]], "similarity", ["열 1", "열 2"]),
    # Unsure: a person must choose.
    (["id", "memo"], [["1", "2", "3"], ["좋다", "별로", "최고"]], "sentiment", None),
    (["id", "score"], [["1", "2", "3"], ["4", "5", "1"]], "sentiment", None),
    (["id"], [["1", "2", "3"]], "sentiment", None),
    (["a", "b"], [OTHER_CELLS, REVIEW_CELLS], "sentiment", None),  # two texts alike in length
    (["a", "b", "c"], [["1", "2", "3"], ["4", "5", "6"], REVIEW_CELLS], "similarity", None),
    (["a", "b", "c"], [REVIEW_CELLS, OTHER_CELLS, REVIEW_CELLS], "similarity", None),
    (["a"], [REVIEW_CELLS], "similarity", None),  # never one column twice
])
def test_guess_columns(columns, cells, task, expected):
    rows = [list(row) for row in zip(*cells)] if cells else []
    assert guess_columns(columns, rows, task) == expected


def test_result_cells_round_scores_for_the_file():
    sentiment = {"label": "positive", "label_ko": "긍정", "score": 0.5022110342979431}
    assert result_cells("sentiment", sentiment) == ["positive", "긍정", 0.5022]
    similarity = {"score": 4.123456789, "percent": 82, "similar": True}
    assert result_cells("similarity", similarity) == [4.1235, 82, "유사"]


def test_result_csv_has_bom_original_columns_results_and_errors():
    data = write_csv(["label", "document"], [["1", "좋다"], ["0"], ["", ""]], "sentiment",
                     {0: ["positive", "긍정", 0.75], 1: ["negative", "부정", 0.5]},
                     {2: "4행 'document' 열: 내용이 비어 있습니다."})
    assert data.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["label", "document", "label_2", "label_ko", "probability", "error"]
    assert rows[1] == ["1", "좋다", "positive", "긍정", "0.75", ""]
    assert rows[2] == ["0", "", "negative", "부정", "0.5", ""]  # a short row is padded
    assert rows[3] == ["", "", "", "", "", "4행 'document' 열: 내용이 비어 있습니다."]


def test_summaries():
    sentiment = summarize("sentiment", {0: ["positive", "긍정", 0.9], 1: ["negative", "부정", 0.8],
                                        2: ["positive", "긍정", 0.6]}, {3: "x"})
    assert sentiment == {"counts": {"긍정": 2, "부정": 1}, "errors": 1, "scored": 3}
    similarity = summarize("similarity", {0: [0.2, 4, "비유사"], 1: [4.5, 90, "유사"],
                                          2: [5.0, 100, "유사"], 3: [3.0, 60, "유사"]}, {})
    assert [bin["count"] for bin in similarity["histogram"]] == [1, 0, 0, 1, 2]
    assert similarity["similar"] == 3 and similarity["mean"] == pytest.approx(12.7 / 4)
