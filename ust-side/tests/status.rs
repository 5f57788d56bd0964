//! Issue 22: `status()` tells which LTTng-UST installation the process loaded. liblttng-ust
//! carries no version string, so it names the file and the application ABI that file speaks to
//! session daemons (8 for 2.13/2.14, 11 from 2.15, whose daemons refuse older apps). The ABI is
//! checked here against the headers of the same installation (`$LTTNG_UST_PREFIX/include`, as
//! `scripts/test-lttng-version.sh` sets with the prefix's library first in `LD_LIBRARY_PATH`;
//! else the system's), an independent source.

use std::path::PathBuf;

use cotrace_ust::{Availability, status};

/// `LTTNG_UST_ABI_MAJOR_VERSION_OLDEST_COMPATIBLE` from the installation's `lttng/ust-abi.h`,
/// or `None` when no headers are installed.
fn headers_oldest_compatible_abi() -> Option<u32> {
    let dirs: Vec<PathBuf> = match std::env::var_os("LTTNG_UST_PREFIX").filter(|p| !p.is_empty()) {
        Some(prefix) => vec![PathBuf::from(prefix).join("include")],
        None => vec![
            PathBuf::from(format!("/usr/include/{}-linux-gnu", std::env::consts::ARCH)),
            PathBuf::from("/usr/include"),
        ],
    };
    let header = dirs
        .iter()
        .map(|d| d.join("lttng/ust-abi.h"))
        .find(|h| h.exists())?;
    let text = std::fs::read_to_string(&header).unwrap();
    let value = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("#define LTTNG_UST_ABI_MAJOR_VERSION_OLDEST_COMPATIBLE")
                .map(str::trim)
        })
        .unwrap_or_else(|| panic!("{} defines no oldest compatible ABI", header.display()));
    Some(value.parse().unwrap())
}

#[test]
fn status_names_the_app_abi_of_the_loaded_liblttng_ust() {
    let Some(expected) = headers_oldest_compatible_abi() else {
        eprintln!("SKIPPED status_names_the_app_abi: no LTTng-UST headers installed");
        return;
    };
    let st = status();
    match &st.availability {
        Availability::Available { app_abi, .. } => {
            assert_eq!(*app_abi, Some(expected), "{st}");
            assert!(
                st.to_string().contains(&format!("; app ABI {expected})")),
                "{st}"
            );
        }
        Availability::Unavailable { reason } => panic!("liblttng-ust not loaded: {reason}"),
    }
}
