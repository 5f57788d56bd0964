//! A small order service instrumented only with `tracing`, run with cotrace's layer (and a
//! `fmt` layer printing warnings to stderr): each callsite can be enabled from ftrace/perf
//! and from `lttng`, on its own. Used by `tests/tracing_layer.rs` in the VM.
//!
//! ```text
//! cargo run --example tracing_service --features tracing -- [--orders N] [--hold FILE]
//!     [--wait-kernel PROVIDER:EVENT]... [--wait-users PROVIDER:EVENT=N]...
//! ```
//!
//! - `--orders N`: orders to handle (default 3), after a first one, order 0, whose callsites'
//!   first use defines their events (printed: `defined`).
//! - `--wait-kernel EV`: before orders 1..=N, wait (up to 60 s) until ftrace/perf enable `EV`.
//! - `--wait-users EV=N`: ... until `EV` has N LTTng sessions attached.
//! - `--hold FILE`: at the end, wait (up to 120 s) until FILE exists, so a test can read
//!   ftrace's trace while the events still exist.
//!
//! Events (target `svc`): span `handle` (`svc:handle_begin`/`svc:handle_end`, field
//! `order_id`), `svc:order_placed` (`message`, `order_id`, `item`, `cents`) and `svc:payment`
//! (`order_id`, `ok`, `ms`).

use std::time::{Duration, Instant};

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

fn handle(order_id: u64) {
    let span = tracing::info_span!(target: "svc", "handle", order_id);
    let _entered = span.enter();
    tracing::info!(
        name: "order_placed",
        target: "svc",
        order_id,
        item = "tea",
        cents = 450u64,
        "order {order_id} placed"
    );
    tracing::info!(name: "payment", target: "svc", order_id, ok = order_id.is_multiple_of(2), ms = 1.5);
}

fn event(name: &str) -> &'static cotrace::Event {
    cotrace::events()
        .find(|e| e.desc().lttng_name() == name)
        .unwrap_or_else(|| panic!("no event {name}"))
}

fn wait(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn main() {
    let mut orders = 3;
    let mut hold = None;
    let mut kernel: Vec<String> = Vec::new();
    let mut users: Vec<(String, u32)> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().expect("a value after each option");
        match arg.as_str() {
            "--orders" => orders = value.parse().expect("--orders N"),
            "--hold" => hold = Some(std::path::PathBuf::from(value)),
            "--wait-kernel" => kernel.push(value),
            "--wait-users" => {
                let (ev, n) = value.split_once('=').expect("--wait-users EV=N");
                users.push((ev.to_owned(), n.parse().expect("--wait-users EV=N")));
            }
            _ => panic!("unknown option {arg}"),
        }
    }
    tracing_subscriber::registry()
        .with(cotrace::tracing::layer())
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(LevelFilter::WARN),
        )
        .init();
    handle(0);
    println!("defined");
    for ev in &kernel {
        let e = event(ev);
        wait(&format!("the kernel to enable {ev}"), || {
            e.snapshot().kernel_enabled()
        });
    }
    for (ev, n) in &users {
        let e = event(ev);
        wait(&format!("{n} LTTng sessions on {ev}"), || {
            e.snapshot().users() >= *n
        });
    }
    // The layer's poller tells `tracing` within 50 ms.
    std::thread::sleep(Duration::from_millis(300));
    for order in 1..=orders {
        handle(order);
    }
    println!("{}", cotrace::status());
    println!("done {orders}");
    if let Some(hold) = hold {
        wait("the hold file", || hold.exists());
    }
}
