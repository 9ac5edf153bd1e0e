"""Uploaded tables for batch analysis: decode (UTF-8, CP949, UTF-16), parse CSV/TSV, write CSV.

Pure functions on bytes and strings: no Flask, no models. A cell's row number is its row in a
spreadsheet: the header is row 1, so the first data row of a file with a header is row 2.
"""
import codecs
import csv
import io
import math
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
    """(records, row numbers) of text, blank lines skipped; FileError past max_rows or on bad CSV."""
    # TSV is read the way NSMC is: no quoting, so a review may start with a quote.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    records, numbers = [], []
    try:
        for number, record in enumerate(reader, start=1):
            if not any(cell.strip() for cell in record):
                continue
            if len(records) > max_rows:  # header + max_rows data rows at most
                raise FileError("too_many_rows", f"행이 너무 많습니다. 한 번에 {max_rows:,}행까지 "
                                                 "분석할 수 있습니다. 파일을 나눠 올려 주세요.", 413)
            records.append(record)
            numbers.append(number)
    except csv.Error as error:
        raise FileError("bad_csv", f"{reader.line_num}번째 줄을 읽을 수 없습니다({error}). "
                                   "따옴표가 짝이 맞는지 확인해 주세요.") from error
    return records, numbers


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


def guess_columns(columns, task) -> list:
    """The column(s) a task most likely reads: a known name, else the first one(s)."""
    if task == "sentiment":
        known = [name for name in TEXT_COLUMNS if name in columns]
        return [known[0] if known else columns[0]]
    for pair in PAIR_COLUMNS:
        if all(name in columns for name in pair):
            return list(pair)
    return list(columns[:2]) if len(columns) >= 2 else [columns[0], columns[0]]


def cell(row, index) -> str:
    """row[index], or None when the row is too short to have that column."""
    return row[index] if index < len(row) else None


def result_cells(task, result) -> list:
    """One prediction as the result columns' cells (RESULT_COLUMNS order)."""
    if task == "sentiment":
        return [result["label"], result["label_ko"], result["score"]]
    return [result["score"], result["percent"], "유사" if result["similar"] else "비유사"]


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
