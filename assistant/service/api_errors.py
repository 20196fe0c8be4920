"""Errors of the console and QA APIs: one clear shape, Chinese first.

Every error is ``{"detail": {"message": "中文 / English", "errors": [{"loc", "message"}]}}``;
``ClearErrors`` turns FastAPI's own validation errors into that shape for the routers using it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

__all__ = ["problem", "pydantic_errors", "ClearErrors"]


#: Chinese for pydantic's error types (the English message follows it).
_ZH = {
    "missing": "必填", "string_too_short": "不能为空", "too_short": "至少要有一项", "string_too_long": "太长",
    "string_pattern_mismatch": "格式不对", "literal_error": "不是允许的取值",
    "extra_forbidden": "不认识的字段", "string_type": "应为文字", "int_parsing": "应为整数",
    "int_type": "应为整数", "float_parsing": "应为数字", "float_type": "应为数字", "bool_parsing": "应为是/否",
    "bool_type": "应为是/否", "greater_than": "太小", "less_than": "太大", "greater_than_equal": "太小",
    "dict_type": "应为键值对", "list_type": "应为列表", "tuple_type": "应为列表", "value_error": "取值不合法",
    "json_invalid": "不是合法的 JSON", "model_attributes_type": "应为对象", "too_long": "项太多",
}


def problem(status: int, zh: str, en: str, errors: Iterable[dict[str, Any]] = (), **extra: Any) -> HTTPException:
    return HTTPException(status, {"message": f"{zh} / {en}", "errors": list(errors), **extra})


def pydantic_errors(errors: Iterable[Any], drop: int = 0, prefix: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    out = []
    for error in errors:
        loc = ".".join(str(p) for p in (*prefix, *tuple(error.get("loc", ()))[drop:])) or "(整体)"
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        zh = _ZH.get(error.get("type", ""), "不合法")
        if error.get("type") == "string_pattern_mismatch":
            zh += "（应为 08:00 这样的时间）" if ":" in message else "（只能用小写英文字母、数字和 . _ -）"
        out.append({"loc": loc, "message": f"{zh} / {message}"})
    return out


class ClearErrors(APIRoute):
    """This router's request validation errors in the console's form: Chinese + English, with where."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = pydantic_errors(exc.errors())
                where = "；".join(f"{e['loc']}: {e['message']}" for e in errors[:3])
                return JSONResponse({"detail": {"message": f"请求内容不合法 / invalid request: {where}",
                                                "errors": errors}}, status_code=422)

        return route


