"""Masking secrets in command lines and URL targets before they reach a report.

- :func:`mask_argv` masks a process's argv element by element;
  :func:`mask_command_line` does the same for a command line as one string (split at
  whitespace, which is kept). Masked: values of password-, token-, secret- and key-like
  options (``--password=x``, ``--password x``, ``--pw x``, ``DB_PASSWORD=x``), the
  credentials of URLs (passwords holding ``/``, ``#``, ``?`` or ``@`` included), secret
  URL query parameters, ``Authorization:``/``X-Api-Token:``-style headers, JSON
  ``"password": "…"`` values, ``mysql -pSECRET`` and ``sshpass -p SECRET``.
- :func:`mask_url` masks one TARGET as typed (a lone ``user@`` is kept);
  :func:`mask_urls_in` masks every URL inside an error message.

Bounded work: no backtracking pattern runs over unbounded text; each token is examined
with ``find``/``partition`` and patterns whose repetitions are bounded, so a 200 KB
command line costs milliseconds. Reports and CI logs are pasted into tickets and chat,
so neither a process's command line nor a target may carry a secret out of the machine.
"""

from __future__ import annotations

import re

from portdoctor.lazyre import lazy

MASK = "***"

# A word that makes an option, variable, header or JSON key sensitive (searched in a
# name of at most NAME_LIMIT characters).
_SENSITIVE = lazy(
    r"pass(?:word|wd|phrase)?|pwd|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|"
    r"auth|credentials?|key|cookie|^pw$", re.IGNORECASE)
NAME_LIMIT = 128
# Programs whose short -p option carries a password (attached, -pSECRET, or the next word).
_ATTACHED_P = {"mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlcheck", "mariadb", "mariadb-dump",
               "mariadb-admin"}
_NEXT_P = {"sshpass"}
_AUTH_SCHEMES = {"bearer", "basic", "token", "digest", "negotiate", "apikey"}
_JSON_KEY = lazy(r'"([-\w.]{1,64})"\s{0,8}:\s{0,8}"')
_PARAMETER_SPLIT = lazy(r"([?&;#])")
_WHITESPACE_SPLIT = lazy(r"(\s+)")
_ANY_WHITESPACE = lazy(r"\s")


def sensitive_name(name: str) -> bool:
    """Does an option / variable / header / key name name a secret? (``--db-password``, ``TOKEN``)."""
    name = name.lstrip("-")[:NAME_LIMIT]
    return bool(name) and _SENSITIVE.search(name) is not None


def mask_argv(argv: list[str]) -> list[str]:
    """A process's argv with every recognisable secret replaced by ``***``."""
    program = argv[0].rsplit("/", 1)[-1].lower() if argv else ""
    out: list[str] = []
    mask_next = False
    for i, arg in enumerate(argv):
        if mask_next and arg and not (arg.startswith("-") and len(arg) > 1):
            out.append(MASK)
            mask_next = False
            continue
        mask_next = False
        if i and _ANY_WHITESPACE.search(arg):
            # A command line in one element (``sh -c "mysql --password=x"``, a JSON list of
            # arguments): masked word by word.
            out.append(mask_command_line(arg))
            continue
        masked, mask_next = _mask_word(arg, program if i else "", first=i == 0)
        out.append(masked)
    return out


def mask_command_line(text: str) -> str:
    """``text`` (a command line as one string) with every recognisable secret replaced by ``***``."""
    if not text:
        return text
    text = _mask_json_values(text)
    parts = _WHITESPACE_SPLIT.split(text)
    words = parts[0::2]
    program = words[0].rsplit("/", 1)[-1].lower() if words else ""
    mask_next = False
    header_scheme_pending = False
    for n, word in enumerate(words):
        if not word:
            continue
        if header_scheme_pending:  # "Authorization:" "Bearer" "xyz": keep the scheme, mask the value
            header_scheme_pending = False
            if word.strip("'\"").lower() in _AUTH_SCHEMES:
                mask_next = True
                continue
            words[n] = _keep_quotes(word)
            continue
        if mask_next and not (word.startswith("-") and len(word) > 1):
            words[n] = _keep_quotes(word)
            mask_next = False
            continue
        mask_next = False
        bare = word.lstrip("'\"")
        if bare.endswith(":") and ":" not in bare[:-1] and sensitive_name(bare[:-1]):
            header_scheme_pending = True  # a header split at whitespace
            continue
        words[n], mask_next = _mask_word(word, program if n else "", first=n == 0)
    parts[0::2] = words
    return "".join(parts)


