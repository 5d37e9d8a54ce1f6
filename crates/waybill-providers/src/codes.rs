//! The shape of a provider's status mapping table.
//!
//! Each provider module holds one `&'static [Code]`: every status and sub-status code
//! the provider documents, what it means, and the canonical status it maps to (or none:
//! such a checkpoint is kept in the timeline and changes no status). The same rows are
//! printed in `docs/providers/<provider>.md`, and a test holds the two to each other.

use waybill_core::{EventKind, ShipmentStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    pub code: &'static str,
    pub status: Option<ShipmentStatus>,
    pub meaning: &'static str,
}

/// Shorthand for table rows.
pub const fn code(code: &'static str, status: ShipmentStatus, meaning: &'static str) -> Code {
    Code {
        code,
        status: Some(status),
        meaning,
    }
}

/// A documented code that maps to no canonical status.
pub const fn no_status(code: &'static str, meaning: &'static str) -> Code {
    Code {
        code,
        status: None,
        meaning,
    }
}

/// What a code means to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapped {
    /// In the table.
    Known(Option<ShipmentStatus>),
    /// Not in the table: kept with its raw code, counted in `/metrics`.
    Unknown,
}

impl Mapped {
    pub fn kind(self) -> EventKind {
        match self {
            Self::Known(Some(s)) => EventKind::Status(s),
            Self::Known(None) | Self::Unknown => EventKind::Unmapped,
        }
    }
}

/// Looks `code` up (exactly, as the provider spells it).
pub fn lookup(table: &[Code], code: &str) -> Mapped {
    table
        .iter()
        .find(|c| c.code == code)
        .map_or(Mapped::Unknown, |c| Mapped::Known(c.status))
}

/// The rows of the first Markdown table after the line `heading` in `doc`: each row's
/// first two cells, with backticks removed. A status cell of `—` or empty means none.
/// Tests use it to hold the documented tables to the code.
pub fn markdown_rows(doc: &str, heading: &str) -> Vec<(String, Option<String>)> {
    let mut lines = doc.lines().skip_while(|l| l.trim() != heading).skip(1);
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in lines.by_ref() {
        let t = line.trim();
        if !t.starts_with('|') {
            if in_table {
                break;
            }
            continue;
        }
        in_table = true;
        let cells: Vec<&str> = t.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 2 || cells[0].chars().all(|c| c == '-' || c == ':') {
            continue;
        }
        let clean = |s: &str| s.trim_matches('`').to_owned();
        let status = match clean(cells[1]).as_str() {
            "" | "—" | "-" => None,
            s => Some(s.to_owned()),
        };
        rows.push((clean(cells[0]), status));
    }
    // The first row is the header.
    if !rows.is_empty() {
        rows.remove(0);
    }
    rows
}

/// Asserts that `doc` documents exactly `table` under `heading`, code by code.
pub fn assert_documented(table: &[Code], doc: &str, heading: &str) {
    let documented = markdown_rows(doc, heading);
    assert!(!documented.is_empty(), "no table under {heading:?}");
    let in_code: Vec<(String, Option<String>)> = table
        .iter()
        .map(|c| (c.code.to_owned(), c.status.map(|s| s.as_str().to_owned())))
        .collect();
    for row in &in_code {
        assert!(
            documented.contains(row),
            "{row:?} is not documented under {heading:?}"
        );
    }
    for row in &documented {
        assert!(
            in_code.contains(row),
            "{row:?} is documented but not in the table"
        );
    }
}

/// Asserts the table has no code twice.
pub fn assert_unique(table: &[Code]) {
    for (i, c) in table.iter().enumerate() {
        assert!(
            table[..i].iter().all(|d| d.code != c.code),
            "{} appears twice",
            c.code
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[Code] = &[
        code("Delivered", ShipmentStatus::Delivered, "delivered"),
        no_status("Pending", "nothing yet"),
    ];

    #[test]
    fn lookups() {
        assert_eq!(
            lookup(TABLE, "Delivered").kind(),
            EventKind::Status(ShipmentStatus::Delivered)
        );
        assert_eq!(lookup(TABLE, "Pending"), Mapped::Known(None));
        assert_eq!(lookup(TABLE, "delivered"), Mapped::Unknown);
        assert_eq!(lookup(TABLE, "x").kind(), EventKind::Unmapped);
    }

    #[test]
    fn documented_tables_are_read_row_by_row() {
        let doc = "# X\n\n### Codes\n\nintro\n\n| code | status | meaning |\n|---|---|---|\n| `Delivered` | `delivered` | d |\n| `Pending` | — | p |\n\nafter\n| `Other` | x |\n";
        assert_documented(TABLE, doc, "### Codes");
        assert_unique(TABLE);
    }

    #[test]
    #[should_panic(expected = "not documented")]
    fn a_missing_row_is_caught() {
        let doc = "### Codes\n| code | status |\n|---|---|\n| `Delivered` | `delivered` |\n";
        assert_documented(TABLE, doc, "### Codes");
    }
}
