"""The OpenAPI 3.1 description of the docking API, served at ``/api/v1/openapi.json``.

This is the contract downstream shops script against: extend it, never rename.
"""
from __future__ import annotations

STATUSES = ["pending", "paid", "fulfilling", "delivered", "failed", "refunded", "expired",
            "awaiting_funds"]
ERROR_CODES = {
    "unauthorized": 401, "not_found": 404, "invalid_field": 422, "insufficient_balance": 402,
    "out_of_stock": 409, "rate_limited": 429, "idempotency_key_reused": 422,
    # back-pressure: the workers are behind; send the same order again after Retry-After
    "busy": 503,
    # a refused coupon (field coupon)
    "coupon_unknown": 422, "coupon_disabled": 422, "coupon_not_yet_valid": 422,
    "coupon_expired": 422, "coupon_used_up": 422, "coupon_not_applicable": 422,
    "coupon_below_minimum": 422,
}


def _problem(description: str) -> dict:
    return {"description": description,
            "content": {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}}}}


def _json(description: str, ref: str, array: bool = False) -> dict:
    schema = {"$ref": f"#/components/schemas/{ref}"}
    if array:
        schema = {"type": "array", "items": schema}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


COMMON = {"401": _problem("No key, an unknown or revoked key, or a key of another shop "
                          "(code unauthorized)."),
          "429": _problem("Too many requests for this key (code rate_limited).")}

MONEY = {"type": "integer", "description": "Integer amount in the currency's minor unit "
                                           "(fen, cents)."}
CURRENCY = {"type": "string", "description": "ISO 4217 code, e.g. CNY.", "example": "CNY"}


