//! Plain-text tables for the terminal, aligned by display width: a CJK character takes
//! two columns, so padding by `char` count (what `{:<N}` does) would tear the columns
//! apart on Chinese place names.

use unicode_width::UnicodeWidthStr;

/// A cell as it may be printed: carriers' texts may hold line breaks and terminal
/// escapes, which would break a row in two or reach the terminal; each control
/// character becomes a space.
pub fn cell(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `rows` under `header`, one line each, each column as wide as its widest cell plus
/// two spaces; the last column is not padded. Cells are made printable by [`cell`].
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| cell(c)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            text.push_str(cell);
            if i + 1 < widths.len() {
                text.extend(std::iter::repeat_n(' ', widths[i] - cell.width() + 2));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in &rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where each cell starts, in display columns.
    fn starts(line: &str, cells: &[&str]) -> Vec<usize> {
        cells
            .iter()
            .map(|c| line[..line.find(c).unwrap()].width())
            .collect()
    }

    #[test]
    fn columns_line_up_with_wide_characters_and_long_cells() {
        let rows = vec![
            vec![
                "2026-11-26T10:02:00+08:00".into(),
                "深圳市宝安区".into(),
                "顺丰".into(),
            ],
            vec![
                "2026-11-27T01:00:00Z".into(),
                "Memphis, TN".into(),
                "UPS".into(),
            ],
        ];
        let text = render(&["OCCURRED", "LOCATION", "NOTE"], &rows);
        let lines: Vec<&str> = text.lines().collect();
        let a = starts(lines[1], &["2026-11-26", "深圳", "顺丰"]);
        let b = starts(lines[2], &["2026-11-27", "Memphis", "UPS"]);
        let h = starts(lines[0], &["OCCURRED", "LOCATION", "NOTE"]);
        assert_eq!(a, b, "{text}");
        assert_eq!(a, h, "{text}");
        // The widest cell sets the width: 25 columns of time, two spaces.
        assert_eq!(a[1], 27, "{text}");
        assert!(text.lines().all(|l| l == l.trim_end()), "{text:?}");
    }

    /// A line break or an escape in a carrier's text keeps its row on one line and
    /// never reaches the terminal.
    #[test]
    fn control_characters_stay_out() {
        let rows = vec![
            vec!["a\nb".into(), "\u{1b}[31mred\r".into()],
            vec!["c".into(), "d".into()],
        ];
        let text = render(&["X", "Y"], &rows);
        assert_eq!(text.lines().count(), 3, "{text:?}");
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
    }
}
