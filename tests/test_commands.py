"""Suggested commands as the user pastes them: IPv6 brackets quoted, no sudo when root."""

from hypothesis import given, settings
from hypothesis import strategies as st

from portdoctor.commands import quote_brackets, shell_quote, tidy, without_sudo
from portdoctor.model import Finding, Remediation, Status


def test_brackets_are_quoted_for_zsh():
    assert quote_brackets("portdoctor [::1]:8000") == "portdoctor '[::1]:8000'"
    assert quote_brackets("portdoctor udp://[::1]:53") == "portdoctor 'udp://[::1]:53'"
    assert quote_brackets("curl http://[fe80::1%eth0]:80/") == "curl 'http://[fe80::1%eth0]:80/'"


def test_quoted_and_bracket_free_commands_stay_as_they_are():
    for command in ("ss -ltn 'sport = :8000'", "portdoctor 127.0.0.1:80", "echo '[::1]:1'", "nft list set [a]"):
        assert quote_brackets(command) == command


def test_sudo_is_dropped_only_when_it_runs_the_command_as_root():
    assert without_sudo("sudo ss -ltnp") == "ss -ltnp"
    assert without_sudo("sudo -u postgres psql") == "sudo -u postgres psql"
    assert without_sudo("ss -ltnp") == "ss -ltnp"


def test_tidy_rewrites_every_finding():
    f = Finding("x", Status.FAIL, "t", "not-listening", remediation=[
        Remediation("a", "sudo portdoctor [::1]:8000"), Remediation("b", None)])
    tidy([f], as_root=True)
    assert f.remediation[0].command == "portdoctor '[::1]:8000'"
    tidy([f], as_root=False)
    assert f.remediation[0].command == "portdoctor '[::1]:8000'"


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
       | st.text(alphabet="ab'\" $;*[]:/.-_@%+=,é", max_size=20))
def test_shell_quote_is_shlex_quote(word):
    import shlex

    assert shell_quote(word) == shlex.quote(word)
