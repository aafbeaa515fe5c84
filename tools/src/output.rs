//! Output helpers: stdout writing that treats a closed pipe as the end, progress bars only on
//! a terminal.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};

use crate::{CliError, CliResult};

/// Writes formatted text to stdout. A closed pipe (`walkdb ppr ... | head`) ends the process
/// quietly with 0; any other write error (a full disk) ends it with 3 and a message, never a
/// panic as `println!` would.
pub(crate) fn out(args: std::fmt::Arguments<'_>, newline: bool) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_fmt(args).and_then(|()| {
        if newline {
            stdout.write_all(b"\n")
        } else {
            Ok(())
        }
    });
    if let Err(e) = written {
        let error = out_err(e);
        eprintln!("walkdb: {}", error.message);
        std::process::exit(i32::from(error.code));
    }
}

/// `println!` for the CLI's stdout: see [`out`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::out(format_args!($($arg)*), true)
    };
}

/// `print!` for the CLI's stdout: see [`out`].
macro_rules! outp {
    ($($arg:tt)*) => {
        $crate::output::out(format_args!($($arg)*), false)
    };
}

/// Maps a write error on stdout: a closed pipe (`walkdb export | head`) ends quietly.
pub(crate) fn out_err(e: std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    CliError {
        code: 3,
        message: format!("writing to stdout: {e}"),
    }
}

/// Prints one JSON document on stdout.
pub(crate) fn print_json(value: &serde_json::Value) -> CliResult {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value).map_err(|e| match e.io_error_kind() {
        Some(kind) => out_err(std::io::Error::from(kind)),
        None => CliError {
            code: 3,
            message: e.to_string(),
        },
    })?;
    writeln!(out).map_err(out_err)
}

/// A progress bar on stderr when it is a terminal, hidden otherwise.
pub(crate) fn progress(total: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let template = format!("{what} {{bar:40}} {{percent:>3}}% {{elapsed}} eta {{eta}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// A spinner on stderr for work of unknown length, when stderr is a terminal.
pub(crate) fn spinner(what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_message(what.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
