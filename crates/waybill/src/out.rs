//! What the commands print on standard output. A reader that stops early (`waybill
//! openapi | head -1`) closes the pipe: `println!` would panic there, and this ends
//! the command quietly instead (`main` treats a broken pipe as done).

use std::io::Write;

/// Why printing failed: the reader left (only this ends a command quietly — not a
/// broken pipe to a server, say), or something worse.
#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    #[error("standard output is closed")]
    Closed,
    #[error("writing to standard output: {0}")]
    Io(std::io::Error),
}

/// A failed write to standard output, told apart.
pub fn on_stdout(e: std::io::Error) -> PrintError {
    match e.kind() {
        std::io::ErrorKind::BrokenPipe => PrintError::Closed,
        _ => PrintError::Io(e),
    }
}

/// Writes `text` to standard output.
pub fn print(text: &str) -> Result<(), PrintError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(on_stdout)
}

/// Whether `e` is standard output closed by its reader.
pub fn is_stdout_closed(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| matches!(c.downcast_ref::<PrintError>(), Some(PrintError::Closed)))
}

/// `println!` that returns the write's error (with `?`) instead of panicking on it.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::out::print(&format!("{}\n", format_args!($($arg)*)))?
    };
}
pub(crate) use say;
