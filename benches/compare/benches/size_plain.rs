//! Row 7 of `scripts/bench.sh`: the small app without tracing (the size baseline). Its twins
//! `size_cotrace.rs` and `size_tracing.rs` do the same work and fire one event per request.

use std::hint::black_box;

fn main() {
    let n = black_box(std::env::args().count() as u64);
    let mut total = 0u64;
    for id in 0..n * 1000 {
        total = total.wrapping_add(black_box(id) * 3);
    }
    println!("{total}");
}
