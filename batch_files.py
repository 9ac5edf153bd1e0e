"""Uploaded tables for batch analysis: decode (UTF-8, CP949, UTF-16), parse CSV/TSV, write CSV.

Pure functions on bytes and strings: no Flask, no models. A cell's row number is its row in a
spreadsheet: the header is row 1, so the first data row of a file with a header is row 2.
Every row between the first and the last line with content is a row, blank ones too, so that
the result keeps each row of the file in its place.
"""
import codecs
import csv
import io
import math
import re
from dataclasses import dataclass, field

# Tried in order. UTF-8 first: CP949 decodes few UTF-8 files, but many CP949 files fail as UTF-8.
ENCODINGS = (("utf-8-sig", "UTF-8"), ("cp949", "CP949 (EUC-KR)"))
# Korean Excel's "유니코드 텍스트" export is UTF-16 with a byte-order mark.
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
TEXT_COLUMNS = ("document", "text", "review", "sentence", "리뷰", "문장", "내용", "텍스트")
PAIR_COLUMNS = (("sentence1", "sentence2"), ("문장1", "문장2"), ("문장 1", "문장 2"))
RESULT_COLUMNS = {"sentiment": ("label", "label_ko", "probability"),
                  "similarity": ("score", "percent", "similar")}
ERROR_COLUMN = "error"
HISTOGRAM_BINS = 5  # similarity scores 0–1, 1–2, … 4–5
SCORE_DECIMALS = 4  # of probabilities and scores in the result file: finer is noise to a reader
# Guessing a text column from its cells: the first rows are enough to tell text from ids.
GUESS_SAMPLE_ROWS = 200
TEXT_SHARE = 0.8  # of a column's non-blank cells that must read as text
MIN_GUESS_CHARS = 8  # mean length: longer than labels, names and categories ("긍정", "홍길동")
CLEARLY_LONGER = 2  # a guess among several text columns must be this many times longer
HANGUL = re.compile("[가-힣]")
LETTER = re.compile(r"[^\W\d_]")


class FileError(ValueError):
    """A file that cannot be read as a table: a code for programs, a Korean message, a status."""

    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class Table:
    """A parsed upload: column names, data rows (lists of cells, maybe ragged), row numbers."""

    columns: list
    rows: list
    numbers: list
    encoding: str = "UTF-8"
    delimiter: str = ","
    notes: list = field(default_factory=list)  # blank lines skipped, short rows…

    def to_dict(self) -> dict:
        """A JSON-ready copy (for the job files)."""
        return {"columns": self.columns, "rows": self.rows, "numbers": self.numbers,
                "encoding": self.encoding, "delimiter": self.delimiter, "notes": self.notes}


def decode(data: bytes) -> tuple:
    """(text, encoding name) of an uploaded file: UTF-16 with a BOM, UTF-8 (BOM or not), CP949."""
    if data.startswith(UTF16_BOMS):
        try:
            return data.decode("utf-16"), "UTF-16"
        except UnicodeDecodeError:
            pass
    elif b"\x00" in data:
        raise FileError("not_text", "텍스트(CSV·TSV) 파일이 아닙니다. 엑셀 파일은 CSV로 저장해 올려 주세요.")
    for codec, name in ENCODINGS:
        try:
            return data.decode(codec), name
        except UnicodeDecodeError:
            continue
    raise FileError("invalid_encoding", "파일의 문자 인코딩을 알 수 없습니다. UTF-8 또는 CP949(EUC-KR)로 "
                                        "저장된 CSV·TSV 파일을 올려 주세요.")


def sniff_delimiter(text: str) -> str:
    """A tab when the first line has one (TSV), else a comma (CSV)."""
    return "\t" if "\t" in text.split("\n", 1)[0] else ","


def read_records(text, delimiter, max_rows) -> tuple:
    """(records, row numbers) of text, blank ones kept but for those before the first record with
    content and after the last; FileError past max_rows or on bad CSV."""
    # TSV is read the way NSMC is: no quoting, so a review may start with a quote.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    records, numbers, blanks = [], [], []
    try:
        for number, record in enumerate(reader, start=1):
            if is_blank(record):  # a row once a later line with content shows it is inside
                if records:
                    blanks.append((number, record))
                continue
            for blank_number, blank in blanks:
                records.append(blank)
                numbers.append(blank_number)
            blanks = []
            records.append(record)
            numbers.append(number)
            if len(records) > max_rows + 1:  # header + max_rows data rows at most
                raise FileError("too_many_rows", f"행이 너무 많습니다. 한 번에 {max_rows:,}행까지 "
                                                 "분석할 수 있습니다. 파일을 나눠 올려 주세요.", 413)
    except csv.Error as error:
        raise FileError("bad_csv", f"{reader.line_num}번째 줄을 읽을 수 없습니다({error}). "
                                   "따옴표가 짝이 맞는지 확인해 주세요.") from error
    return records, numbers


def is_blank(row) -> bool:
    """Whether a row has no content: an empty line, or only empty or whitespace cells."""
    return not any(cell.strip() for cell in row)


