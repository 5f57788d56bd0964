//! The C provider of `bench_tp.{h,c}` (a C `lttng_ust_tracepoint` and, for the facade bench,
//! the same event written to user_events by hand), shared by the benches that compare with it
//! (`#[path]`-included).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The C provider, a shared object in the temporary directory (the caller loads and removes it):
/// `src` (this directory) built with `$CC` (default `cc`), or a copy of
/// `COTRACE_BENCH_C_PROVIDER` (built beforehand for this binary's architecture: the arm64 guest
/// has no compiler, scripts/bench-arm64.sh cross-compiles it on the host; the VM benches get one
/// built on the host, as compiling under TCG takes long).
pub fn build_c_provider(src: &Path) -> PathBuf {
    let out = std::env::temp_dir().join(format!("cotrace-bench-c-{}.so", std::process::id()));
    if let Some(prebuilt) = std::env::var_os("COTRACE_BENCH_C_PROVIDER") {
        std::fs::copy(&prebuilt, &out).expect("copy COTRACE_BENCH_C_PROVIDER");
        return out;
    }
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-O2", "-fPIC", "-shared", "-I"])
        .arg(src)
        .arg(src.join("bench_tp.c"))
        .arg("-o")
        .arg(&out)
        .args(["-llttng-ust", "-ldl"])
        .status()
        .expect("run cc (build-essential) to build the C provider");
    assert!(status.success(), "building the C provider failed");
    out
}
