"""Hostile and broken CSV input: encodings, formula injection, size limits, broken rows, fuzzing."""

from __future__ import annotations

import codecs
import gzip

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_aggregator.records.csvcells import Field, Kind, RowError, parse_row, parse_value
from cloud_aggregator.records.csvsafe import BadRow, CsvFileError, ParsedRow, open_csv

FIELDS = (Field("id", Kind.ID, True), Field("name", Kind.TEXT, True), Field("score", Kind.FLOAT),
          Field("day", Kind.DATE), Field("ok", Kind.BOOL))
HEADER = "id,name,score,day,ok\n"


def rows(path, **kw):
    src = open_csv(path, FIELDS, **kw)
    return src, list(src)


def test_utf8_bom_read_and_header_mapped(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes(codecs.BOM_UTF8 + (HEADER + "s1,王小明,88,2025-09-01,true\n").encode())
    src, got = rows(p)
    assert src.encoding == "utf-8-sig" and not src.notes
    assert isinstance(got[0], ParsedRow) and got[0].values["name"] == "王小明" and got[0].values["score"] == 88.0


@pytest.mark.security
def test_gbk_falls_back_with_clear_message(tmp_path):
    p = tmp_path / "gbk.csv"
    p.write_bytes((HEADER + "s1,张伟,70,,\ns2,李娜,71,,\n").encode("gbk"))
    src, got = rows(p)
    assert src.encoding == "gb18030"
    assert any("not valid UTF-8" in n and "GBK" in n for n in src.notes)
    assert [r.values["name"] for r in got] == ["张伟", "李娜"]


@pytest.mark.security
def test_undecodable_file_is_a_clear_error(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_bytes(HEADER.encode() + b"s1,\x81\x20\xff\xfe\x80,1,,\n")
    with pytest.raises(CsvFileError, match="not valid UTF-8 .* nor GBK"):
        open_csv(p, FIELDS)


def test_utf16_excel_unicode_text(tmp_path):
    p = tmp_path / "u16.csv"
    p.write_bytes((HEADER + "s1,Amy,1,,\n").encode("utf-16"))
    src, got = rows(p)
    assert src.encoding == "utf-16" and got[0].values["name"] == "Amy"


@pytest.mark.security
def test_formula_injection_rejected_in_ids_neutralised_in_text(tmp_path):
    p = tmp_path / "f.csv"
    p.write_text(HEADER + '=cmd|"/C calc"!A0,Bob,1,,\ns2,"=HYPERLINK(""http://x"")",2,,\n'
                 "s3,@SUM(A1),-3.5,,\ns4,Ann,=1+1,,\n", encoding="utf-8")
    _src, got = rows(p)
    assert isinstance(got[0], BadRow) and "formula injection" in got[0].reason
    assert isinstance(got[1], ParsedRow) and got[1].values["name"].startswith("'=")
    assert any("neutralised" in w for w in got[1].warnings)
    assert got[2].values["name"] == "'@SUM(A1)" and got[2].values["score"] == -3.5  # numbers may be negative
    assert isinstance(got[3], BadRow) and "score" in got[3].reason


@pytest.mark.security
def test_file_size_limit(tmp_path):
    p = tmp_path / "big.csv"
    p.write_text(HEADER + "s1,x,1,,\n" * 2000, encoding="utf-8")
    with pytest.raises(CsvFileError, match="larger than the limit"):
        open_csv(p, FIELDS, max_bytes=1024)


@pytest.mark.security
def test_gzip_bomb_limited_by_decompressed_size(tmp_path):
    p = tmp_path / "big.csv.gz"
    with gzip.open(p, "wt", encoding="utf-8") as fh:
        fh.write(HEADER + "s1,x,1,,\n" * 50_000)
    assert p.stat().st_size < 10_000
    with pytest.raises(CsvFileError, match="larger than the limit"):
        open_csv(p, FIELDS, max_bytes=64 * 1024)


@pytest.mark.security
def test_row_limit_reports_the_rest_not_read(tmp_path):
    p = tmp_path / "rows.csv"
    p.write_text(HEADER + "".join(f"s{i},x,1,,\n" for i in range(10)), encoding="utf-8")
    _src, got = rows(p, max_rows=5)
    assert len([r for r in got if isinstance(r, ParsedRow)]) == 5
    assert isinstance(got[-1], BadRow) and "more than 5 rows" in got[-1].reason


@pytest.mark.security
def test_huge_cell_is_a_row_error(tmp_path):
    p = tmp_path / "cell.csv"
    p.write_text(HEADER + "s1," + "x" * 200_000 + ",1,,\ns2,y,2,,\n", encoding="utf-8")
    _src, got = rows(p)
    assert isinstance(got[0], BadRow) and ("larger than" in got[0].reason or "longer than" in got[0].reason)


def test_broken_rows_get_line_numbers_and_reasons(tmp_path):
    p = tmp_path / "broken.csv"
    p.write_text(HEADER + "s1,ok,1,,\n"            # line 2 fine
                 "s2,too,many,fields,here,x\n"     # line 3
                 "s3,,1,,\n"                       # line 4: name required
                 "s4,x,1,2025-13-40,\n"            # line 5: bad date
                 "\n"                              # line 6: blank, skipped
                 's5,"multi\nline",2,,yes\n'       # lines 7-8
                 "s6,x,1,,maybe\n",                # line 9: bad bool
                 encoding="utf-8")
    _src, got = rows(p)
    by_line = {r.line: r for r in got}
    assert isinstance(by_line[2], ParsedRow)
    assert "expected 5 fields, found 6" in by_line[3].reason
    assert "name: required value is empty" in by_line[4].reason
    assert "day: not a date" in by_line[5].reason
    assert by_line[7].values["name"] == "multi\nline"
    assert "ok: not true/false" in by_line[9].reason


def test_unterminated_quote_and_nul(tmp_path):
    p = tmp_path / "q.csv"
    p.write_bytes(HEADER.encode() + b"s1,a\x00b,1,,\ns2,\"open,1,,\n")
    _src, got = rows(p)
    assert all(isinstance(r, BadRow) for r in got) and len(got) >= 2


def test_header_problems(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("identifier,name\n", encoding="utf-8")
    with pytest.raises(CsvFileError, match="missing required column"):
        open_csv(p, FIELDS)
    p.write_text("id,name,Name\n", encoding="utf-8")
    with pytest.raises(CsvFileError, match="appears twice"):
        open_csv(p, FIELDS)
    p.write_bytes(b"")
    with pytest.raises(CsvFileError, match="empty"):
        open_csv(p, FIELDS)


ALL_KINDS = [Field("f", k, required=r, choices={"a": "A"} if k is Kind.ENUM else None, min_value=0, max_value=100)
             for k in Kind for r in (True, False)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(ALL_KINDS), st.text(max_size=80))
def test_fuzz_parse_value_only_raises_row_error(spec, text):
    try:
        value, _warning = parse_value(spec, text)
    except RowError:
        return
    if spec.kind in (Kind.ID, Kind.LIST) and value is not None:
        assert not value.startswith(("=", "+", "-", "@"))
    if spec.kind in (Kind.TEXT,) and value is not None:
        assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "name", "score", "day", "ok", "zzz"]), st.text(max_size=30)))
def test_fuzz_parse_row(raw):
    try:
        values, _ = parse_row(FIELDS, raw)
    except RowError as e:
        assert str(e)
        return
    assert set(values) == {f.name for f in FIELDS}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400))
def test_fuzz_open_csv_on_random_bytes(tmp_path, blob):
    p = tmp_path / "fuzz.csv"
    p.write_bytes(HEADER.encode() + blob)
    try:
        src = open_csv(p, FIELDS)
    except CsvFileError:
        return
    for r in src:
        assert isinstance(r, (ParsedRow, BadRow))
        if isinstance(r, BadRow):
            assert r.reason and r.line >= 2
