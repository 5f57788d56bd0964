//! `cotrace`: one command for both tracers of cotrace's events.
//!
//! - `cotrace list`: every user_events and LTTng-UST event on this machine now, who registered
//!   it and who enables it.
//! - `cotrace list --binary PATH`: the events a binary declares, read from its
//!   `cotrace_events` ELF section without running it.
//! - `cotrace record [-e PATTERN]... [--kernel] [--lttng] [-a] [-o DIR] -- CMD [ARGS]` (or
//!   `-p PID`): records CMD and its descendants (every process with `-a`) with a private ftrace
//!   instance and an LTTng session on one monotonic time axis, and merges both into one
//!   timeline.
//! - `cotrace clean`: removes what recorders that died left.

mod describe;
mod fields;
mod list;
mod lttng;
mod output;
mod ready;
mod record;
mod ringbuf;
mod state;
mod timeline;
mod tracefs;
mod tree;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// One command for both tracers of cotrace's events (Linux user_events and LTTng-UST).
#[derive(Parser, Debug)]
#[command(name = "cotrace", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Lists the user_events and LTTng-UST events of this machine, or of one binary.
    List {
        /// List the events this binary declares (read from its ELF file, not run).
        #[arg(long, value_name = "PATH")]
        binary: Option<PathBuf>,
    },
    /// Records CMD with ftrace (user_events) and LTTng-UST on one time axis.
    Record(RecordArgs),
    /// Removes what `cotrace record`s that died (kill -9, a crash, a power cut) left: ftrace
    /// instances, LTTng sessions, user_events they created, private session daemons.
    Clean,
}

/// The merged timeline's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Time-ordered lines tagged with the tracer (`timeline.txt`).
    Text,
    /// Trace Event Format for Perfetto UI / chrome://tracing (`timeline.json`).
    ChromeJson,
}

/// `cotrace record` options.
#[derive(clap::Args, Debug)]
pub struct RecordArgs {
    /// Events to record, `provider:event` with `*` wildcards (repeatable); default: every
    /// event CMD declares.
    #[arg(short = 'e', long = "event", value_name = "PATTERN")]
    pub patterns: Vec<String>,
    /// Record with the kernel (user_events through a private ftrace instance).
    #[arg(long)]
    pub kernel: bool,
    /// Record with LTTng-UST. With neither --kernel nor --lttng, both.
    #[arg(long)]
    pub lttng: bool,
    /// Where to leave the traces and the timeline (created; default `cotrace-<time>`).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// The merged timeline's format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Start a private `lttng-sessiond` when none runs (stopped at the end).
    #[arg(long)]
    pub start_sessiond: bool,
    /// Record every process's events (system-wide), not only CMD and its descendants.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Record a running process and its descendants (until Ctrl-C or --duration) instead of
    /// running CMD.
    #[arg(
        short = 'p',
        long = "pid",
        value_name = "PID",
        conflicts_with = "command"
    )]
    pub pid: Option<u32>,
    /// Stop recording after this many seconds (CMD is then sent SIGTERM; a -p process is left
    /// running).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Per-CPU buffer of each tracer, in KiB: the ftrace instance's ring buffer, and LTTng's 8
    /// sub-buffers together (at least 4 KiB and a page each: fewer of them, at least 2, where
    /// pages are large).
    #[arg(long, value_name = "KIB", default_value_t = 8192, value_parser = clap::value_parser!(u32).range(32..))]
    pub buffer_kb: u32,
    /// Exit with status 0 even when a tracer lost events, or babeltrace2 could not read the
    /// LTTng trace (by default, status 3).
    #[arg(long)]
    pub allow_loss: bool,
    /// The command to record, and its arguments.
    #[arg(last = true, required_unless_present = "pid", value_name = "CMD")]
    pub command: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::List { binary: Some(path) } => list::binary(&path),
        Command::List { binary: None } => list::machine(),
        Command::Record(args) => record::run(args),
        Command::Clean => record::clean(),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("cotrace: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Whether `name` matches `pattern`, where `*` matches any run of characters.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("shop:*", "shop:request_start"));
        assert!(glob_match("*", ""));
        assert!(glob_match("s*p:*_done", "shop:request_done"));
        assert!(!glob_match("shop:*_done", "shop:request_start"));
        assert!(glob_match("shop:cache_miss", "shop:cache_miss"));
        assert!(!glob_match("shop:cache", "shop:cache_miss"));
    }
}
