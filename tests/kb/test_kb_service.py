"""The knowledge base's service on both databases: full-text search (PostgreSQL's tsvector,
SQLite's FTS5 kept in step by triggers), drafts, programs, the audit of publishing; and the
Markdown of an article shown safely."""

from __future__ import annotations

from html.parser import HTMLParser

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from domain.audit import operator
from domain.vocabulary import ArticleStatus, AuditAction
from models.audit import AuditEntry
from services.kb import Reader, create_article, get_article, list_articles, update_article
from tests.factories import seed
from web.markdown import render

WRITER, READER = Reader(writer=True), Reader()
BY = operator("tester")


def titles(engine: Engine, reader: Reader, q: str, **kw: str) -> list[str]:
    with Session(engine) as session:
        return sorted(a.title for a in list_articles(session, reader, query=q, **kw))


def test_search_finds_a_word_of_the_body_on_both_databases(any_engine: Engine) -> None:
    seed(any_engine)
    with Session(any_engine) as s:
        create_article(
            s, BY, program_id="recovery", title="Refunds",
            body="Offer a **refund** of one night when housekeeping failed.", status="published",
        )  # fmt: skip
        create_article(
            s, BY, program_id="recovery", title="Late checkout",
            body="Guests may stay until 14:00 on request.", status="published",
        )  # fmt: skip
        draft = create_article(
            s, BY, program_id="recovery", title="Smoke in rooms", body="Housekeeping airs it."
        )
    assert titles(any_engine, READER, "housekeeping") == ["Refunds"]  # the draft is the writer's
    assert titles(any_engine, WRITER, "housekeeping") == ["Refunds", "Smoke in rooms"]
    assert titles(any_engine, READER, "refund night") == ["Refunds"]  # every word
    assert titles(any_engine, READER, "refund checkout") == []
    assert titles(any_engine, READER, "Checkout") == ["Late checkout"]  # title, any case
    assert titles(any_engine, READER, "") == ["Late checkout", "Refunds"]
    # Search syntax is only words: stray quotes, stars and brackets are no error.
    assert titles(any_engine, READER, '(refund" *') == ["Refunds"]
    assert titles(any_engine, READER, "?!") == []
    # Edits are searched at once (the FTS5 triggers; PostgreSQL indexes the expression).
    with Session(any_engine) as s:
        a = get_article(s, WRITER, draft.id or 0)
        update_article(s, a, BY, body="Open the windows, then call the guest.", status="published")
    assert titles(any_engine, READER, "windows") == ["Smoke in rooms"]
    assert titles(any_engine, READER, "housekeeping") == ["Refunds"]
    # A token limited to another program sees none of them.
    assert titles(any_engine, Reader(programs=("care",)), "refund") == []


def test_publishing_and_unpublishing_are_audited(any_engine: Engine) -> None:
    seed(any_engine)
    with Session(any_engine) as s:
        a = create_article(s, BY, program_id="recovery", title="Refunds", body="Refund a night.")
        update_article(s, a, BY, status=ArticleStatus.PUBLISHED)
        update_article(s, a, BY, title="Refunds (2026)")  # an edit: not a publish
        update_article(s, a, BY, status=ArticleStatus.DRAFT)
        actions = s.exec(
            select(AuditEntry.action).where(col(AuditEntry.object_id) == str(a.id))
            .order_by(col(AuditEntry.id))
        ).all()  # fmt: skip
    assert actions == [AuditAction.PUBLISH, AuditAction.UNPUBLISH]
    with Session(any_engine) as s:
        assert titles(any_engine, READER, "refund") == []


def test_markdown_is_rendered_and_sanitised() -> None:
    html = str(
        render(
            "# Refunds\n\n<script>alert('x')</script>\n\n"
            "[click](javascript:alert(1)) [mail](mailto:care@example.com) "
            "[site](https://example.com/help)\n\n"
            '<img src=x onerror="alert(1)"> <a href="javascript:alert(2)">raw</a>\n\n'
            "[data](data:text/html;base64,PHNjcmlwdD4=) **bold**"
        )
    )
    assert "<h1>Refunds</h1>" in html and "<strong>bold</strong>" in html
    assert '<a href="https://example.com/help"' in html
    assert '<a href="mailto:care@example.com"' in html
    tags = Tags()
    tags.feed(html)
    assert "script" not in tags.names and "img" not in tags.names
    assert tags.hrefs == ["mailto:care@example.com", "https://example.com/help"]
    assert not any(k.startswith("on") for k in tags.attributes)
    assert "&lt;script&gt;" in html  # shown as text, never run


def test_the_allow_list_holds_when_html_gets_through() -> None:
    """The second lock alone: raw HTML straight into the sanitiser (as a renderer option or a
    plugin might let it through) keeps no script, handler or javascript: link."""
    import nh3

    from web.markdown import ATTRIBUTES, SCHEMES, TAGS

    raw = '<p onclick="x()">Hi<script>alert(1)</script><a href="javascript:alert(1)">a</a></p>'
    clean = nh3.clean(raw, tags=TAGS, attributes=ATTRIBUTES, url_schemes=SCHEMES)
    tags = Tags()
    tags.feed(clean)
    assert tags.names == ["p", "a"] and tags.hrefs == [] and not tags.attributes - {"rel"}


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self.hrefs: list[str] = []
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.names.append(tag)
        for k, v in attrs:
            self.attributes.add(k)
            if k == "href" and v is not None:
                self.hrefs.append(v)
