cotrace::provider! {
    pub mod app {
        fn bad(when: std::time::Instant);
    }
}

fn main() {}
