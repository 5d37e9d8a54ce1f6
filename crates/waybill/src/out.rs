//! What the commands print on standard output. A reader that stops early (`waybill
//! openapi | head -1`) closes the pipe: `println!` would panic there, and this ends
//! the command quietly instead (`main` treats a broken pipe as done).

use std::io::Write;

/// Writes `text` to standard output.
pub fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Whether `e` is a closed standard output, somewhere in its chain.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `println!` that returns the write's error (with `?`) instead of panicking on it.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::out::print(&format!("{}\n", format_args!($($arg)*)))?
    };
}
pub(crate) use say;
