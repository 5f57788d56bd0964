//! What defining many `tracing` callsites costs through `cotrace::tracing::layer()`, against
//! defining the same number of events with [`EventBuilder`](cotrace::dynamic::EventBuilder),
//! the path the layer takes for each callsite (issue 19: each definition used to copy the
//! layer's whole callsite map, O(n²) for n callsites).
//!
//! Each row runs in its own process (events are defined once per process): `N` callsites made
//! at run time (each its own `tracing` callsite, registered with `tracing` and used once,
//! which defines its event), or `N` `EventBuilder` events; the time of each tenth of them is
//! printed, so a per-definition cost that grows with `n` shows.
//!
//! `cargo bench -p cotrace --features tracing --bench tracing_define`; `COTRACE_BENCH_DEFINE`
//! sets N (default 10000). With the default features the tracers are those of the machine
//! (on a host without user_events and without a session daemon: liblttng-ust loaded, each
//! event one more probe provider); `--no-default-features --features tracing` measures
//! cotrace alone.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tracing_core::callsite::{Callsite, Identifier};
use tracing_core::field::{FieldSet, Value};
use tracing_core::metadata::Kind;
use tracing_core::{Interest, Level, Metadata};
use tracing_subscriber::prelude::*;

/// A callsite made at run time.
struct Site(OnceLock<Metadata<'static>>);

impl Callsite for Site {
    fn set_interest(&self, _: Interest) {}
    fn metadata(&self) -> &Metadata<'_> {
        self.0.get().expect("set at creation")
    }
}

fn site(i: usize) -> &'static Site {
    let site: &'static Site = Box::leak(Box::new(Site(OnceLock::new())));
    let name: &'static str = Box::leak(format!("defined_{i}").into_boxed_str());
    let fields = FieldSet::new(&["n"], Identifier(site));
    let _ = site.0.set(Metadata::new(
        name,
        "bench_define",
        Level::INFO,
        Some(file!()),
        Some(line!()),
        Some(module_path!()),
        fields,
        Kind::EVENT,
    ));
    tracing_core::callsite::register(site);
    site
}

/// Uses a callsite once (`info!(n = 1)`), as its first use: the layer defines its event.
fn fire(site: &'static Site) {
    let meta = site.metadata();
    let field = meta.fields().field("n").expect("field n");
    let values = [(&field, Some(&1u64 as &dyn Value))];
    let values = meta.fields().value_set(&values);
    tracing_core::Event::dispatch(meta, &values);
}

fn report(row: &str, tenths: &[Duration]) {
    let total: Duration = tenths.iter().sum();
    let n = env_n();
    println!(
        "{row}: {n} definitions in {:.1} ms ({:.1} us each); per tenth (us each): {}",
        total.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e6 / n as f64,
        tenths
            .iter()
            .map(|t| format!("{:.1}", t.as_secs_f64() * 1e6 / (n / 10) as f64))
            .collect::<Vec<_>>()
            .join(" ")
    );
}

fn env_n() -> usize {
    std::env::var("COTRACE_BENCH_DEFINE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
        .max(10)
}

fn main() {
    let n = env_n();
    match std::env::args().nth(1).as_deref() {
        Some("layer") => {
            tracing_subscriber::registry()
                .with(cotrace::tracing::layer())
                .init();
            // Made and registered with `tracing` first: only the definitions are timed.
            let sites: Vec<&'static Site> = (0..n).map(site).collect();
            let mut tenths = Vec::new();
            for chunk in sites.chunks(n / 10) {
                let start = Instant::now();
                for &s in chunk {
                    fire(s);
                }
                tenths.push(start.elapsed());
            }
            let defined = cotrace::events()
                .filter(|e| e.desc().provider == "bench_define")
                .count();
            assert_eq!(defined, n, "every callsite defined");
            report("tracing layer, first use of each callsite", &tenths[..10]);
        }
        Some("builder") => {
            cotrace::init();
            let mut tenths = Vec::new();
            for chunk in (0..n).collect::<Vec<_>>().chunks(n / 10) {
                let start = Instant::now();
                for &i in chunk {
                    cotrace::dynamic::EventBuilder::new("bench_builder", format!("defined_{i}"))
                        .field("n", cotrace::FieldKind::U64)
                        .register()
                        .expect("defined");
                }
                tenths.push(start.elapsed());
            }
            report("EventBuilder::register", &tenths[..10]);
        }
        _ => {
            // Cargo's `--bench` flag and the like: run each row in its own process.
            let exe = std::env::current_exe().expect("own path");
            for row in ["builder", "layer"] {
                let status = std::process::Command::new(&exe)
                    .arg(row)
                    .status()
                    .expect("run a row");
                assert!(status.success(), "row {row} failed");
            }
        }
    }
}
