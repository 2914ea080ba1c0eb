"""URLs of resources, built from the contract's paths: no version prefix or host in code.

Handlers write absolute URLs (v1 `url`, `links`, `meta.*_url`) as `base_url + path_for(...)`,
where `base_url` is where the client reached the fake, and relative ones (2010-04-01 `uri`,
`*_page_uri`) as `path_for(...)`.
"""

from __future__ import annotations

from .spec import path_template


def path_for(operation_id: str, **parameters: str) -> str:
    """The path of an operation with its parameters filled in (KeyError if one is missing).

    OpenAPI's path templates (`/v1/Services/{Sid}`) are Python format strings as they stand.
    """
    return path_template(operation_id).format_map(parameters)


def api_version(operation_id: str) -> str:
    """The API version an operation belongs to (the first segment of its path: `2010-04-01`),
    as a resource's `api_version` and a webhook's `ApiVersion` name it."""
    return path_template(operation_id).split("/")[1]
