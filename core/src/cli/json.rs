//! The one JSON serialisation the front-ends print ([`Rendered::json_text`]): keys sorted,
//! two-space indent, and terminal-unsafe characters escaped.

use super::*;
use core::fmt::Write as _;

/// Pretty JSON with sorted keys, independent of `serde_json`'s map order feature.
pub(super) fn write_json(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => push_json_string(out, s),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                push_indent(out, indent + 2);
                write_json(out, item, indent + 2);
            }
            out.push('\n');
            push_indent(out, indent);
            out.push(']');
        }
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("{\n");
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                push_indent(out, indent + 2);
                push_json_string(out, key);
                out.push_str(": ");
                if let Some(value) = map.get(key) {
                    write_json(out, value, indent + 2);
                }
            }
            out.push('\n');
            push_indent(out, indent);
            out.push('}');
        }
    }
}

/// A JSON string literal: `serde_json`'s escaping (`"`, `\\`, C0 controls), plus `\uXXXX` for
/// DEL, C1 controls and bidirectional controls, so printing the JSON to a terminal is safe too.
pub(super) fn push_json_string(out: &mut String, s: &str) {
    // Serialising a string cannot fail.
    let quoted = serde_json::to_string(s).unwrap_or_default();
    for c in quoted.chars() {
        if is_unsafe_char(c) {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
}

pub(super) fn push_indent(out: &mut String, n: usize) {
    out.extend(core::iter::repeat_n(' ', n));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_text_sorts_keys_and_indents() {
        let r = Rendered {
            text: String::new(),
            json: json!({"b": [1, {"z": null, "a": "x\u{1b}"}], "a": {}, "c": []}),
            exit_code: 0,
            stream: Stream::Stdout,
        };
        assert_eq!(
            r.json_text(),
            "{\n  \"a\": {},\n  \"b\": [\n    1,\n    {\n      \"a\": \"x\\u001b\",\n      \"z\": null\n    }\n  ],\n  \"c\": []\n}\n"
        );
    }
}
