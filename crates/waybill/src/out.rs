//! What the commands print on standard output. A reader that stops early (`waybill
//! openapi | head -1`) closes the pipe: `println!` would panic there, and this ends
//! the command quietly instead (`main` treats a broken pipe as done).

use std::io::Write;

/// Standard output was closed by its reader. Its own type, so that only this (not a
/// broken pipe to a server, say) ends a command quietly.
#[derive(Debug, thiserror::Error)]
#[error("standard output is closed")]
pub struct StdoutClosed;

/// Why printing failed: the reader left, or something worse.
#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    #[error(transparent)]
    Closed(#[from] StdoutClosed),
    #[error("writing to standard output: {0}")]
    Io(std::io::Error),
}

/// A failed write to standard output, told apart.
pub fn on_stdout(e: std::io::Error) -> PrintError {
    match e.kind() {
        std::io::ErrorKind::BrokenPipe => PrintError::Closed(StdoutClosed),
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
    e.chain().any(|c| {
        c.downcast_ref::<StdoutClosed>().is_some()
            || matches!(c.downcast_ref::<PrintError>(), Some(PrintError::Closed(_)))
    })
}

/// `println!` that returns the write's error (with `?`) instead of panicking on it.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::out::print(&format!("{}\n", format_args!($($arg)*)))?
    };
}
pub(crate) use say;
