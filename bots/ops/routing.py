"""How a request is named in metrics and logs: by its route, never by its raw path, which can
carry whatever a caller typed (and would make one time series per typo)."""

from aiohttp import web

UNROUTED = "(unrouted)"


def route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNROUTED
