"""The HTTP endpoint: POST JSON, GET for GraphiQL in a browser."""

import json

from strawberry.django.views import GraphQLView


class ShopGraphQLView(GraphQLView):
    """Strawberry's Django view; a body nested too deeply for Python's JSON parser
    is a 400 like any other malformed JSON, not a 500."""

    def decode_json(self, data: str | bytes) -> object:
        try:
            return super().decode_json(data)
        except RecursionError as error:
            text = data.decode(errors="replace") if isinstance(data, bytes) else data
            raise json.JSONDecodeError("JSON nested too deeply", text, 0) from error