def _keep_quotes(word: str) -> str:
    """``***`` with the word's closing quotes/brackets kept (``'abc'`` -> ``***'``)."""
    tail = len(word) - len(word.rstrip("'\"}),;"))
    return MASK + (word[-tail:] if tail else "")


def _mask_word(word: str, program: str, *, first: bool = False) -> tuple[str, bool]:
    """One argv element masked; and whether the NEXT element is a secret (``--password x``)."""
    if not word:
        return word, False
    if program in _NEXT_P and word == "-p":
        return word, True
    if program in _ATTACHED_P and word.startswith("-p") and not word.startswith("--"):
        return ("-p" + MASK if len(word) > 2 else word), False  # a bare -p prompts
    if '"' in word and ":" in word:
        word = _mask_json_values(word)
    if "@" in word:
        word = _mask_url_credentials(word, keep_lone_user=False)
    if any(c in word for c in "?&;#"):
        word = _mask_parameters(word)
    name, eq, value = word.partition("=")
    if eq and value and not first and "/" not in name and sensitive_name(name.lstrip("'\"")):
        return f"{name}={_keep_quotes(value) if value != MASK else MASK}", False
    header, colon, rest = word.partition(":")
    if colon and rest.startswith(" ") and " " not in header and sensitive_name(header.lstrip("'\"")):
        words = rest.split()
        if words and words[0].lower() in _AUTH_SCHEMES and len(words) > 1:
            return f"{header}: {words[0]} {_keep_quotes(words[-1])}", False
        return f"{header}: {_keep_quotes(rest.strip())}", False
    if word.startswith("-") and not eq and sensitive_name(word):
        return word, True
    return word, False


def _mask_parameters(text: str) -> str:
    """``?password=x&a=1#access_token=y`` -> ``?password=***&a=1#access_token=***``."""
    parts = _PARAMETER_SPLIT.split(text)
    for i in range(2, len(parts), 2):  # a parameter follows each separator
        name, eq, value = parts[i].partition("=")
        if eq and value and value != MASK and sensitive_name(name):
            parts[i] = f"{name}={_keep_quotes(value)}"
    return "".join(parts)


def _mask_json_values(text: str) -> str:
    """``"password": "x"`` -> ``"password": "***"`` (keys of at most 64 characters)."""
    out: list[str] = []
    pos = 0
    for m in _JSON_KEY.finditer(text):
        if m.start() < pos or not sensitive_name(m.group(1)):
            continue
        end = _closing_quote(text, m.end())
        if end < 0:
            continue
        out.append(text[pos:m.end()])
        out.append(MASK)
        pos = end
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _closing_quote(text: str, start: int) -> int:
    i = start
    while True:
        i = text.find('"', i)
        if i < 0:
            return -1
        backslashes = 0
        j = i - 1
        while j >= start and text[j] == "\\":
            backslashes += 1
            j -= 1
        if backslashes % 2 == 0:
            return i
        i += 1