def parse(data: bytes, header=True, max_rows=10_000, delimiter=None) -> Table:
    """An uploaded file as a Table; FileError when it cannot be read at all."""
    text, encoding = decode(data)
    delimiter = delimiter or sniff_delimiter(text)
    records, numbers = read_records(text, delimiter, max_rows if header else max_rows - 1)
    if header and records:
        columns, records, numbers = column_names(records[0]), records[1:], numbers[1:]
    else:
        width = max(map(len, records), default=0)
        columns = [f"열 {i}" for i in range(1, width + 1)]
    if not records:
        raise FileError("empty_file", "분석할 데이터 행이 없습니다.")
    table = Table(columns, records, numbers, encoding, delimiter)
    long_rows = [n for n, row in zip(numbers, records) if len(row) > len(columns)]
    if long_rows:
        table.notes.append(f"{len(long_rows)}개 행({row_list(long_rows)})에 머리글보다 칸이 많아, "
                           "넘치는 칸은 결과에 넣지 않았습니다.")
    blank_rows = [n for n, row in zip(numbers, records) if is_blank(row)]
    if blank_rows:
        table.notes.append(f"빈 행 {len(blank_rows)}개({row_list(blank_rows)})는 분석하지 않고, "
                           "결과 파일의 같은 자리에 이유와 함께 남깁니다.")
    return table


def column_names(header) -> list:
    """Header cells as unique, non-empty column names."""
    names = []
    for i, cell in enumerate(header, start=1):
        name = cell.strip() or f"열 {i}"
        names.append(unique_name(name, names))
    return names


def unique_name(name, taken) -> str:
    """name, or name_2, name_3… when taken already has it."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


def row_list(numbers, shown=5) -> str:
    """'2, 5, 9행 외 3개': the first few row numbers."""
    listed = ", ".join(str(n) for n in numbers[:shown]) + "행"
    return listed + (f" 외 {len(numbers) - shown}개" if len(numbers) > shown else "")


def guess_columns(columns, rows, task):
    """The column(s) a task reads, by a known name or else by content; None when unsure."""
    by_name = {name.casefold(): name for name in reversed(columns)}  # the first of twins wins
    known = [[name] for name in TEXT_COLUMNS] if task == "sentiment" else PAIR_COLUMNS
    for names in known:
        if all(name.casefold() in by_name for name in names):
            return [by_name[name.casefold()] for name in names]
    return guess_by_content(columns, rows, 1 if task == "sentiment" else 2)


def guess_by_content(columns, rows, count):
    """The count columns that clearly hold text, in file order; None when no choice is clear."""
    texts = text_columns(columns, rows)
    if len(texts) == count == len(columns):  # nothing else a person could choose
        return list(columns)
    if len(texts) < count or texts[count - 1][0] < MIN_GUESS_CHARS:
        return None
    if len(texts) > count and texts[count - 1][0] < CLEARLY_LONGER * texts[count][0]:
        return None
    return [columns[index] for index in sorted(index for _, index in texts[:count])]


def text_columns(columns, rows) -> list:
    """(mean length, index) of the columns whose cells read as text, longest first."""
    found = []
    for index in range(len(columns)):
        cells = [cell(row, index) for row in rows[:GUESS_SAMPLE_ROWS]]
        cells = [text.strip() for text in cells if text and text.strip()]
        if cells and sum(map(looks_like_text, cells)) >= TEXT_SHARE * len(cells):
            found.append((sum(map(len, cells)) / len(cells), index))
    return sorted(found, key=lambda item: -item[0])


def looks_like_text(value) -> bool:
    """Whether a cell reads as words: Hangul, or two words with letters; not "17" nor "A-001"."""
    words = sum(bool(LETTER.search(word)) for word in value.split())
    return bool(HANGUL.search(value)) or words >= 2


def cell(row, index) -> str:
    """row[index]; "" in a blank row (a row of empty cells); None when a row is too short."""
    if index < len(row):
        return row[index]
    return "" if is_blank(row) else None


def result_cells(task, result) -> list:
    """One prediction as the result columns' cells (RESULT_COLUMNS order)."""
    score = round(result["score"], SCORE_DECIMALS)
    if task == "sentiment":
        return [result["label"], result["label_ko"], score]
    return [score, result["percent"], "유사" if result["similar"] else "비유사"]


def result_header(table_columns, task) -> list:
    """The result file's columns: the table's, then the task's results and the error column."""
    header = list(table_columns)
    for name in (*RESULT_COLUMNS[task], ERROR_COLUMN):
        header.append(unique_name(name, header))
    return header


def write_csv(table_columns, rows, task, results, errors) -> bytes:
    """The result file: UTF-8 with a BOM (so Korean Excel reads it), CRLF line ends.

    results and errors are dicts by row index: cells from result_cells, or a Korean message.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(result_header(table_columns, task))
    width, blank = len(table_columns), [""] * len(RESULT_COLUMNS[task])
    for i, row in enumerate(rows):
        original = (row + [""] * width)[:width]
        writer.writerow(original + list(results.get(i, blank)) + [errors.get(i, "")])
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")


def summarize(task, results, errors) -> dict:
    """The page's summary: label counts, or a histogram of scores; and how many rows failed."""
    if task == "sentiment":
        counts = {"긍정": 0, "부정": 0}
        for cells in results.values():
            counts[cells[1]] = counts.get(cells[1], 0) + 1
        return {"counts": counts, "errors": len(errors), "scored": len(results)}
    scores = [cells[0] for cells in results.values()]
    bins = [0] * HISTOGRAM_BINS
    for score in scores:
        bins[min(HISTOGRAM_BINS - 1, math.floor(score))] += 1
    return {"histogram": [{"range": f"{i}–{i + 1}", "count": n} for i, n in enumerate(bins)],
            "mean": sum(scores) / len(scores) if scores else None,
            "similar": sum(cells[2] == "유사" for cells in results.values()),
            "errors": len(errors), "scored": len(results)}
