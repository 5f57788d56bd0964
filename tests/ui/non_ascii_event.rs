cotrace::provider! {
    pub mod app {
        fn größe(n: u32);
    }
}

fn main() {}
