"""Parsers of outside input in the web layer, under hypothesis: X-Forwarded-For, download names, passwords."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_aggregator.config.web import parse_networks
from cloud_aggregator.web.client_address import client_address
from cloud_aggregator.web.download import attachment
from cloud_aggregator.web.passwords import common_passwords, password_problem

pytestmark = pytest.mark.security
TRUSTED = parse_networks(["10.0.0.0/8", "fd00::/8"])
ips = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str))
hops = st.lists(st.one_of(ips, st.text(max_size=12)), max_size=6).map(", ".join)


@settings(max_examples=300, deadline=None)
@given(peer=st.one_of(ips, st.none(), st.text(max_size=10)), headers=st.lists(hops, max_size=3))
def test_forwarded_for_never_trusted_from_outside_peers(peer, headers):
    got = client_address(peer, headers, TRUSTED)
    trusted_peer = peer is not None and _in(peer)
    if not trusted_peer:
        assert got == (peer or "?"), "an untrusted peer is the client, whatever the header says"
    else:
        claims = [h.strip() for x in headers for h in x.split(",")]
        assert got == peer or got in claims
        if got != peer:
            ipaddress.ip_address(got)  # only a well-formed address is ever taken from the header


def _in(addr: str) -> bool:
    try:
        return any(ipaddress.ip_address(addr) in n for n in TRUSTED)
    except ValueError:
        return False


def test_forwarded_for_takes_the_first_hop_that_is_not_ours():
    assert client_address("10.0.0.2", ["192.0.2.1, 198.51.100.7, 10.0.0.3"], TRUSTED) == "198.51.100.7"
    assert client_address("10.0.0.2", ["garbage, 198.51.100.7"], TRUSTED) == "198.51.100.7"
    assert client_address("10.0.0.2", ["198.51.100.7, garbage"], TRUSTED) == "10.0.0.2"
    assert client_address("10.0.0.2", [], TRUSTED) == "10.0.0.2"
    assert client_address("192.0.2.9", ["10.0.0.1"], TRUSTED) == "192.0.2.9"
    with pytest.raises(ValueError, match="not an IP"):
        parse_networks(["10.0.0.0/8", "proxy.local"])


@settings(max_examples=300, deadline=None)
@given(stem=st.text(max_size=300), ext=st.sampled_from(["csv", "pdf"]))
def test_download_header_is_one_safe_name(stem, ext):
    cd = attachment(stem, ext)
    assert cd.isascii() and "\r" not in cd and "\n" not in cd
    m = re.fullmatch(r'attachment; filename="([A-Za-z0-9_-]+)\.(csv|pdf)"; filename\*=UTF-8\'\'([A-Za-z0-9%_.-]+)', cd)
    assert m and m.group(2) == ext, cd
    name = unquote(m.group(3))
    assert name.endswith("." + ext) and name.count(".") == 1
    assert not set(name) & set("\"';/\\ \t\x00") and name.isprintable()


@settings(max_examples=200, deadline=None)
@given(pw=st.text(max_size=300), user=st.text(max_size=64))
def test_password_rule_always_answers(pw, user):
    problem = password_problem(pw, user)
    assert problem is None or isinstance(problem, str)
    if problem is None:
        assert 8 <= len(pw) <= 256 and len(set(pw)) > 1 and pw.lower() not in common_passwords()


def test_common_list_is_the_derived_one():
    words = common_passwords()
    assert 8000 < len(words) < 9000 and all(len(w) >= 8 and w == w.lower() for w in words)
    assert {"password", "12345678", "iloveyou", "qwertyuiop"} <= words
