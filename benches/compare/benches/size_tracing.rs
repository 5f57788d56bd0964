//! Row 7 of `scripts/bench.sh`: the small app of `size_plain.rs` instrumented with `tracing`
//! and a `fmt` subscriber filtered by `RUST_LOG` (what a user would pick instead), one
//! `info!` per request.

use std::hint::black_box;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let n = black_box(std::env::args().count() as u64);
    let mut total = 0u64;
    for id in 0..n * 1000 {
        total = total.wrapping_add(black_box(id) * 3);
        tracing::info!(id, status = 200u32, path = "/index", "done");
    }
    println!("{total}");
}