def userinfo_end(word: str) -> int:
    """The index of the ``@`` that ends the userinfo of the URL in ``word``, or -1.

    The userinfo ends at the LAST ``@`` of the authority (so a password may hold ``@``).
    When the authority (up to the first ``/``, ``?`` or ``#``) has no ``@`` but one
    follows and the authority reads ``user:password``, the password holds one of
    ``/ ? #`` (typed raw): it ends at the last ``@`` of the first ``/ ? #``-separated
    part that holds one (``u:pa/ss@host/x@y``: the host is ``host``). When that password
    is digits (``user:12345/x@host``), it reads as a port as well; it is taken as a
    password unless the ``@`` begins the path (``host:4873/@scope/pkg``), follows
    a query's ``=`` (``host:8080/?email=a@b``), or the name before the digits cannot be a user
    (``127.0.0.1:8080/a@b``, ``localhost:8080/a@b``): ``host:80/path@x`` is masked, as
    nothing in the text tells it from ``user:80/pass@host``. An IPv6 literal (``[::1]:80/a@b``) and an image
    reference pinned by digest (``nginx:1.25@sha256:…``) have no userinfo.
    """
    scheme_end = word.find("://")
    start = scheme_end + 3 if scheme_end >= 0 else 0
    last_at = word.rfind("@")
    if last_at < start or word.startswith("[", start):
        return -1
    if scheme_end < 0 and word.startswith(("sha256:", "sha512:"), last_at + 1):
        return -1  # an image reference pinned by digest: nginx:1.25@sha256:…
    end = _delimiter(word, start)
    if last_at < end:  # the ordinary case: the @ is inside the authority
        return last_at
    at = word.rfind("@", start, end)
    if at >= 0:
        return at
    user, colon, after = word[start:end].partition(":")
    if not colon:
        return -1  # host/path@x: the @ is in the path
    first_at = word.find("@", end)
    query = word.find("?", end, first_at)
    begins_path = first_at == end + 1 and word[end] == "/"
    in_query_value = query >= 0 and "=" in word[query:first_at]
    if after.isdigit() and (begins_path or in_query_value or _only_a_host(user)):
        return -1  # host:port/@scope, host:port/?email=a@b, 127.0.0.1:80/a@b: the @ is in the path
    return word.rfind("@", first_at, _delimiter(word, first_at))


def _only_a_host(name: str) -> bool:
    """Is ``name`` something no one uses as a user name (an IPv4 address, ``localhost``)?"""
    return name.lower() == "localhost" or (name.count(".") == 3 and name.replace(".", "").isdigit())


def _delimiter(word: str, start: int) -> int:
    """Where the URL part starting at ``start`` ends: the first ``/``, ``?`` or ``#`` (or the end)."""
    end = len(word)
    for sep in "/?#":
        k = word.find(sep, start, end)
        if k >= 0:
            end = k
    return end


def _mask_url_credentials(word: str, *, keep_lone_user: bool) -> str:
    """The userinfo of the URL in ``word`` masked: ``scheme://user:***@host`` (see :func:`userinfo_end`)."""
    at = userinfo_end(word)
    if at < 0:
        return word
    scheme_end = word.find("://")
    start = scheme_end + 3 if scheme_end >= 0 else 0
    user, colon, _password = word[start:at].partition(":")
    if colon:
        return f"{word[:start]}{user}:{MASK}{word[at:]}"
    if keep_lone_user or scheme_end < 0 or not user or user == MASK:
        return word
    return f"{word[:start]}{MASK}{word[at:]}"  # a lone user part in a command line is often a token


def mask_url(text: str) -> str:
    """A TARGET as typed, with its password and secret query parameters replaced by ``***``.

    ``postgres://alice:pw@db/app?sslpassword=x`` becomes
    ``postgres://alice:***@db/app?sslpassword=***``; a user without a password
    (``alice@db``) is kept, as are ordinary parameters and fragments.
    """
    if not text:
        return text
    head = text[:len(text) - len(text.lstrip())]
    return head + _mask_parameters(_mask_url_credentials(text[len(head):], keep_lone_user=True))


def mask_urls_in(text: str) -> str:
    """Free text (an error message) with the password and secret parameters of every URL
    (or ``user:password@host``) in it masked; a lone ``user@`` is kept."""
    if not text:
        return text
    parts = _WHITESPACE_SPLIT.split(text)
    for i in range(0, len(parts), 2):
        word = parts[i]
        if "@" in word or "=" in word:
            quote = word[:1] if word[:1] in "'\"" else ""
            inner = word[len(quote):]
            parts[i] = quote + _mask_parameters(_mask_url_credentials(inner, keep_lone_user=True))
    return "".join(parts)
