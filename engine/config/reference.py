"""The configuration reference of docs/configuration.md, generated from the registry.

`python -m engine.config.reference` prints it; a test fails when the document drifts.
"""

from __future__ import annotations

from engine.config.settings import SETTINGS, ResultType, SettingSpec

BEGIN = "<!-- BEGIN GENERATED REFERENCE: python -m engine.config.reference -->"
END = "<!-- END GENERATED REFERENCE -->"


def _entry(spec: SettingSpec) -> str:
    lines = [f"### `{spec.key}`", "", spec.description, ""]
    if spec.is_expression:
        lines.append(f"- **Type of result:** {spec.result.value}")
        default = f"`{spec.default}`" if spec.default else "none (no value)"
        lines.append(f"- **Default expression:** {default}")
        variables = ", ".join(f"`{name}`" for name in spec.variables) or "none"
        lines.append(f"- **Variables:** {variables}")
        if spec.constants:
            by_value: dict[int, list[str]] = {}
            for name, value in spec.constants.items():
                by_value.setdefault(value, []).append(f"`{name}`")
            shown = "; ".join(f"{' '.join(names)} = {value}"
                              for value, names in sorted(by_value.items()))
            lines.append(f"- **Constants:** {shown}")
        if spec.result is ResultType.DURATION:
            lines.append("- **Unit:** a bare number is seconds; a duration word (`90m`, `3h`, "
                         "`1d`) or text (`'3h'`) means what it says")
        bounds = bounds_text(spec)
        if bounds:
            lines.append(f"- **Bounds:** {bounds} (a value outside is clamped)")
    else:
        lines.append("- **Type:** plain text (not an expression)")
        if spec.required:
            lines.append("- **Required** in every section it belongs to")
    if spec.fallback is not None or spec.fallback_note:
        shown_fallback = f"`{spec.fallback!r}`" if spec.fallback is not None else ""
        note = spec.fallback_note
        when = "When unset" if not spec.is_expression else "When it yields no usable value"
        lines.append(f"- **{when}:** " + " ".join(part for part in (shown_fallback, note)
                                                   if part))
    return "\n".join(lines) + "\n"


def bounds_text(spec: SettingSpec) -> str:
    """A setting's bounds in words (`1 to 9`), or '' when it has none."""
    if spec.minimum is not None and spec.maximum is not None:
        return f"{spec.minimum} to {spec.maximum}"
    if spec.minimum is not None:
        return f"at least {spec.minimum}"
    if spec.maximum is not None:
        return f"at most {spec.maximum}"
    return ""


def render_reference() -> str:
    body = "\n".join(_entry(spec) for spec in SETTINGS)
    return f"{BEGIN}\n\n{body}\n{END}"


if __name__ == "__main__":
    print(render_reference())
