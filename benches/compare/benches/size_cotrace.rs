//! Row 7 of `scripts/bench.sh`: the small app of `size_plain.rs` instrumented with cotrace (one
//! event, `init()`, one `fire!` per request). With `COTRACE_SIZE_INIT=1` it prints the time
//! `cotrace::init()` took, in ns, as `init_ns N`.

use std::hint::black_box;
use std::time::Instant;

cotrace::provider! {
    /// The small app's events.
    pub mod app {
        /// A request finished.
        #[level(info)]
        fn done(id: u64, status: u32, path: &str);
    }
}

fn main() {
    let start = Instant::now();
    let status = cotrace::init();
    let init_ns = start.elapsed().as_nanos();
    if std::env::var("COTRACE_SIZE_INIT").as_deref() == Ok("1") {
        println!("init_ns {init_ns}");
        println!(
            "tracers kernel={} lttng={}",
            status.kernel.available, status.lttng.available
        );
        return;
    }
    let n = black_box(std::env::args().count() as u64);
    let mut total = 0u64;
    for id in 0..n * 1000 {
        total = total.wrapping_add(black_box(id) * 3);
        cotrace::fire!(app::done(id, 200, "/index"));
    }
    println!("{total}");
}
