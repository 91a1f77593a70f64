//! What the CLI prints: the gateway's JSON as is (`--json`), or tables for people.

use comfy_table::presets::UTF8_BORDERS_ONLY;
use comfy_table::{ContentArrangement, Table};
use serde_json::Value;

/// How to print.
#[derive(Debug, Clone, Copy)]
pub enum Format {
    Table,
    Json,
}

/// A JSON value as a cell: strings without quotes, nothing for null.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    table
}

/// One object as `field | value` rows, fields in the order the gateway sent them.
pub fn record(format: Format, value: &Value) {
    if let Format::Json = format {
        return println!("{value}");
    }
    let mut out = table(&["field", "value"]);
    if let Some(fields) = value.as_object() {
        for (name, field) in fields {
            match field {
                // Nested objects (the queue depth of /stats) are flattened as `a.b`.
                Value::Object(inner) => {
                    for (inner_name, inner_value) in inner {
                        out.add_row([format!("{name}.{inner_name}"), cell(inner_value)]);
                    }
                }
                other => {
                    out.add_row([name.clone(), cell(other)]);
                }
            }
        }
    }
    println!("{out}");
}

/// Objects as rows under `columns`; with `--json` the whole `value` is printed.
pub fn rows(format: Format, value: &Value, items: &[Value], columns: &[&str]) {
    if let Format::Json = format {
        return println!("{value}");
    }
    let mut out = table(columns);
    for item in items {
        out.add_row(columns.iter().map(|column| cell(&item[*column])));
    }
    println!("{out}");
}

#[cfg(test)]
mod tests {
    use super::cell;
    use serde_json::json;

    #[test]
    fn cells_show_strings_bare_and_null_empty() {
        assert_eq!(cell(&json!("dead")), "dead");
        assert_eq!(cell(&json!(3)), "3");
        assert_eq!(cell(&json!(null)), "");
        assert_eq!(cell(&json!({"a": 1})), r#"{"a":1}"#);
    }
}
