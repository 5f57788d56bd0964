cotrace::provider! {
    pub mod app {
        fn ftrace_owned(common_pid: u32);
    }
}

fn main() {}