def document(server_url: str) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kameng docking API",
            "version": "1.0",
            "description": (
                "Buy from this shop programmatically. Send `Authorization: Bearer <key>` "
                "(create keys on your account's API keys page) to the shop's own host; a "
                "key works on its own shop only. Amounts are integers in minor units with a "
                "`currency`. Errors are `application/problem+json` with a stable `code`: "
                + ", ".join(f"`{c}` ({s})" for c, s in ERROR_CODES.items()) + "."),
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "paths": {
            "/products": {"get": {
                "operationId": "listProducts",
                "summary": "This shop's catalog with this account's prices.",
                "parameters": [{"name": "lang", "in": "query", "required": False,
                                "description": "Language of `name` and `description`.",
                                "schema": {"type": "string", "enum": ["zh_CN", "en"]}}],
                "responses": {"200": _json("The products on sale here.", "Product", True),
                              **COMMON}}},
            "/orders": {"post": {
                "operationId": "createOrder",
                "summary": "Order and pay from the account's wallet.",
                "description": (
                    "Paid at once from the wallet; codes are delivered within seconds "
                    "(poll `GET /orders/{order_no}`). The `Idempotency-Key` header is "
                    "required: sending the same key again returns the same order with "
                    "status 201 and the header `Idempotent-Replayed: true`, and charges "
                    "nothing. Reusing a key with a different body (SKU, quantity or "
                    "fields) is refused (422, code `idempotency_key_reused`, field "
                    "`idempotency_key`)."),
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": True,
                                "schema": {"type": "string", "minLength": 1,
                                           "maxLength": 128}}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/OrderRequest"}}}},
                "responses": {
                    "201": _json("The order (new, or the earlier one for this key).", "Order"),
                    "402": _problem("The wallet cannot cover it (code insufficient_balance)."),
                    "404": _problem("No such product on this shop (code not_found)."),
                    "409": _problem("Not enough stock (code out_of_stock)."),
                    "422": _problem("Bad input; `field` names it (code invalid_field), also "
                                    "for a missing Idempotency-Key or a body that is not a "
                                    "JSON object; code idempotency_key_reused for a key "
                                    "reused with a different body."),
                    "503": _problem("The shop's workers are behind (code busy): nothing was "
                                    "charged; send the same order (same Idempotency-Key) "
                                    "again after the `Retry-After` header's seconds."),
                    **COMMON}}},
            "/orders/{order_no}": {"get": {
                "operationId": "getOrder",
                "summary": "One of this account's orders, with its codes once delivered.",
                "parameters": [{"name": "order_no", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {
                    "200": _json("The order.", "OrderWithCodes"),
                    "404": _problem("No such order of this account (code not_found)."),
                    **COMMON}}},
            "/balance": {"get": {
                "operationId": "getBalance",
                "summary": "The account's wallet balance.",
                "responses": {"200": _json("The balance.", "Balance"), **COMMON}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Product": {"type": "object", "required": [
                    "sku", "name", "kind", "price", "currency", "in_stock", "fields"],
                    "properties": {
                        "sku": {"type": "string"},
                        "name": {"type": "string", "description": "In the language asked "
                                 "with `?lang=` (`zh_CN` or `en`), else the request's."},
                        "names": {"type": "object", "description": "The name in each "
                                  "language (`zh_CN`, `en`), one falling back to the other.",
                                  "additionalProperties": {"type": "string"}},
                        "description": {"type": "string"},
                        "descriptions": {"type": "object",
                                         "additionalProperties": {"type": "string"}},
                        "kind": {"type": "string", "enum": ["card", "topup", "manual"]},
                        "price": {**MONEY, "description": "Unit price for this account."},
                        "currency": CURRENCY,
                        "in_stock": {"type": "boolean"},
                        "min_quantity": {"type": "integer"},
                        "max_quantity": {"type": "integer"},
                        "fields": {"type": "array", "items": {
                            "$ref": "#/components/schemas/Field"}},
                    }},
                "Field": {"type": "object", "description": "Input the buyer must give "
                          "(in `fields` of the order, by `name`).",
                          "properties": {
                              "name": {"type": "string"}, "label": {"type": "string"},
                              "label_en": {"type": ["string", "null"]},
                              "type": {"type": "string"},
                              "regex": {"type": ["string", "null"]},
                              "required": {"type": "boolean"}}},
                "OrderRequest": {"type": "object", "required": ["sku"], "properties": {
                    "sku": {"type": "string"},
                    "quantity": {"type": "integer", "minimum": 1, "default": 1},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                    "coupon": {"type": "string", "maxLength": 32,
                               "description": "A coupon code of this shop. It applies after "
                                              "member and quantity discounts and never takes "
                                              "the price below the shop's cost; a refused "
                                              "code answers 422 with a `coupon_*` code and "
                                              "field `coupon`."},
                }},
                "Order": {"type": "object",
                          "required": ["order_no", "status", "amount", "currency"],
                          "properties": {
                              "order_no": {"type": "string"},
                              "status": {"type": "string", "enum": STATUSES},
                              "amount": MONEY, "currency": CURRENCY,
                              "discount": {**MONEY, "description": "What a coupon took off "
                                           "(already out of `amount`)."},
                              "coupon": {"type": ["string", "null"]}}},
                "OrderWithCodes": {"allOf": [
                    {"$ref": "#/components/schemas/Order"},
                    {"type": "object", "required": ["codes"], "properties": {
                        "codes": {"type": "array", "items": {"type": "string"},
                                  "description": "The delivered codes once status is "
                                                 "delivered, else empty."}}}]},
                "Balance": {"type": "object", "required": ["balance", "currency"],
                            "properties": {"balance": MONEY, "currency": CURRENCY}},
                "Problem": {"type": "object", "required": ["status", "code", "title"],
                            "properties": {
                                "type": {"type": "string"}, "title": {"type": "string"},
                                "status": {"type": "integer"},
                                "code": {"type": "string", "enum": list(ERROR_CODES)},
                                "field": {"type": "string",
                                          "description": "With invalid_field: which input."}}},
            },
        },
    }
