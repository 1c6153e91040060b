"""Read an admin page's form as a browser would submit it."""

from html.parser import HTMLParser

from django.test import Client


class _FormFields(HTMLParser):
    """The successful controls of the page's main form: inputs, selects, textareas."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def _add(self, name: str, value: str) -> None:
        self.data.setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs) -> None:
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("submit", "button", "image", "file", "reset"):
                return
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self._add(name, attrs.get("value", "on"))
                return
            self._add(name, attrs.get("value") or "")
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in attrs:
            self._add(self._select, attrs.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self._add(name, "")

    def handle_data(self, data) -> None:
        if self._textarea:
            self.data[self._textarea][-1] += data

    def handle_endtag(self, tag) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def form_data(client: Client, url: str) -> dict:
    """The data the page at ``url`` would post if saved unchanged (the textarea
    newline a browser drops is dropped too)."""
    response = client.get(url)
    assert response.status_code == 200
    parser = _FormFields()
    parser.feed(response.content.decode())
    data = {}
    for name, values in parser.data.items():
        values = [value.removeprefix("\n") for value in values]
        data[name] = values if len(values) != 1 else values[0]
    data.pop("csrfmiddlewaretoken", None)
    return data


def admin_errors(response) -> list:
    """The form errors of an admin change page answered again (not saved)."""
    context = response.context
    if context is None or "adminform" not in context:
        return [response.status_code]
    errors = [context["adminform"].form.errors]
    errors += [formset.formset.errors for formset in context["inline_admin_formsets"]]
    return errors
