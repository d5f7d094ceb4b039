"""A small, tolerant HTML tree for the tests, on the standard library's parser: elements and text in document order."""

from __future__ import annotations

from html.parser import HTMLParser

VOID = {"meta", "img", "br", "hr", "link", "input", "col", "wbr", "source", "base"}


class Node:
    """One element: tag, attributes and its children (Nodes and text, in document order)."""

    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def text(self, skip: frozenset[str] = frozenset()) -> str:
        """The text inside, in document order, leaving out elements whose tag is in skip."""
        return "".join(
            child if isinstance(child, str) else "" if child.tag in skip else child.text(skip)
            for child in self.children
        )

    def own_text(self) -> str:
        """The text directly inside this element, not inside its child elements."""
        return "".join(child for child in self.children if isinstance(child, str))

    def iter(self, tag: str | None = None, cls: str | None = None):
        for child in self.children:
            if isinstance(child, Node):
                if (tag is None or child.tag == tag) and (cls is None or cls in child.classes):
                    yield child
                yield from child.iter(tag, cls)

    def find(self, tag: str | None = None, cls: str | None = None) -> Node:
        return next(self.iter(tag, cls))


class Tree(HTMLParser):
    """Builds the Node tree with the standard library's parser (the way a browser tokenizes tags)."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#root", {}, None)
        self.tags: list[str] = []  # every start tag, in order
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.current.children.append(Node(tag, dict(attrs), self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(html: str) -> Tree:
    """The parsed page: `.root` (a Node) and `.tags` (every start tag, in order)."""
    return Tree(html)
