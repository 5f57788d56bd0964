//! `cotrace list` and `cotrace list --binary`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::describe::{self, Binary, Declared};
use crate::{glob_match, lttng, tracefs};

/// `cotrace list --binary PATH`: one row per declared event.
pub fn binary(path: &Path) -> Result<ExitCode, String> {
    let events = match describe::read_binary(path)? {
        Binary::Events(events) => events,
        Binary::NoSection => {
            return Err(format!(
                "{} has no {} section: it declares no cotrace events (or was built with a \
                 cotrace older than this tool)",
                path.display(),
                describe::SECTION
            ));
        }
        Binary::NotElf => return Err(format!("{} is not an ELF file", path.display())),
    };
    println!(
        "{:<28} {:<28} {:<9} FIELDS",
        "EVENT (LTTng)", "KERNEL (user_events)", "LEVEL"
    );
    for e in &events {
        let fields: Vec<String> = e.fields.iter().map(|(t, n)| format!("{n}: {t}")).collect();
        let mut flags = String::new();
        if e.persist {
            flags.push_str(" #[persist]");
        }
        if e.multi_format {
            flags.push_str(" #[multi_format]");
        }
        println!(
            "{:<28} {:<28} {:<9} ({}){flags}",
            e.lttng_name(),
            e.kernel_name,
            e.level(),
            fields.join(", ")
        );
    }
    println!("{} events in {}", events.len(), path.display());
    Ok(ExitCode::SUCCESS)
}

/// One row of `cotrace list`.
#[derive(Default, Debug)]
struct Row {
    lttng_name: Option<String>,
    kernel_name: Option<String>,
    processes: BTreeSet<String>,
    enabled_by: BTreeSet<String>,
}

/// Processes holding `user_events_data` open, with their executables.
fn user_events_processes() -> Vec<(u32, PathBuf)> {
    let mut out = Vec::new();
    let Ok(proc_dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in proc_dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .map(|t| t.to_string_lossy().ends_with("/user_events_data"))
                .unwrap_or(false)
        });
        if holds {
            if let Ok(exe) = std::fs::read_link(entry.path().join("exe")) {
                out.push((pid, exe));
            }
        }
    }
    out
}

fn process_label(pid: u32, exe: &str) -> String {
    let base = exe.rsplit('/').next().unwrap_or(exe);
    format!("{base}[{pid}]")
}

/// `cotrace list`: every user_events and LTTng-UST event on the machine now.
pub fn machine() -> Result<ExitCode, String> {
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let mut notes = Vec::new();
    // Kernel names -> LTTng names, from the binaries of processes that use user_events.
    let mut declared_by_kernel: HashMap<String, Declared> = HashMap::new();
    let mut registrants: HashMap<String, BTreeSet<String>> = HashMap::new();

    match tracefs::find() {
        Ok(tracefs) => {
            let mut descriptions: HashMap<PathBuf, Vec<Declared>> = HashMap::new();
            for (pid, exe) in user_events_processes() {
                let events =
                    descriptions
                        .entry(exe.clone())
                        .or_insert_with(|| match describe::read_binary(&exe) {
                            Ok(Binary::Events(events)) => events,
                            _ => Vec::new(),
                        });
                for e in events.iter() {
                    registrants
                        .entry(e.kernel_name.clone())
                        .or_default()
                        .insert(process_label(pid, &exe.to_string_lossy()));
                    declared_by_kernel.insert(e.kernel_name.clone(), e.clone());
                }
            }
            let status_path = tracefs.join("user_events_status");
            let status = std::fs::read_to_string(&status_path)
                .map_err(|e| format!("cannot read {}: {e} (run as root)", status_path.display()))?;
            for line in tracefs::parse_status(&status) {
                // Multi-format events are `name.<id>` under `user_events_multi`.
                let (system, base) = match line.name.split_once('.') {
                    Some((base, _)) => ("user_events_multi", base.to_string()),
                    None => ("user_events", line.name.clone()),
                };
                let declared = declared_by_kernel.get(&base);
                let key = declared.map_or(line.name.clone(), Declared::lttng_name);
                let row = rows.entry(key).or_default();
                row.kernel_name = Some(line.name.clone());
                if let Some(d) = declared {
                    row.lttng_name = Some(d.lttng_name());
                }
                row.processes
                    .extend(registrants.get(&base).into_iter().flatten().cloned());
                let ftrace = tracefs::ftrace_enablers(&tracefs, system, &line.name);
                row.enabled_by.extend(ftrace.iter().cloned());
                for user in &line.used_by {
                    // `ftrace` in the status is any ftrace buffer: named above precisely.
                    if user != "ftrace" || ftrace.is_empty() {
                        row.enabled_by.insert(user.clone());
                    }
                }
            }
        }
        Err(e) => notes.push(format!("kernel: {e}")),
    }

    if lttng::sessiond_running() {
        let apps = lttng::parse_app_events(&lttng::lttng(&["--mi", "xml", "list", "-u"])?)?;
        let mut sessions = Vec::new();
        for name in lttng::parse_sessions(&lttng::lttng(&["--mi", "xml", "list"])?)? {
            sessions.extend(lttng::parse_session(&lttng::lttng(&[
                "--mi", "xml", "list", &name,
            ])?)?);
        }
        for app in apps {
            let row = rows.entry(app.name.clone()).or_default();
            row.lttng_name = Some(app.name.clone());
            row.processes.insert(process_label(app.pid, &app.process));
            for s in &sessions {
                if s.patterns.iter().any(|p| glob_match(p, &app.name)) {
                    let state = if s.active { "active" } else { "inactive" };
                    row.enabled_by
                        .insert(format!("lttng session {} ({state})", s.session));
                }
            }
        }
    } else {
        notes.push("lttng: no lttng-sessiond answers: LTTng-UST events are not listed".into());
    }

    println!(
        "{:<32} {:<30} {:<24} ENABLED BY",
        "EVENT (LTTng)", "KERNEL (user_events)", "PROCESSES"
    );
    for (key, row) in &rows {
        let join = |set: &BTreeSet<String>| {
            if set.is_empty() {
                "-".to_string()
            } else {
                set.iter().cloned().collect::<Vec<_>>().join(", ")
            }
        };
        println!(
            "{:<32} {:<30} {:<24} {}",
            row.lttng_name
                .as_deref()
                .unwrap_or(if row.kernel_name.is_some() { "-" } else { key }),
            row.kernel_name.as_deref().unwrap_or("-"),
            join(&row.processes),
            join(&row.enabled_by)
        );
    }
    for note in notes {
        eprintln!("cotrace: {note}");
    }
    Ok(ExitCode::SUCCESS)
}
